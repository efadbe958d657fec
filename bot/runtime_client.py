"""Async client of the AgentCore Runtime contract (DESIGN §2.1): one POST, an SSE stream back.

Transport failures never escape as exceptions: they become one ``error`` event
the renderer shows, so a question is never left unanswered.

The person's ID token is not sent as is: it is exchanged (RFC 8693, Cognito
``GetDerivedToken``) for a token bound to the Runtime's audience whose ``act``
names the bot, the only kind of token the agent accepts.
"""

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from bot.chat import ChatPlace, ChatUser
from centralops import alert_context, events, tracing
from centralops.alert_context import AlertContext
from centralops.errors import InvalidTokenError
from centralops.events import Event
from centralops.exchange import TokenExchangeError, TokenExchanger
from centralops.platforms import login_command

logger = logging.getLogger(__name__)

SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"

UNREACHABLE = "The CentralOps agent could not be reached. Try again in a minute; if it keeps failing, tell your CentralOps administrators."
TIMED_OUT = "The CentralOps agent took too long to answer. Try again, or ask about fewer accounts at once."
CUT_OFF = "The answer was cut off before it finished. Ask again to get the whole answer."


def session_id(platform: str, team: str, channel: str, thread: str) -> str:
    """The Runtime session id of a chat thread: stable, 75 characters (the Runtime wants 33..256).

    Every follow-up in the same thread maps to the same session, so the agent
    keeps the conversation's memory.
    """
    digest = hashlib.sha256(f"{platform}\x1f{team}\x1f{channel}\x1f{thread}".encode()).hexdigest()
    return f"centralops-{digest}"


class RuntimeClient:
    """Calls ``POST {runtime_url}`` and yields the typed events of the answer.

    Args:
        runtime_url: The full invocations URL.
        timeout_s: Longest silence tolerated between two events.
        connect_timeout_s: How long connecting may take.
        session: A shared ``aiohttp.ClientSession``; created lazily when omitted.
        exchanger: Exchanges the ID token for the Runtime's audience; ``None`` sends it as is.
    """

    def __init__(
        self,
        runtime_url: str,
        *,
        timeout_s: float = 300.0,
        connect_timeout_s: float = 5.0,
        session: aiohttp.ClientSession | None = None,
        exchanger: TokenExchanger | None = None,
    ) -> None:
        self.runtime_url = runtime_url
        self.exchanger = exchanger
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s, sock_read=timeout_s)
        self._session = session
        self._owns_session = session is None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        """Close the HTTP session this client created."""
        if self._owns_session and self._session is not None:
            await self._session.close()

    async def invoke(
        self,
        *,
        id_token: str,
        prompt: str,
        who: ChatUser,
        where: ChatPlace,
        resume: dict[str, str] | None = None,
        alert: AlertContext | None = None,
    ) -> AsyncIterator[Event]:
        """Ask the agent and yield its events; always ends with ``done`` or ``error``.

        Args:
            id_token: The user's Cognito ID token; the token for the Runtime is exchanged from it.
            prompt: The question or ``run ...`` command.
            who: The asking user.
            where: The channel and thread (the thread must be known).
            resume: ``{"approval_id", "decision"}`` to continue after an approval.
            alert: The alert whose thread the question is asked in (the payload's optional ``alert``).
        """
        thread = where.thread or where.channel
        sid = session_id(where.platform, where.team, where.channel, thread)
        token = id_token
        if self.exchanger is not None:
            try:
                issued = self.exchanger.cached(id_token, "ID_TOKEN")
                if issued is None:
                    issued = await asyncio.to_thread(self.exchanger.exchange, id_token, "ID_TOKEN")
                token = issued.token
            except InvalidTokenError:
                logger.info("runtime token refused by Cognito", extra={"session_id": sid})
                yield _refusal(401, where.platform)
                return
            except TokenExchangeError as e:
                yield events.error(e.code, e.message)
                return
        body: dict[str, Any] = {
            "prompt": prompt,
            "access_token": token,
            "context": {
                "platform": where.platform,
                "team": where.team,
                "channel": where.channel,
                "thread": thread,
                "user": who.user,
                "user_name": who.name,
            },
        }
        if resume:
            body["resume"] = resume
        if alert:
            body[alert_context.PAYLOAD_KEY] = alert
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "text/event-stream",
            SESSION_HEADER: sid,
            **tracing.headers(),  # W3C traceparent: the agent continues the bot's trace
        }
        log = {"session_id": sid, "platform": where.platform, "resume": bool(resume)}
        finished = False
        try:
            async with self._client().post(self.runtime_url, json=body, headers=headers) as response:
                if response.status != 200:
                    detail = (await response.text())[:200]
                    logger.warning(
                        "runtime refused", extra={**log, "status": response.status, "detail": detail}
                    )
                    yield _refusal(response.status, where.platform)
                    return
                async for raw in response.content:
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    try:
                        parsed = list(events.iter_sse([line]))
                    except events.ProtocolError:
                        logger.warning("runtime sent an unreadable line", extra={**log, "line": line[:120]})
                        continue
                    for event in parsed:
                        if event["type"] in ("done", "error"):
                            finished = True
                        yield event
        except TimeoutError:
            logger.warning("runtime timed out", extra=log)
            yield events.error("runtime_timeout", TIMED_OUT)
            return
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as e:
            logger.warning("runtime unreachable", extra={**log, "error": type(e).__name__})
            if finished:
                return
            yield events.error("runtime_unreachable", UNREACHABLE)
            return
        if not finished:
            yield events.error("runtime_cut_off", CUT_OFF)


def _refusal(status: int, platform: str = "slack") -> events.ErrorEvent:
    if status in (401, 403):
        return events.error(
            "runtime_unauthorized",
            f"The agent did not accept your sign-in. Run `{login_command(platform)}` to link your account again, then retry.",
        )
    if status == 429:
        return events.error("runtime_busy", "The agent is busy right now. Try again in a minute.")
    return events.error("runtime_failed", f"The agent failed (HTTP {status}). Try again in a minute.")
