"""Slack's AI app surface: Bolt's ``Assistant`` middleware, loading states, feedback and re-ask clicks.

- ``assistant_thread_started`` / ``assistant_thread_context_changed``: the thread's
  context (the channel the person is viewing) is kept in DynamoDB, so any replica
  reads it, and the suggested prompts name the accounts that channel usually asks
  about (else the accounts the person may query).
- A message in an assistant thread is answered like a DM, with a thread title
  (the question) and ``assistant.threads.setStatus`` while the agent works.
- Feedback buttons and App Home's "Ask again" are acknowledged at once and
  handled in the background, like every other listener.
"""

import logging
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from slack_bolt.context.assistant.thread_context import AssistantThreadContext
from slack_bolt.context.assistant.thread_context_store.async_store import AsyncAssistantThreadContextStore
from slack_bolt.middleware.assistant.async_assistant import AsyncAssistant
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.alerts.prompts import phrase
from bot.chat import ChatPlace, ChatUser, Checklist
from bot.dynamo import DynamoTable
from bot.slack.feedback import FEEDBACK, REASK, STOP, THANKS, parse_vote
from bot.slack.render import SlackRenderer
from bot.stops import REPLIES
from centralops.accounts import AccountItem
from centralops.errors import CentralOpsError

if TYPE_CHECKING:
    from bot.slack.app import SlackEdge

logger = logging.getLogger(__name__)

CONTEXT_TTL_S = 30 * 24 * 3600
MAX_PROMPTS = 4  # Slack shows up to four suggested prompts
TITLE_MAX = 80
WORKING = "is working on it…"


class DynamoThreadContextStore(AsyncAssistantThreadContextStore):
    """Bolt's thread context store, in the idempotency table (``assistant#{channel}#{thread}``).

    Bolt's default keeps the context in the metadata of the app's first reply and
    reads it back with ``conversations.replies``; a row in the table every replica
    already uses costs one read instead, and needs no first reply.
    """

    def __init__(self, table: DynamoTable) -> None:
        self.table = table

    async def save(self, *, channel_id: str, thread_ts: str, context: dict[str, str]) -> None:
        """Keep the thread's context (best effort: prompts are a convenience)."""
        try:
            await self.table.call(
                "put_item",
                Item={
                    "key": {"S": f"assistant#{channel_id}#{thread_ts}"},
                    "context": {"M": {str(k): {"S": str(v)} for k, v in context.items() if v}},
                    "ttl": {"N": str(int(time.time()) + CONTEXT_TTL_S)},
                },
            )
        except (BotoCoreError, ClientError) as e:
            logger.warning("assistant thread context not saved", extra={"error": type(e).__name__})

    async def find(self, *, channel_id: str, thread_ts: str) -> AssistantThreadContext | None:
        """The thread's context, if one was kept."""
        try:
            out = await self.table.call("get_item", Key={"key": {"S": f"assistant#{channel_id}#{thread_ts}"}})
        except (BotoCoreError, ClientError) as e:
            logger.warning("assistant thread context not read", extra={"error": type(e).__name__})
            return None
        item = (out.get("Item") or {}).get("context", {}).get("M")
        return AssistantThreadContext({k: v["S"] for k, v in item.items()}) if item else None


class AssistantRenderer(SlackRenderer):
    """A Slack answer in an assistant thread: the latest status also shows as the thread's loading state."""

    _status_shown = ""

    async def progress(self, checklist: Checklist) -> None:
        """Show the checklist as usual and, when it changed, the status as the loading state."""
        await super().progress(checklist)
        status = checklist.status or WORKING
        if status != self._status_shown:
            self._status_shown = status
            await set_status(self.client, self.channel, str(self.thread_ts), status)


async def set_status(client: AsyncWebClient, channel: str, thread_ts: str, status: str) -> None:
    """``assistant.threads.setStatus``; a status is never worth failing an answer over."""
    try:
        await client.assistant_threads_setStatus(
            channel_id=channel, thread_ts=thread_ts, status=status[:200] if status else ""
        )
    except SlackApiError as e:
        logger.info("assistant status not set", extra={"error": e.response.get("error")})


def suggested_prompts(
    accounts: list[str], *, linked: bool, first: list[dict[str, str]] | None = None
) -> list[dict[str, str]]:
    """Up to four prompts: ``first`` (the channel's subscriptions), then about ``accounts``."""
    if not linked:
        return [
            {"title": "Link my account", "message": "login"},
            {"title": "What can you do?", "message": "help"},
        ]
    prompts: list[dict[str, str]] = list(first or [])[:MAX_PROMPTS]
    for name in accounts[:2]:
        prompts.append({"title": f"Buckets in {name}"[:75], "message": f"list buckets in {name}"})
        prompts.append(
            {"title": f"Lambda functions in {name}"[:75], "message": f"how many lambda functions in {name}?"}
        )
    prompts.append({"title": "Accounts I may query", "message": "accounts"})
    if len(prompts) < MAX_PROMPTS:
        prompts.append({"title": "What can you do?", "message": "help"})
    return prompts[:MAX_PROMPTS]


class SlackAssistant:
    """Registers the AI app listeners on the edge's Bolt app.

    Args:
        edge: The Slack edge (its core, its background-task helper, its renderers).
        table: The idempotency table (thread contexts).
    """

    def __init__(self, edge: "SlackEdge", table: DynamoTable) -> None:
        self.edge = edge
        self.contexts = DynamoThreadContextStore(table)
        self.assistant = AsyncAssistant(thread_context_store=self.contexts)
        self.assistant.thread_started(self._background(self.thread_started))
        self.assistant.thread_context_changed(self._background(self.context_changed))
        self.assistant.user_message(self._background(self.user_message))

    def register(self) -> None:
        """Add the middleware and the click listeners."""
        app = self.edge.app
        app.use(self.assistant)
        app.action(FEEDBACK)(self.edge._acked(self.on_feedback))
        app.action(REASK)(self.edge._acked(self.on_reask))
        app.action(STOP)(self.edge._acked(self.on_stop))

    def _background(self, work: Any) -> Any:
        """An Assistant listener (Bolt acks it) that hands ``work`` to a background task."""

        async def listener(body: dict[str, Any], client: AsyncWebClient, set_suggested_prompts: Any) -> None:
            self.edge._spawn(work(body, client, set_suggested_prompts))

        return listener

    async def _prompts(self, team: str, user: str, viewing: str) -> tuple[list[dict[str, str]], str]:
        core = self.edge.conversation
        who = ChatUser("slack", team, user)
        try:
            link = await core.identity.whoami("slack", team, user)
        except CentralOpsError:
            link = None
        if link is None:
            return suggested_prompts([], linked=False), "Link your account to start"
        usual: list[str] = []
        if viewing and core.feedback is not None:
            usual = await core.feedback.usual_accounts(ChatPlace("slack", team, viewing))
        try:
            token = await core.identity.id_token(who.platform, team, user)
            groups = core.identity.claims(token).get("cognito:groups") or []
            accounts = await core.accounts.visible_to({str(g) for g in groups})
        except CentralOpsError:
            accounts = []
        alerts = await self._channel_prompts(ChatPlace("slack", team, viewing), accounts) if viewing else []
        # Only accounts the person may query are suggested, the channel's usual ones first; a name that
        # is not a plain word is never put into a prompt (the account id is).
        visible = {a.name: phrase(a) for a in accounts}
        names = [visible[n] for n in usual if n in visible] + [visible[n] for n in visible if n not in usual]
        if alerts:
            title = "For this channel's alerts"
        elif any(n in visible for n in usual):
            title = "Asked about in this channel"
        else:
            title = "Try asking"
        return suggested_prompts(names, linked=True, first=alerts), title

    async def _channel_prompts(self, place: ChatPlace, accounts: list[AccountItem]) -> list[dict[str, str]]:
        """Prompts about what the viewed channel subscribes to (none without alerts, or on a read failure)."""
        hook = self.edge.channel_prompts
        if hook is None or not accounts:
            return []
        try:
            return await hook(place, accounts)
        except CentralOpsError as e:
            logger.warning("channel subscriptions not read for prompts", extra={"error": e.code})
            return []

    async def _offer(self, body: dict[str, Any], set_suggested_prompts: Any) -> None:
        event = body.get("event") or {}
        thread = event.get("assistant_thread") or {}
        context = thread.get("context") or {}
        prompts, title = await self._prompts(
            str(body.get("team_id") or context.get("team_id") or ""),
            str(thread.get("user_id", "")),
            str(context.get("channel_id") or ""),
        )
        try:
            await set_suggested_prompts(prompts=prompts, title=title)
        except SlackApiError as e:
            logger.info("suggested prompts not set", extra={"error": e.response.get("error")})

    async def thread_started(
        self, body: dict[str, Any], client: AsyncWebClient, set_suggested_prompts: Any
    ) -> None:
        """A new assistant thread: keep its context, suggest prompts for the channel being viewed."""
        thread = (body.get("event") or {}).get("assistant_thread") or {}
        await self.contexts.save(
            channel_id=str(thread.get("channel_id", "")),
            thread_ts=str(thread.get("thread_ts", "")),
            context=dict(thread.get("context") or {}),
        )
        await self._offer(body, set_suggested_prompts)

    async def context_changed(
        self, body: dict[str, Any], client: AsyncWebClient, set_suggested_prompts: Any
    ) -> None:
        """The person switched channels with the thread open: keep the new context, suggest again."""
        await self.thread_started(body, client, set_suggested_prompts)

    async def user_message(
        self, body: dict[str, Any], client: AsyncWebClient, set_suggested_prompts: Any
    ) -> None:
        """A question in an assistant thread: titled, with a loading state, answered in the thread."""
        event = body.get("event") or {}
        channel, thread_ts = str(event.get("channel", "")), str(event.get("thread_ts", ""))
        text = " ".join(str(event.get("text", "")).split())
        if channel and thread_ts and text:
            try:
                await client.assistant_threads_setTitle(
                    channel_id=channel, thread_ts=thread_ts, title=text[:TITLE_MAX]
                )
            except SlackApiError as e:
                logger.info("assistant thread title not set", extra={"error": e.response.get("error")})
            await set_status(client, channel, thread_ts, WORKING)
        await self.edge._event(body, event, client, "dm", assistant=True)

    async def on_feedback(self, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        """A thumbs up or down: recorded against the answer id, as whoever clicked."""
        user = body.get("user") or {}
        team = str((body.get("team") or {}).get("id", ""))
        who = ChatUser("slack", team, str(user.get("id", "")))
        vote = parse_vote(str(action.get("value", "")))
        store = self.edge.conversation.feedback
        if vote is None or store is None:
            logger.warning("feedback click ignored: not an answer's button")
            return
        try:
            outcome = await store.vote(vote[1], who, positive=vote[0])
        except CentralOpsError as e:
            await self._tell(client, body, e.message)
            return
        if outcome in ("unchanged", "unknown"):
            await self._tell(client, body, THANKS[outcome])

    async def _tell(self, client: AsyncWebClient, body: dict[str, Any], text: str) -> None:
        channel = str(
            (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")
        )
        message = body.get("message") or {}
        try:
            await client.chat_postEphemeral(
                channel=channel,
                user=str((body.get("user") or {}).get("id", "")),
                thread_ts=message.get("thread_ts") or message.get("ts"),
                text=text,
            )
        except SlackApiError as e:
            logger.warning("feedback reply failed", extra={"error": e.response.get("error")})

    async def on_stop(self, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        """Stop: the turn ends on whichever replica streams it, if the clicker is the person who asked."""
        stops = self.edge.conversation.stops
        user = body.get("user") or {}
        who = ChatUser("slack", str((body.get("team") or {}).get("id", "")), str(user.get("id", "")))
        turn_id = str(action.get("value", ""))
        if stops is None or not turn_id.isalnum():
            return
        try:
            outcome = await stops.request(turn_id, who)
        except CentralOpsError as e:
            await self._tell(client, body, e.message)
            return
        await self._tell(client, body, REPLIES[outcome])

    async def on_reask(self, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        """App Home's "Ask again": the question is asked anew, as the clicker, in their DM with the app."""
        user = body.get("user") or {}
        uid, team = str(user.get("id", "")), str((body.get("team") or {}).get("id", ""))
        question = str(action.get("value", "")).strip()
        if not uid or not question:
            return
        try:
            opened = await client.conversations_open(users=uid)
        except SlackApiError as e:
            logger.warning("direct message not opened", extra={"error": e.response.get("error")})
            return
        channel = str((opened.get("channel") or {}).get("id", ""))
        who = ChatUser("slack", team, uid, await self.edge._name(client, uid))
        await self.edge.ask(client, who, ChatPlace("slack", team, channel), question)
