"""The platform-free core, in-process: the linking and approval rules, pinned once for Slack and Teams.

The edges only translate and render; every rule below is the core's, so each test runs on both
platforms with a renderer that records what the person would be shown.
"""

import dataclasses
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.approvals import Approval, DecisionRefused
from bot.chat import ApprovalCard, ChatPlace, ChatRequest, ChatUser, Checklist, Table
from bot.conversation import Conversation
from bot.identity import IdentityError, NotLinkedError, RelinkRequiredError
from centralops import events
from centralops.accounts import AccountItem
from centralops.approvals import APPROVED, DENIED, PENDING, Decision
from centralops.events import Followup

APPROVERS = "centralops-approvers"
TEAM = "T1"
CHANNEL = "C1"
THREAD = "1700000000.000100"
APPROVAL_ID = "a1b2c3d4e5f6a7b8"


@dataclass(frozen=True)
class Platform:
    name: str
    prefix: str
    login: str


PLATFORMS = [Platform("slack", "/aws", "/aws login"), Platform("teams", "@CentralOps", "login")]


@pytest.fixture(params=PLATFORMS, ids=[p.name for p in PLATFORMS])
def platform(request: pytest.FixtureRequest) -> Platform:
    return request.param  # type: ignore[no-any-return]


@dataclass
class RecordingNotifier:
    """A click's notifier (notices and the decision only) that keeps every call, in order, as ``(method, argument)``."""

    calls: list[tuple[str, Any]] = field(default_factory=list)

    def of(self, method: str) -> list[Any]:
        return [arg for name, arg in self.calls if name == method]

    async def notice(self, text: str) -> None:
        self.calls.append(("notice", text))

    async def login_prompt(self, url: str, text: str) -> None:
        self.calls.append(("login_prompt", (url, text)))

    async def error(self, message: str) -> None:
        self.calls.append(("error", message))

    async def decided(self, card: ApprovalCard) -> None:
        self.calls.append(("decided", card))


@dataclass
class RecordingRenderer(RecordingNotifier):
    """A renderer of answers that keeps every call, in order, as ``(method, argument)``."""

    thread: str = THREAD

    async def open(self, request: ChatRequest) -> str:
        self.calls.append(("open", request))
        return self.thread

    async def progress(self, checklist: Checklist) -> None:
        self.calls.append(("progress", checklist.status))

    async def text(self, delta: str) -> None:
        self.calls.append(("text", delta))

    async def table(self, table: Table) -> None:
        self.calls.append(("table", table))

    async def approval(self, card: ApprovalCard) -> None:
        self.calls.append(("approval", card))

    async def followups(self, items: list[Followup]) -> None:
        self.calls.append(("followups", items))

    async def finish(self) -> None:
        self.calls.append(("finish", None))


@dataclass
class Person:
    user: str
    email: str
    groups: tuple[str, ...] = ()
    verified: bool = True


@dataclass
class FakeIdentity:
    """Linked people by chat user id; a token is the person's user id."""

    people: dict[str, Person] = field(default_factory=dict)
    refused: dict[str, Exception] = field(default_factory=dict)

    async def id_token(self, platform: str, team: str, user: str) -> str:
        if user in self.refused:
            raise self.refused[user]
        if user not in self.people:
            raise NotLinkedError(platform)
        return user

    async def whoami(self, platform: str, team: str, user: str) -> Any:
        return None

    async def unlink(self, platform: str, team: str, user: str) -> bool:
        return self.people.pop(user, None) is not None

    async def login_url(self, platform: str, team: str, user: str) -> str:
        return f"https://bot.example.com/auth/start?state={platform}-{user}"

    def claims(self, id_token: str) -> dict[str, Any]:
        person = self.people[id_token]
        return {
            "sub": f"sub-{person.user}",
            "cognito:username": person.email if not person.verified else person.user,
            "email": person.email,
            "email_verified": person.verified,
            "cognito:groups": list(person.groups),
        }


@dataclass
class FakeRuntime:
    """The Runtime: records each invocation and answers with a short stream."""

    invocations: list[dict[str, Any]] = field(default_factory=list)

    async def invoke(self, **kwargs: Any) -> AsyncIterator[events.Event]:
        self.invocations.append(kwargs)
        yield events.text("done")
        yield events.done("s" * 40)


@dataclass
class FakeApprovals:
    items: dict[str, Approval] = field(default_factory=dict)
    decisions: list[tuple[str, str, str]] = field(default_factory=list)

    async def get(self, approval_id: str) -> Approval | None:
        return self.items.get(approval_id)

    async def decide(self, approval_id: str, decision: Decision, decided_by: str) -> Approval:
        current = self.items[approval_id]
        if current.status != PENDING:
            raise DecisionRefused(f"This request was already {current.status} by {current.decided_by}.")
        self.decisions.append((approval_id, decision, decided_by))
        decided = dataclasses.replace(
            current, status=decision, decided_by=decided_by, decided_at=int(time.time())
        )
        self.items[approval_id] = decided
        return decided


@dataclass
class FakeAccounts:
    accounts: list[AccountItem] = field(default_factory=list)

    async def all(self) -> list[AccountItem]:
        return self.accounts

    async def visible_to(self, groups: set[str]) -> list[AccountItem]:
        return [a for a in self.accounts if a.queryable_by(groups)]


@dataclass
class FakeHistory:
    added: list[str] = field(default_factory=list)

    async def add(self, who: ChatUser, text: str) -> None:
        self.added.append(text)

    async def list(self, who: ChatUser) -> list[str]:
        return list(self.added)


@dataclass
class Core:
    conversation: Conversation
    identity: FakeIdentity
    runtime: FakeRuntime
    approvals: FakeApprovals
    resumed: list[RecordingRenderer]


@pytest.fixture
def core() -> Core:
    identity = FakeIdentity(
        {
            "alice": Person("alice", "alice@example.com"),
            "bob": Person("bob", "bob@example.com", (APPROVERS,)),
            "carol": Person("carol", "carol@example.com", (APPROVERS,)),
            "erin": Person("erin", "erin@example.com", (APPROVERS,), verified=False),
        }
    )
    runtime, approvals = FakeRuntime(), FakeApprovals()
    conversation = Conversation(
        identity=identity,
        runtime=runtime,  # type: ignore[arg-type]
        approvals=approvals,  # type: ignore[arg-type]
        accounts=FakeAccounts([AccountItem("222222222222", "staging", "staging")]),  # type: ignore[arg-type]
        history=FakeHistory(),  # type: ignore[arg-type]
        approver_group=APPROVERS,
    )
    return Core(conversation, identity, runtime, approvals, [])


def _ask(core: Core, platform: Platform, user: str, text: str) -> tuple[ChatRequest, RecordingRenderer]:
    who = ChatUser(platform.name, TEAM, user, user.title())
    return ChatRequest(who, ChatPlace(platform.name, TEAM, CHANNEL), text), RecordingRenderer()


def _pending(core: Core, platform: Platform, requester: str = "alice") -> Approval:
    approval = Approval(
        approval_id=APPROVAL_ID,
        requester=f"{requester}@example.com",
        command="aws ec2 stop-instances --instance-ids i-0abc",
        accounts=("222222222222",),
        tool="query",
        reason="`ec2 stop-instances` changes resources; a second person must approve it.",
        risk="mutating",
        thread={
            "platform": platform.name,
            "team": TEAM,
            "channel": CHANNEL,
            "thread": THREAD,
            "user": requester,
        },
        expires_at=int(time.time()) + 3600,
    )
    core.approvals.items[APPROVAL_ID] = approval
    return approval


async def _click(
    core: Core,
    platform: Platform,
    user: str,
    decision: Decision,
    *,
    channel: str = CHANNEL,
    thread: str = THREAD,
) -> RecordingNotifier:
    renderer = RecordingNotifier()  # a click shows notices and the decision, never an answer

    def renderer_for(place: ChatPlace, who: ChatUser) -> RecordingRenderer:
        resumed = RecordingRenderer()
        resumed.calls.append(("for", (place, who)))
        core.resumed.append(resumed)
        return resumed

    await core.conversation.decide(
        approval_id=APPROVAL_ID,
        decision=decision,
        decider=ChatUser(platform.name, TEAM, user, user.title()),
        where=ChatPlace(platform.name, TEAM, channel, thread),
        renderer=renderer,
        renderer_for=renderer_for,
        prefix=platform.prefix,
    )
    return renderer


# Linking


async def test_an_unlinked_person_gets_a_sign_in_button_naming_the_platforms_command_and_nothing_runs(
    core: Core, platform: Platform
) -> None:
    request, renderer = _ask(core, platform, "dave", "list buckets in staging")

    await core.conversation.handle(request, renderer, prefix=platform.prefix)

    ((url, text),) = renderer.of("login_prompt")
    assert url == f"https://bot.example.com/auth/start?state={platform.name}-dave"
    assert f"`{platform.login}`" in text
    assert core.runtime.invocations == [] and renderer.of("open") == []


async def test_a_revoked_sign_in_asks_to_link_again(core: Core, platform: Platform) -> None:
    core.identity.refused["alice"] = RelinkRequiredError(platform.name)
    request, renderer = _ask(core, platform, "alice", "list buckets in staging")

    await core.conversation.handle(request, renderer, prefix=platform.prefix)

    ((_, text),) = renderer.of("login_prompt")
    assert "expired or was revoked" in text and f"`{platform.login}`" in text
    assert core.runtime.invocations == []


async def test_an_identity_outage_is_told_as_it_is_without_a_sign_in_button(
    core: Core, platform: Platform
) -> None:
    core.identity.refused["alice"] = IdentityError(
        "Cognito could not be reached to sign you in. Try again in a minute."
    )
    request, renderer = _ask(core, platform, "alice", "list buckets in staging")

    await core.conversation.handle(request, renderer, prefix=platform.prefix)

    assert renderer.of("login_prompt") == []
    assert renderer.of("notice") == ["Cognito could not be reached to sign you in. Try again in a minute."]
    assert core.runtime.invocations == []


async def test_login_offers_the_sign_in_button_and_logout_unlinks_once(
    core: Core, platform: Platform
) -> None:
    request, renderer = _ask(core, platform, "alice", "login")
    await core.conversation.handle(request, renderer, prefix=platform.prefix)
    assert [url for url, _ in renderer.of("login_prompt")] == [
        f"https://bot.example.com/auth/start?state={platform.name}-alice"
    ]

    notices = []
    for _ in range(2):
        request, renderer = _ask(core, platform, "alice", "logout")
        await core.conversation.handle(request, renderer, prefix=platform.prefix)
        notices.extend(renderer.of("notice"))
    assert notices[0].startswith("Unlinked.") and notices[1].startswith("You were not linked.")
    assert all(f"`{platform.prefix} login`" in n for n in notices)


async def test_a_linked_person_is_answered_in_the_thread_the_renderer_opened(
    core: Core, platform: Platform
) -> None:
    request, renderer = _ask(core, platform, "alice", "list buckets in staging")

    await core.conversation.handle(request, renderer, prefix=platform.prefix)

    (invocation,) = core.runtime.invocations
    assert invocation["id_token"] == "alice" and invocation["where"].thread == THREAD
    assert renderer.of("text") == ["done"] and renderer.calls[-1] == ("finish", None)


# Approvals


async def test_a_second_approver_decides_once_and_the_requesters_thread_resumes(
    core: Core, platform: Platform
) -> None:
    _pending(core, platform)

    renderer = await _click(core, platform, "bob", APPROVED)

    assert core.approvals.decisions == [(APPROVAL_ID, APPROVED, "bob@example.com")]
    (card,) = renderer.of("decided")
    assert (card.status, card.decided_by, card.accounts) == (APPROVED, "bob@example.com", ["staging"])
    (resumed,) = core.resumed
    place, requester = resumed.calls[0][1]
    assert (place.platform, place.channel, place.thread, requester.user) == (
        platform.name,
        CHANNEL,
        THREAD,
        "alice",
    )
    (invocation,) = core.runtime.invocations
    assert invocation["resume"] == {"approval_id": APPROVAL_ID, "decision": APPROVED}
    assert invocation["id_token"] == "alice"  # the agent resumes as the requester, not the approver


async def test_nobody_approves_their_own_change_but_may_withdraw_it(core: Core, platform: Platform) -> None:
    core.identity.people["alice"] = Person("alice", "alice@example.com", (APPROVERS,))
    _pending(core, platform)

    refused = await _click(core, platform, "alice", APPROVED)

    assert core.approvals.decisions == []
    assert "cannot approve your own change" in refused.of("notice")[0]

    denied = await _click(core, platform, "alice", DENIED)

    assert core.approvals.decisions == [(APPROVAL_ID, DENIED, "alice@example.com")]
    assert [c.status for c in denied.of("decided")] == [DENIED]


async def test_the_same_chat_user_under_another_email_is_still_the_requester(
    core: Core, platform: Platform
) -> None:
    _pending(core, platform, requester="alice")
    core.identity.people["alice"] = Person("alice", "alice.other@example.com", (APPROVERS,))

    renderer = await _click(core, platform, "alice", APPROVED)

    assert core.approvals.decisions == [] and "your own change" in renderer.of("notice")[0]


async def test_only_approvers_decide(core: Core, platform: Platform) -> None:
    _pending(core, platform, requester="bob")

    renderer = await _click(core, platform, "alice", APPROVED)

    assert core.approvals.decisions == []
    assert renderer.of("notice") == [
        f"Only members of *{APPROVERS}* can approve or deny changes. Ask one of them to decide this request."
    ]


async def test_a_decider_without_a_verified_identity_is_told_to_verify_and_sign_in_on_their_platform(
    core: Core, platform: Platform
) -> None:
    _pending(core, platform)
    core.identity.people["erin"] = Person("erin", "erin@example.com", (APPROVERS,), verified=False)

    renderer = await _click(core, platform, "erin", APPROVED)

    assert core.approvals.decisions == []
    (notice,) = renderer.of("notice")
    assert "no verified email" in notice and notice.endswith(f"`{platform.login}`.")


@pytest.mark.parametrize(("channel", "thread"), [("C2", THREAD), (CHANNEL, "1700000000.999999")])
async def test_a_button_outside_the_approvals_thread_decides_nothing(
    core: Core, platform: Platform, channel: str, thread: str
) -> None:
    _pending(core, platform)

    renderer = await _click(core, platform, "bob", APPROVED, channel=channel, thread=thread)

    assert core.approvals.decisions == [] and core.runtime.invocations == []
    assert "does not match any pending approval here" in renderer.of("notice")[0]


async def test_an_unknown_approval_decides_nothing(core: Core, platform: Platform) -> None:
    renderer = await _click(core, platform, "bob", APPROVED)

    assert "does not match any pending approval here" in renderer.of("notice")[0]
    assert renderer.of("decided") == []


async def test_a_second_click_is_told_who_decided_first_and_nothing_resumes_twice(
    core: Core, platform: Platform
) -> None:
    _pending(core, platform)
    await _click(core, platform, "bob", APPROVED)

    late = await _click(core, platform, "carol", DENIED)

    assert late.of("notice") == ["This request was already approved by bob@example.com."]
    assert late.of("decided") == [] and len(core.runtime.invocations) == 1
