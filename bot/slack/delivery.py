"""Chat writes that keep trying: a Web API client whose writes wait out rate limits and outages.

:class:`PatientClient` wraps slack-sdk's ``AsyncWebClient``. A write that Slack
refused without applying it (HTTP 429 ``ratelimited``, or an explicit server
error) is sent again after ``Retry-After`` (or a short backoff) until a
deadline; every other error passes through at once. A write whose fate is
unknown (the connection broke) is repeated only where repeating cannot show
anything twice (``chat.update``, ``chat.delete``).

Its ``chat_stream`` (slack-sdk's ``AsyncChatStream``) sends through the patient
client too. That stream keeps unsent text in its buffer until a call succeeds, so a
piece refused by ``chat.appendStream`` goes out once, with the next call, and is
never sent twice by the renderer.
"""

import asyncio
import logging
import time
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat import cut_at_boundary
from bot.outbox import Parcel
from bot.slack import blocks as b
from bot.slack import markup

logger = logging.getLogger(__name__)

DEADLINE_S = 120.0  # how long one write keeps trying before the outbox takes over
WRITES = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "chat.delete",
        "chat.postEphemeral",
        "chat.startStream",
        "chat.appendStream",
        "chat.stopStream",
        "files.completeUploadExternal",
    }
)
REPEATABLE = frozenset({"chat.update", "chat.delete"})  # sending twice shows nothing twice
UNDELIVERED = (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError)
"""What a chat write raises when it did not get through (the outbox then keeps the answer)."""
REFUSED = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def retry_after(error: SlackApiError, fallback: float) -> float:
    """Seconds Slack asked to wait (``Retry-After``), else ``fallback``."""
    headers = getattr(error.response, "headers", None) or {}
    raw = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(float(raw), 0.0) if raw is not None else fallback
    except (TypeError, ValueError):
        return fallback


def refused(error: SlackApiError) -> bool:
    """Whether Slack said it did not apply the call (and a retry may succeed)."""
    status = getattr(error.response, "status_code", 200)
    return status == 429 or status >= 500 or error.response.get("error") in REFUSED


class PatientClient(AsyncWebClient):
    """An ``AsyncWebClient`` whose writes retry until ``deadline_s``; reads behave as the client's.

    Build one around the client a listener received with :meth:`around`.

    Args:
        deadline_s: How long one write keeps trying.
        backoff_s: First wait after a refusal without ``Retry-After`` (doubles, at most 10 s).
        **kwargs: ``AsyncWebClient`` arguments.
    """

    def __init__(self, *, deadline_s: float = DEADLINE_S, backoff_s: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deadline_s = deadline_s
        self.backoff_s = backoff_s

    @classmethod
    def around(cls, client: AsyncWebClient, *, deadline_s: float = DEADLINE_S) -> "PatientClient":
        """The same client (token, URL, session, retry handlers), made patient."""
        if isinstance(client, PatientClient):
            return client
        return cls(
            deadline_s=deadline_s,
            token=client.token,
            base_url=client.base_url,
            timeout=client.timeout,
            ssl=client.ssl,
            proxy=client.proxy,
            session=client.session,
            trust_env_in_session=client.trust_env_in_session,
            headers=client.headers,
            team_id=getattr(client, "team_id", None),
            logger=client.logger,
            retry_handlers=list(client.retry_handlers or []),
        )

    async def api_call(self, api_method: str, **kwargs: Any) -> Any:
        """One Web API call; writes try again after each refusal, until the deadline.

        Raises:
            SlackApiError: Slack refused for good, or still refused at the deadline.
            aiohttp.ClientError | TimeoutError: The connection failed where a repeat could show twice.
        """
        if api_method not in WRITES:
            return await super().api_call(api_method, **kwargs)
        give_up = time.monotonic() + self.deadline_s
        wait = self.backoff_s
        attempt = 0
        while True:
            attempt += 1
            try:
                return await super().api_call(api_method, **kwargs)
            except SlackApiError as e:
                if not refused(e):
                    raise
                pause = retry_after(e, wait)
                reason = str(e.response.get("error") or getattr(e.response, "status_code", ""))
                failure: Exception = e
            except (aiohttp.ClientError, TimeoutError) as e:
                if api_method not in REPEATABLE:
                    raise
                pause, reason, failure = wait, type(e).__name__, e
            if time.monotonic() + pause > give_up:
                logger.warning(
                    "slack write gave up", extra={"method": api_method, "attempts": attempt, "reason": reason}
                )
                raise failure
            logger.info(
                "slack write refused; trying again",
                extra={"method": api_method, "attempt": attempt, "reason": reason, "wait_s": pause},
            )
            await asyncio.sleep(pause)
            wait = min(wait * 2, 10.0)


INTERRUPTED = (
    "_CentralOps stopped before this answer was complete; this is what had arrived. "
    "The calls listed above were started and may have run: ask about their results rather than "
    "running them again._"
)
LATE = "_Slack was not taking messages when this answer finished, so it arrives now._"


async def deliver_parcel(
    client: AsyncWebClient, parcel: Parcel, *, inline_cap: int, replace_ts: str | None = None
) -> None:
    """Show an answer the outbox kept: the checklist closed, then the answer in one message.

    Past ``inline_cap`` characters the message shows the head and the whole answer follows as a file.
    With ``replace_ts`` (the message the answer was growing in) that message is replaced by the whole
    answer, so nothing shows twice; where Slack will not update it, the answer is posted below.

    Raises:
        SlackApiError: Slack still refuses (the outbox keeps the parcel and tries again later).
    """
    checklist = parcel.closed_checklist()
    text = b.checklist_text(checklist) if checklist.items else ""
    question = str(parcel.extra.get("question") or "")
    if parcel.checklist_ref and parcel.checklist_ref == parcel.thread and question:
        await client.chat_update(
            channel=parcel.channel,
            ts=parcel.checklist_ref,
            text=b.parent_text(parcel.user, question),
            blocks=b.parent_blocks(parcel.user, question, text or None),
        )
    elif parcel.checklist_ref and text:
        await client.chat_update(
            channel=parcel.channel, ts=parcel.checklist_ref, text=markup.plain(text), blocks=[b.context(text)]
        )
    note = LATE if parcel.state == "closing" else INTERRUPTED
    body = parcel.body.strip()
    shown = cut_at_boundary(body, inline_cap)
    if len(shown) < len(body):
        await client.files_upload_v2(
            channel=parcel.channel,
            thread_ts=parcel.thread,
            content=body,
            filename="answer.md",
            title="CentralOps answer",
            snippet_type="markdown",
        )
        note = "_The full answer is in the attached file._\n\n" + note
    message = f"{shown}\n\n{note}" if shown else note
    args: dict[str, Any] = {
        "channel": parcel.channel,
        "text": markup.notification(shown or note),
        "blocks": [b.markdown(message)],
        "metadata": {"event_type": b.ANSWER_EVENT, "event_payload": {"status": "late", "file": False}},
    }
    if replace_ts:
        try:
            await client.chat_update(ts=replace_ts, **args)
            return
        except SlackApiError as e:
            if refused(e):
                raise
            logger.info(
                "answer message not updatable; posting below", extra={"error": e.response.get("error")}
            )
    await client.chat_postMessage(thread_ts=parcel.thread, **args)
