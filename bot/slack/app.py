"""The Bolt ``AsyncApp``: Slack payloads in, core calls out, work after the ack.

Every listener acknowledges first (Slack allows 3 s) and then works; Bolt's
request verification rejects a bad or stale signature before any listener runs.
"""

import asyncio
import contextlib
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.admission import BUSY_FULL, BUSY_QUEUED, Admission
from bot.approvals import Decision
from bot.chat import ChatPlace, ChatRequest, ChatUser, Source
from bot.commands import opens_answer
from bot.config import BotConfig
from bot.conversation import Conversation, HomeView
from bot.idempotency import Claim, DuplicateDelivery, IdempotencyGuard
from bot.metrics import CountingRateLimitHandler
from bot.outbox import OutboxStore, Parcel
from bot.slack import blocks as b
from bot.slack import reply
from bot.slack.assistant import AssistantRenderer, SlackAssistant
from bot.slack.delivery import PatientClient, deliver_parcel
from bot.slack.markup import mrkdwn
from bot.slack.render import INLINE_CAP, PACE_S, SlackRenderer, StreamingSupport
from centralops.accounts import AccountItem
from centralops.alert_context import AlertContext
from centralops.errors import CentralOpsError

logger = logging.getLogger(__name__)

PLATFORM = "slack"
PREFIX = "/aws"
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")


def web_client(config: BotConfig) -> AsyncWebClient:
    """The Web API client: the configured base URL (the local stand-in), 429s retried after Retry-After."""
    base = (config.slack_api_url or "https://slack.com/api").rstrip("/") + "/"
    # slack-sdk formats every request and response into a debug line unless its logger's own level
    # (``logger.level``, not the effective one) rules debug out; a level taken from the configured
    # logging spares each call that formatting when nothing would print it.
    calls = logging.getLogger("bot.slack.web_api")
    calls.setLevel(calls.getEffectiveLevel())
    return AsyncWebClient(
        token=config.slack_bot_token,
        base_url=base,
        logger=calls,
        retry_handlers=[CountingRateLimitHandler(max_retry_count=3)],
    )


class Slot:
    """One place in a semaphore, given back early with :meth:`release` or at the end of the block."""

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self.semaphore = semaphore
        self.held = False

    async def __aenter__(self) -> "Slot":
        await self.semaphore.acquire()
        self.held = True
        return self

    async def __aexit__(self, *_: object) -> None:
        self.release()

    def release(self) -> None:
        """Give the place back (once)."""
        if self.held:
            self.held = False
            self.semaphore.release()


class SlackEdge:
    """Wires Bolt listeners to the conversation core.

    Args:
        config: Bot settings (tokens, signing secret, streaming switch).
        conversation: The platform-free core.
        idempotency: Claims each delivery once across replicas.
        client: Web API client; built from ``config`` when omitted.
        pace_s: Minimum seconds between two paced Web API calls of one answer.
        max_starting: Answers this replica starts at once (claim, identity, first post: the CPU-heavy
            part); more wait their turn after their ack. Streaming answers do not hold a slot.
        outbox: Keeps each answer until it is delivered; ``None`` keeps none.
        admission: The replica's bounded queue of answers; one of ``config``'s size when omitted.
    """

    def __init__(
        self,
        config: BotConfig,
        conversation: Conversation,
        idempotency: IdempotencyGuard,
        *,
        client: AsyncWebClient | None = None,
        pace_s: float = PACE_S,
        max_starting: int = 4,
        outbox: OutboxStore | None = None,
        admission: Admission | None = None,
    ) -> None:
        self.config = config
        self.starting = asyncio.Semaphore(max_starting)
        self.conversation = conversation
        self.idempotency = idempotency
        self.streaming = StreamingSupport(config.slack_streaming)
        self.pace_s = pace_s
        self.outbox = outbox
        self.admission = admission or Admission(running=config.max_answers, queued=config.max_queued)
        self.app = AsyncApp(
            signing_secret=config.slack_signing_secret,
            client=client or web_client(config),
            name="centralops",
            ignoring_self_events_enabled=True,
            # Every listener acks and hands its work to a background task (see _acked), so the HTTP
            # answer leaves as soon as ack() returns rather than after Bolt's 10 ms ack polling.
            process_before_response=True,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self.home_sections: list[Callable[[str, HomeView], Awaitable[list[dict[str, Any]]]]] = []
        # Other features' hooks (alerts): a person's message in a channel, and a thread's alert.
        self.channel_message: Callable[..., Awaitable[None]] | None = None
        self.thread_alert: Callable[[ChatPlace], Awaitable[AlertContext | None]] | None = None
        # Suggested prompts that fit a channel (alerts: its subscriptions), given the accounts one may query.
        self.channel_prompts: (
            Callable[[ChatPlace, list[AccountItem]], Awaitable[list[dict[str, str]]]] | None
        ) = None
        self._register()

    def renderer(
        self,
        client: AsyncWebClient,
        place: ChatPlace,
        who: ChatUser,
        card_ts: str | None = None,
        on_open: Callable[[], None] | None = None,
        response_url: str | None = None,
        assistant: bool = False,
        claim: Claim | None = None,
    ) -> SlackRenderer:
        """A renderer for one answer in one place; ``on_open`` runs once the answer has started."""
        return (AssistantRenderer if assistant else SlackRenderer)(
            PatientClient.around(client, deadline_s=self.config.chat_retry_s),
            channel=place.channel,
            team=place.team,
            user=who.user,
            thread_ts=place.thread,
            streaming=self.streaming,
            pace_s=self.pace_s,
            card_ts=card_ts,
            on_open=on_open,
            response_url=response_url,
            outbox=self.outbox,
            claim=claim,
        )

    async def deliver_parcel(self, parcel: Parcel) -> None:
        """Show an answer another renderer left unfinished (the outbox sweeper calls this)."""
        client = PatientClient.around(self.app.client, deadline_s=self.config.chat_retry_s)
        await deliver_parcel(client, parcel, inline_cap=INLINE_CAP)

    async def resume_run(self, parcel: Parcel) -> None:
        """Resume an approved run another replica left (the outbox sweeper calls this)."""
        client = PatientClient.around(self.app.client, deadline_s=self.config.chat_retry_s)
        await self.conversation.resume_run(parcel, lambda p, w: self.renderer(client, p, w), prefix=PREFIX)

    async def _claim(self, key: str, text: str) -> Claim | None:
        """The delivery's claim; ``None`` when another delivery (or replica) already has it.

        A question is claimed by its answer's first write (its outbox item: no request of its own);
        anything else (``logout``, ``subscribe``...) is claimed here, before it changes anything.
        """
        claim = Claim(key, self.idempotency)
        if opens_answer(text):
            return claim
        try:
            await claim.plain()
        except DuplicateDelivery:
            return None
        return claim

    async def _name(self, client: AsyncWebClient, user: str) -> str:
        try:
            info = await client.users_info(user=user)
        except SlackApiError:  # a display name is never worth failing an answer
            return user
        profile = info.get("user") or {}
        return str(profile.get("name") or profile.get("real_name") or user)

    async def email_of(self, team: str, user: str) -> str | None:
        """The Slack profile email (scope ``users:read.email``), for the linking check."""
        try:
            info = await self.app.client.users_info(user=user)
        except SlackApiError as e:
            logger.warning("users.info failed", extra={"user": user, "error": e.response.get("error")})
            return None
        email = ((info.get("user") or {}).get("profile") or {}).get("email")
        return str(email) if email else None

    async def tell_linked(self, user: str, username: str) -> None:
        """Confirm a new link in a direct message."""
        try:
            await self.app.client.chat_postMessage(
                channel=user,
                text=f"You are linked to *{mrkdwn(username)}*. Try `{PREFIX} list buckets in staging`.",
            )
        except SlackApiError as e:
            logger.warning("link confirmation failed", extra={"user": user, "error": e.response.get("error")})

    def _register(self) -> None:
        app = self.app
        app.command(PREFIX)(self._acked(self.on_command))
        app.event("app_mention")(self._acked(self.on_mention))
        app.event("message")(self._acked(self.on_message))
        app.event("app_home_opened")(self._acked(self.on_home))
        app.action(b.APPROVE)(self._acked(self.on_approve))
        app.action(b.DENY)(self._acked(self.on_deny))
        app.action(re.compile(f"^{b.FOLLOWUP_PREFIX}\\d+$"))(self._acked(self.on_followup))
        app.action(b.LOGIN)(self.on_login_click)
        SlackAssistant(self, self.idempotency.table).register()

    def _acked(self, work: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., Awaitable[None]]:
        """A Bolt listener that acks, then runs ``work`` (which takes only what it names) in the background."""
        wanted = [name for name in inspect.signature(work).parameters if name != "ack"]

        async def listener(ack: AsyncAck, **kwargs: Any) -> None:
            await ack()
            self._spawn(work(**{k: kwargs[k] for k in wanted}))

        # Bolt passes listener arguments by name: declare the ones `work` needs.
        listener.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter("ack", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
            + [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in wanted]
        )
        return listener

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background, keeping a reference until it finishes."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def ask(self, client: AsyncWebClient, who: ChatUser, place: ChatPlace, text: str) -> None:
        """Ask ``text`` as ``who`` in a new thread of ``place`` (App Home's "Ask again")."""
        async with Slot(self.starting) as slot:
            await self._handle(client, who, place, text, "command", slot)

    async def on_command(self, command: dict[str, Any], client: AsyncWebClient) -> None:
        """``/aws ...`` (acknowledged already): answer in a new thread (or privately)."""
        team, user = str(command.get("team_id", "")), str(command.get("user_id", ""))
        if not (team and user and command.get("channel_id")):  # Slack always sends them
            logger.warning("slash command without its fields ignored", extra={"fields": sorted(command)[:20]})
            return
        async with Slot(self.starting) as slot:
            text = command.get("text", "")
            claim = await self._claim(f"slack:{team}:command:{command.get('trigger_id', '')}", text)
            if claim is None:
                return
            who = ChatUser(PLATFORM, team, user, command.get("user_name", ""))
            place = ChatPlace(PLATFORM, team, command["channel_id"])
            await self._handle(
                client, who, place, text, "command", slot, command.get("response_url"), claim=claim
            )

    async def on_mention(self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient) -> None:
        """``@CentralOps ...`` in a channel or thread: answer in the mention's thread."""
        await self._event(body, event, client, "mention")

    async def on_message(
        self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        """A direct message; a channel message goes to :attr:`channel_message` (alerts: thread replies)."""
        if event.get("channel_type") != "im":
            if self.channel_message is not None:
                await self.channel_message(body, event, client, context)
            return
        if event.get("subtype") or event.get("bot_id"):
            return
        await self._event(body, event, client, "dm")

    async def _event(
        self,
        body: dict[str, Any],
        event: dict[str, Any],
        client: AsyncWebClient,
        source: Source,
        *,
        assistant: bool = False,
        alert: AlertContext | None = None,
    ) -> None:
        team = str(body.get("team_id") or event.get("team", ""))
        async with Slot(self.starting) as slot:
            text = _MENTION.sub(" ", str(event.get("text", "")))
            claim = await self._claim(f"slack:{team}:event:{body.get('event_id', event.get('ts'))}", text)
            if claim is None:
                return
            channel, ts = event.get("channel"), event.get("thread_ts") or event.get("ts")
            if not channel or not ts:  # nothing to answer into; Slack always sends both
                logger.warning("event without channel or ts ignored", extra={"event_type": event.get("type")})
                return
            user = str(event.get("user", ""))
            who = ChatUser(PLATFORM, team, user, await self._name(client, user))
            place = ChatPlace(PLATFORM, team, str(channel), str(ts))
            if alert is None and source == "mention" and self.thread_alert and ts != event.get("ts"):
                alert = await self.thread_alert(place)  # a mention in an alert's thread asks about it
            await self._handle(
                client, who, place, text, source, slot, assistant=assistant, alert=alert, claim=claim
            )

    async def _handle(
        self,
        client: AsyncWebClient,
        who: ChatUser,
        place: ChatPlace,
        text: str,
        source: Source,
        slot: "Slot",
        response_url: str | None = None,
        *,
        assistant: bool = False,
        alert: AlertContext | None = None,
        claim: Claim | None = None,
    ) -> None:
        renderer = self.renderer(
            client,
            place,
            who,
            on_open=slot.release,
            response_url=response_url,
            assistant=assistant,
            claim=claim if claim is not None and not claim.done else None,
        )

        async def queued(position: int) -> None:
            slot.release()  # waiting in line must not hold up the starts of others
            try:
                await renderer.notice(BUSY_QUEUED.format(n=position))
            except SlackApiError as e:  # the place in line is kept; the answer still comes
                logger.warning("queue notice failed", extra={"error": e.response.get("error")})

        try:
            if not await self.admission.enter(queued):
                await renderer.notice(BUSY_FULL)
                return
        except DuplicateDelivery:
            return  # claimed by its first notice: another delivery shows this one
        try:
            await self.conversation.handle(
                ChatRequest(who, place, text.strip(), source, alert), renderer, prefix=PREFIX
            )
        except DuplicateDelivery:
            pass  # another delivery of this message answers it; nothing was shown here
        except Exception:
            logger.exception("answer failed", extra={"user": who.user, "channel": place.channel})
            with contextlib.suppress(DuplicateDelivery):
                await renderer.error(
                    "Something went wrong on our side while answering. Try again in a minute."
                )
                await renderer.finish()
        finally:
            self.admission.leave()

    async def on_home(self, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        """The App Home tab: linked identity, accounts, recent queries."""
        if event.get("tab", "home") != "home":
            return
        team = str(body.get("team_id", ""))
        who = ChatUser(PLATFORM, team, str(event["user"]))
        async with Slot(self.starting):
            view = await self.conversation.home(who)
        login_url = None
        if view.link is None:
            try:
                login_url = await self.conversation.identity.login_url(PLATFORM, team, who.user)
            except CentralOpsError:
                login_url = None
        home = b.home_view(view, login_url)
        for extra in self.home_sections:  # other features' sections (alerts: the workspace's subscriptions)
            home["blocks"] = [*home["blocks"], *await extra(team, view)][:100]
        await client.views_publish(user_id=who.user, view=home)

    async def on_approve(self, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        """Approve: decided only after the table and the policy agree."""
        async with Slot(self.starting) as slot:
            await self._decide(body, action, client, "approved", slot)

    async def on_deny(self, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        """Deny: same checks as approve."""
        async with Slot(self.starting) as slot:
            await self._decide(body, action, client, "denied", slot)

    async def _decide(
        self,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        decision: Decision,
        slot: "Slot",
    ) -> None:
        team = str((body.get("team") or {}).get("id", ""))
        user = body.get("user") or {}
        channel = str(
            (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")
        )
        message = body.get("message") or {}
        card_ts = str(message.get("ts") or (body.get("container") or {}).get("message_ts", ""))
        thread = str(message.get("thread_ts") or card_ts)
        if reply.posted_through_response_url(message):
            thread = reply.reply_thread(channel)  # where the approval was asked
        decider = ChatUser(
            PLATFORM, team, str(user.get("id", "")), str(user.get("username") or user.get("name") or "")
        )
        place = ChatPlace(PLATFORM, team, channel, thread)
        renderer = self.renderer(
            client,
            place,
            decider,
            card_ts=card_ts,
            on_open=slot.release,
            response_url=body.get("response_url"),
        )
        await self.conversation.decide(
            approval_id=str(action.get("value", "")),
            decision=decision,
            decider=decider,
            where=place,
            renderer=renderer,
            renderer_for=lambda p, w: self.renderer(client, p, w, response_url=body.get("response_url")),
            prefix=PREFIX,
        )

    async def on_followup(self, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        """A suggested query: run as whoever clicked, in the same thread (same session)."""
        team = str((body.get("team") or {}).get("id", ""))
        user = body.get("user") or {}
        channel = str((body.get("channel") or {}).get("id", ""))
        message = body.get("message") or {}
        thread = str(message.get("thread_ts") or message.get("ts") or "")
        through = reply.posted_through_response_url(message)
        if through:
            thread = reply.reply_thread(
                channel
            )  # the answer's conversation; answered through the click's URL
        if not channel or not thread:
            return
        who = ChatUser(
            PLATFORM, team, str(user.get("id", "")), str(user.get("username") or user.get("name") or "")
        )
        async with Slot(self.starting) as slot:
            await self._handle(
                client,
                who,
                ChatPlace(PLATFORM, team, channel, thread),
                str(action.get("value", "")),
                "followup",
                slot,
                body.get("response_url") if through else None,
            )

    async def on_login_click(self, ack: AsyncAck) -> None:
        """The sign-in button opens a URL; Slack still sends the click, which needs an ack."""
        await ack()
