"""The Teams edge: ``/api/messages`` on the bot's aiohttp server, built on the Microsoft 365 Agents SDK.

Incoming activities are authenticated by the SDK (``jwt_authorization_decorator``
validates the Bot Framework / Entra token against the app id); the
``AgentApplication`` routes messages and ``Action.Execute`` card clicks; the
``CloudAdapter`` sends replies through the Bot Connector at the activity's
``serviceUrl``. Every answer runs in the background through a proactive turn,
so the HTTP turn returns within Teams' limit however long the agent takes.
"""

import asyncio
import dataclasses
import logging
import warnings
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web
from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    ConversationReference,
)
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.aiohttp import CloudAdapter, jwt_authorization_decorator
from microsoft_agents.hosting.core import (
    AgentApplication,
    AgentAuthConfiguration,
    ApplicationOptions,
    ClaimsIdentity,
    MemoryStorage,
    TurnContext,
    TurnState,
)
from pydantic import ValidationError

from bot.admission import ADMISSION_KEY, BUSY_FULL, BUSY_QUEUED, Admission
from bot.chat import AnswerRenderer, ChatPlace, ChatRequest, ChatUser
from bot.conversation import Conversation
from bot.idempotency import IdempotencyGuard
from bot.outbox import OutboxStore, Parcel
from bot.stops import REPLIES
from bot.teams import approval_views, cards, files, outbox
from bot.teams.activities import (
    Inbound,
    Surface,
    continuation,
    inbound,
    kept_reference,
    request_of,
    split_conversation,
    tenant_of,
)
from bot.teams.config import TeamsConfig
from bot.teams.feedback import FEEDBACK_INVOKE, TeamsFeedback
from bot.teams.outgoing import Outgoing
from bot.teams.profiles import TeamsEmails
from bot.teams.render import INFORM_GAP_S, STOP, ClickOutcome, ClickRenderer, StreamRenderer, ThreadRenderer
from bot.teams.turns import Background, Turns
from centralops import settings
from centralops.alert_context import AlertContext
from centralops.errors import CentralOpsError

logger = logging.getLogger(__name__)

PATH = "/api/messages"
TEAMS_BOT: web.AppKey["TeamsBot"] = web.AppKey("centralops_teams_bot")

TURN_FAILED = (
    "CentralOps could not handle this message because of a problem on its side. "
    "Try again in a minute; if it keeps failing, tell your CentralOps administrators."
)
STILL_WORKING = "Your decision is still being recorded. Look at the card again in a moment."


def auth_configuration(config: TeamsConfig) -> AgentAuthConfiguration:
    """The SDK's settings for validating incoming tokens and getting outgoing ones."""
    return AgentAuthConfiguration(
        client_id=config.app_id,
        tenant_id=config.tenant_id,
        client_secret=config.app_password,
        anonymous_allowed=config.anonymous,
    )


class TeamsBot:
    """Routes Teams activities to the conversation core.

    Args:
        conversation: The platform-free core.
        config: The Teams settings.
        guard: Claims each incoming activity once across replicas (Teams retries slow requests).
        emails: Keeps the email of whoever gets a sign-in card, for ``/auth/callback``.
        admission: The replica's bounded queue of answers (shared with Slack on one server).
    """

    def __init__(
        self,
        conversation: Conversation,
        config: TeamsConfig,
        *,
        guard: IdempotencyGuard | None = None,
        emails: TeamsEmails | None = None,
        answer_files: files.AnswerFiles | None = None,
        admission: Admission | None = None,
    ) -> None:
        config.validate()
        self.admission = admission or Admission()
        self.conversation = conversation
        self.config = config
        self.guard = guard
        self.emails = emails
        self.answer_files = answer_files
        self.auth = auth_configuration(config)
        self.connections = MsalConnectionManager(connections_configurations={"SERVICE_CONNECTION": self.auth})
        self.adapter = CloudAdapter(connection_manager=self.connections)
        self.app: AgentApplication[TurnState] = AgentApplication[TurnState](
            ApplicationOptions(
                storage=MemoryStorage(), start_typing_timer=False, bot_app_id=config.app_id or ""
            ),
            connection_manager=self.connections,
        )
        self.adapter.on_turn_error = self._on_turn_error
        self.adapter.use(Outgoing())  # every write: a plain notification summary, its 429s counted
        self.background = Background(self.adapter)
        self._streams: dict[str, asyncio.Lock] = {}
        # The alert whose card opened a channel thread (set by the alerts feature).
        self.thread_alert: Callable[[ChatPlace], Awaitable[AlertContext | None]] | None = None
        self.app.conversation_update("membersAdded")(self._on_installed)
        self.app.message()(self._on_message)
        self.app.adaptive_card.action_execute(cards.APPROVE)(self._on_approve)
        self.app.adaptive_card.action_execute(cards.DENY)(self._on_deny)
        self.app.adaptive_card.action_execute(cards.FOLLOWUP)(self._on_followup)
        self.app.adaptive_card.action_execute(approval_views.VIEW)(self._on_view)
        self.app.adaptive_card.action_execute(approval_views.REVIEW)(self._on_review)
        self.app.adaptive_card.action_execute(STOP)(self._on_stop)
        self.feedback = TeamsFeedback(conversation.feedback)
        self.app.invoke(FEEDBACK_INVOKE)(self.feedback.on_submit)
        self.app.invoke(files.INVOKE)(self._on_file_consent)

    async def _on_turn_error(self, context: TurnContext, error: Exception) -> None:
        """Log the failure and tell the person something useful (never the exception's text)."""
        activity = context.activity
        logger.error(
            "teams turn failed",
            extra={"activity_type": activity.type, "activity_id": activity.id, "error": type(error).__name__},
            exc_info=error,
        )
        if activity.type == ActivityTypes.message:
            try:
                await context.send_activity(TURN_FAILED)
            except Exception as e:  # the connector itself may be what failed
                logger.warning("turn failure not reported", extra={"error": type(e).__name__})

    async def email_lookup(self, platform: str, team: str, user: str) -> str | None:
        """The ``EmailLookup`` of ``bot.auth_routes`` for Teams users (``None`` for other platforms)."""
        if platform != "teams" or self.emails is None:
            return None
        return await self.emails.lookup(team, user)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The ``/api/messages`` handler (already authenticated by the SDK's decorator)."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        # The SDK answers 500 with a traceback for a body that is not an activity: refuse it here.
        if not _looks_like_activity(body):
            return _not_an_activity(request)
        try:
            response = await self.adapter.process(request, self.app)
        except ValidationError:
            return _not_an_activity(request)
        return response if response is not None else web.Response(status=HTTPStatus.ACCEPTED)

    # --- renderers ---------------------------------------------------------------------------

    def _renderer(
        self, turns: Turns, activity: Activity, surface: Surface, thread: str, who: ChatUser | None = None
    ) -> AnswerRenderer:
        turn = turns.turn(activity)
        renderer: StreamRenderer | ThreadRenderer
        if surface == "personal":
            chat = activity.conversation.id if activity.conversation else ""
            renderer = StreamRenderer(
                turn.context,
                surface,
                thread,
                who=who,
                emails=self.emails,
                lock=self._streams.setdefault(chat, asyncio.Lock()),
                answer_files=self.answer_files,
            )
            turns.on_close(renderer.release)
        else:
            renderer = ThreadRenderer(
                turn.context,
                surface,
                interval_s=self.config.update_interval_s,
                thread=thread,
                who=who,
                emails=self.emails,
            )
        renderer.on_rated = self.feedback.link
        store = self.conversation.outbox
        if store is not None:
            every_s = INFORM_GAP_S if isinstance(renderer, StreamRenderer) else self.config.update_interval_s
            renderer.keeper = self._keeper(store, activity, surface, turns, who, every_s)
            turns.on_close(renderer.keeper.release)
        return renderer

    def _keeper(
        self,
        store: OutboxStore,
        activity: Activity,
        surface: Surface,
        turns: Turns,
        who: ChatUser | None,
        every_s: float,
    ) -> outbox.AnswerKeeper:
        """The answer's outbox record, with what another replica needs to write into its conversation."""
        channel, root = split_conversation(activity.conversation.id if activity.conversation else "")
        kept = kept_reference(
            activity.get_conversation_reference(), activity.channel_data, surface, turns.claims
        )
        parcel = outbox.new_parcel(
            team=tenant_of(activity),
            channel=channel,
            thread=root or channel,
            user=who.user if who is not None else "",
            extra={**kept, "stream": surface == "personal"},
        )
        return outbox.AnswerKeeper(store, parcel, every_s=every_s)

    async def deliver_parcel(self, parcel: Parcel) -> None:
        """Show an answer another renderer left unfinished (the outbox sweeper calls this).

        Raises:
            Exception: The Connector still refuses (the outbox tries again later).
        """
        reference = ConversationReference.model_validate(parcel.extra["reference"])
        claims = parcel.extra.get("claims") or {}
        store = self.conversation.outbox
        # Within the lease the sweeper took, so no other replica starts the same delivery meanwhile.
        retry_s = min(self.background.retry_s, store.lease_s / 3) if store else self.background.retry_s
        turns = Turns(self.adapter, ClaimsIdentity(claims, "kept" if claims else None), retry_s=retry_s)
        try:
            turn = turns.turn(continuation(reference, None, parcel.extra.get("channel_data")))
            await outbox.deliver(await turn.context(), parcel, store, self.answer_files)
        finally:
            await turns.close()

    async def _claim(self, activity: Activity) -> bool:
        if self.guard is None or not activity.id or activity.conversation is None:
            return True
        return await self.guard.claim(f"teams#{activity.conversation.id}#{activity.id}")

    # --- messages ----------------------------------------------------------------------------

    async def _on_installed(self, context: TurnContext, _state: TurnState) -> None:
        """Greet once, when the app is added to a chat, team or group chat (not when people join)."""
        activity = context.activity
        me = activity.recipient.id if activity.recipient else None
        if not any(m.id == me for m in activity.members_added or []):
            return
        await context.send_activity(
            Activity(
                type=ActivityTypes.message, text_format="markdown", text=cards.teams_markdown(self._welcome())
            )
        )

    def _welcome(self) -> str:
        return (
            "Hi, I am *CentralOps*. I answer questions about your AWS accounts, as you. "
            f"Start with `{self.config.prefix} login` to link your account, then ask, e.g. "
            f"`{self.config.prefix} list buckets in staging`. `{self.config.prefix} help` lists everything."
        )

    async def _on_message(self, context: TurnContext, _state: TurnState) -> None:
        activity = context.activity
        parsed = request_of(activity, self.config.bot_name)
        if parsed is None:
            logger.warning("teams message without a person", extra={"activity_id": activity.id})
            return
        request, surface = parsed
        mentioned = surface != "channel" or activity.is_recipient_mentioned()
        reply = surface == "channel" and request.where.thread not in (None, activity.id)
        # With ChannelMessage.Read.Group every channel message arrives. Unmentioned, only a reply to
        # an alert card that mentions nobody is ours (people talking to each other mention each other).
        if not mentioned and (not reply or activity.get_mentions()):
            return
        alert = None
        if reply and self.thread_alert is not None:
            alert = await self.thread_alert(request.where)
        if not mentioned and alert is None:
            return
        if not await self._claim(activity):
            logger.info("teams activity already handled", extra={"activity_id": activity.id})
            return
        source = request.source if mentioned else "reply"
        self._answer(context, dataclasses.replace(request, alert=alert, source=source), surface)

    def _answer(self, context: TurnContext, request: ChatRequest, surface: Surface) -> None:
        reference = context.activity.get_conversation_reference()
        channel_data = context.activity.channel_data

        async def work(turns: Turns) -> None:
            renderer = self._renderer(
                turns,
                continuation(reference, None, channel_data),
                surface,
                request.where.thread or "",
                request.who,
            )

            async def queued(position: int) -> None:
                await renderer.notice(BUSY_QUEUED.format(n=position))

            if not await self.admission.enter(queued):
                await renderer.notice(BUSY_FULL)
                return
            try:
                await self.conversation.handle(request, renderer, prefix=self.config.prefix)
            finally:
                self.admission.leave()

        self.background.run(context.identity or ClaimsIdentity(), work, "answer")

    async def resume_run(self, parcel: Parcel) -> None:
        """Resume an approved run another replica left, from its kept conversation reference.

        Raises:
            Exception: The resume failed (the outbox tries again later).
        """
        kept = parcel.extra.get("platform") or {}
        reference = ConversationReference.model_validate(kept["reference"])
        channel_data, surface = kept.get("channel_data"), kept.get("surface", "personal")
        claims = kept.get("claims") or {}
        finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def work(turns: Turns) -> None:
            def renderer_for(place: ChatPlace, _user: ChatUser) -> AnswerRenderer:
                return self._renderer(
                    turns, continuation(reference, place, channel_data), surface, place.thread or ""
                )

            try:
                await self.conversation.resume_run(parcel, renderer_for, prefix=self.config.prefix)
            except Exception as e:
                finished.set_exception(e)
                raise
            finished.set_result(None)

        self.background.run(ClaimsIdentity(claims, "kept" if claims else None), work, "resume")
        await finished

    # --- card clicks -------------------------------------------------------------------------

    async def _on_approve(
        self, context: TurnContext, _state: TurnState, data: Any
    ) -> AdaptiveCardInvokeResponse:
        return await self._decide(context, data, "approved")

    async def _on_deny(
        self, context: TurnContext, _state: TurnState, data: Any
    ) -> AdaptiveCardInvokeResponse:
        return await self._decide(context, data, "denied")

    async def _decide(self, context: TurnContext, data: Any, decision: str) -> AdaptiveCardInvokeResponse:
        found = inbound(context.activity)
        approval_id = str((data or {}).get("approval_id") or "") if isinstance(data, dict) else ""
        if found is None or not approval_id:
            return _message_response(
                "This button is not a valid CentralOps approval, so nothing was decided."
            )
        click = ClickRenderer()
        reference = context.activity.get_conversation_reference()
        channel_data = context.activity.channel_data
        surface = found.surface

        async def work(turns: Turns) -> None:
            def renderer_for(place: ChatPlace, _user: ChatUser) -> AnswerRenderer:
                return self._renderer(
                    turns, continuation(reference, place, channel_data), surface, place.thread or ""
                )

            await self.conversation.decide(
                approval_id=approval_id,
                decision="approved" if decision == "approved" else "denied",
                decider=found.who,
                where=found.where,
                renderer=click,
                renderer_for=renderer_for,
                prefix=self.config.prefix,
                platform_extra=kept_reference(reference, channel_data, surface, context.identity),
            )
            # decide() can return without a word only if the core changes; never leave the click hanging.
            await click.notice(STILL_WORKING)

        self.background.run(context.identity or ClaimsIdentity(), work, "decision")
        try:
            outcome = await asyncio.wait_for(asyncio.shield(click.outcome), self.config.click_wait_s)
        except TimeoutError:
            return _message_response(STILL_WORKING)
        return await self._click_response(context, found, outcome)

    async def _click_response(
        self, context: TurnContext, found: Inbound, outcome: ClickOutcome
    ) -> AdaptiveCardInvokeResponse:
        if outcome.kind == "decided" and outcome.card is not None:
            doc = cards.decided(outcome.card)
            if context.activity.reply_to_id:
                # The invoke response replaces the card for the person who clicked; this, for everyone.
                replaced = Activity(
                    type=ActivityTypes.message,
                    id=context.activity.reply_to_id,
                    attachments=[cards.attachment(doc)],
                )
                try:
                    await context.update_activity(replaced)
                except Exception as e:  # connector failures surface as plain exceptions
                    logger.warning("approval card not replaced", extra={"error": type(e).__name__})
            return AdaptiveCardInvokeResponse(status_code=HTTPStatus.OK, type=cards.CONTENT_TYPE, value=doc)
        if outcome.kind == "login":
            if self.emails is not None:
                await self.emails.remember_sender(context, found.who.team, found.who.user)
            sign_in = Activity(
                type=ActivityTypes.message,
                attachments=[cards.attachment(cards.sign_in(outcome.url, outcome.text))],
            )
            if found.surface != "personal" and context.activity.from_property is not None:
                sign_in.make_targeted_activity(context.activity.from_property)
            await context.send_activity(sign_in)
            return _message_response("Sign in first: I sent you a sign-in card. Then click again.")
        return _message_response(cards.teams_markdown(outcome.text))

    async def _on_view(
        self, context: TurnContext, _state: TurnState, data: Any
    ) -> AdaptiveCardInvokeResponse:
        """A card refresh (or Back): the approval card as this person may use it."""
        return await self._view(context, data, review=False)

    async def _on_review(
        self, context: TurnContext, _state: TurnState, data: Any
    ) -> AdaptiveCardInvokeResponse:
        """Approve, first step: an approver confirms; anyone else gets their own view back."""
        return await self._view(context, data, review=True)

    async def _view(self, context: TurnContext, data: Any, *, review: bool) -> AdaptiveCardInvokeResponse:
        found = inbound(context.activity)
        approval_id = str((data or {}).get("approval_id") or "") if isinstance(data, dict) else ""
        if found is None or not approval_id:
            return _message_response("This card is not a valid CentralOps approval.")
        try:
            approval, role = await self.conversation.approval_view(approval_id, found.who)
        except CentralOpsError as e:
            return _message_response(cards.teams_markdown(e.message))
        if approval is None:
            return _message_response("This approval no longer exists, so there is nothing to decide.")
        if review and role == "approver":
            doc = approval_views.confirm(approval)
        else:
            doc = approval_views.for_viewer(approval, role, self.conversation.approver_group)
        return AdaptiveCardInvokeResponse(status_code=HTTPStatus.OK, type=cards.CONTENT_TYPE, value=doc)

    async def _on_stop(
        self, context: TurnContext, _state: TurnState, data: Any
    ) -> AdaptiveCardInvokeResponse:
        """Stop: ends the turn on whichever replica writes the answer, if the clicker asked the question."""
        found = inbound(context.activity)
        turn_id = str((data or {}).get("turn_id") or "") if isinstance(data, dict) else ""
        stops = self.conversation.stops
        if found is None or not turn_id.isalnum() or stops is None:
            return _message_response("This Stop button is not valid, so nothing was stopped.")
        try:
            outcome = await stops.request(turn_id, found.who)
        except CentralOpsError as e:
            return _message_response(cards.teams_markdown(e.message))
        return _message_response(REPLIES[outcome])

    async def _on_file_consent(self, context: TurnContext, _state: TurnState) -> None:
        """*Allow* or *Decline* on the card offering a long answer as a file (1:1 chats)."""
        if self.answer_files is None:
            await context.send_activity(files.invoke_ok())
            return
        await files.on_consent(context, self.answer_files, allow_http_loopback=self.config.anonymous)

    async def _on_followup(
        self, context: TurnContext, _state: TurnState, data: Any
    ) -> AdaptiveCardInvokeResponse:
        found = inbound(context.activity)
        prompt = str((data or {}).get("prompt") or "").strip() if isinstance(data, dict) else ""
        if found is None or not prompt:
            return _message_response("This suggestion is empty. Type your question instead.")
        request = ChatRequest(found.who, found.where, prompt, "followup")
        self._answer(context, request, found.surface)
        return _message_response(f"Asking: {prompt}")


def _looks_like_activity(body: object) -> bool:
    """The SDK's own minimum: a JSON object with a string ``type`` and a ``conversation.id``."""
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        return False
    conversation = body.get("conversation")
    return isinstance(conversation, dict) and isinstance(conversation.get("id"), str)


def _not_an_activity(request: web.Request) -> web.Response:
    logger.warning("teams request refused", extra={"reason": "not an activity", "remote": request.remote})
    return web.Response(status=HTTPStatus.BAD_REQUEST, text="The body is not a Bot Framework activity.")


class _NoTraceback(logging.Filter):
    """Keeps the SDK's one line about an invalid activity and drops its traceback (callers send junk)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


def _message_response(text: str) -> AdaptiveCardInvokeResponse:
    """An invoke answer Teams shows to the person who clicked, leaving the card as it is."""
    return AdaptiveCardInvokeResponse(
        status_code=HTTPStatus.OK, type="application/vnd.microsoft.activity.message", value=text
    )


def setup_teams(
    app: web.Application,
    conversation: Conversation,
    config: TeamsConfig | None = None,
    *,
    guard: IdempotencyGuard | None = None,
    emails: TeamsEmails | None = None,
    path: str = PATH,
) -> TeamsBot:
    """Serve Teams at ``path`` on the bot's one aiohttp server.

    Args:
        app: The server's application (not started yet).
        conversation: The conversation core shared with Slack.
        config: Teams settings; from the environment when omitted.
        guard: Idempotency of incoming activities (recommended with several replicas).
        emails: Where sign-in cards keep the person's email for the callback's email check;
            the idempotency table of ``guard`` when omitted.
        path: Where the Azure Bot's messaging endpoint points.

    Raises:
        ConfigurationError: Neither an app id nor anonymous mode is configured.
    """
    config = config or TeamsConfig.from_env()
    if emails is None and guard is not None:
        emails = TeamsEmails(guard.table)  # the same small-items table, keyed apart
    answer_files = files.AnswerFiles(guard.table) if guard is not None else None
    bot = TeamsBot(
        conversation,
        config,
        guard=guard,
        emails=emails,
        answer_files=answer_files,
        admission=app.get(ADMISSION_KEY),
    )
    if config.anonymous:
        logger.warning(
            "TEAMS ANONYMOUS MODE: /api/messages accepts activities WITHOUT a Bot Framework token. "
            "Use it only on the local stack; unset the setting anywhere else.",
            extra={"setting": settings.TEAMS_ANONYMOUS, "path": path},
        )
    with warnings.catch_warnings():
        # The SDK's decorator reads this exact string key from the application.
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        app["agent_configuration"] = bot.auth
    app[TEAMS_BOT] = bot
    app.router.add_post(path, jwt_authorization_decorator(bot.handle))
    sdk_activity_log = logging.getLogger("microsoft_agents.activity.activity")
    if not any(isinstance(f, _NoTraceback) for f in sdk_activity_log.filters):
        sdk_activity_log.addFilter(_NoTraceback())

    async def stop(_app: web.Application) -> None:
        await bot.background.cancel()

    app.on_shutdown.append(stop)
    return bot
