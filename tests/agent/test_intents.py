"""Intent safety: a request to change something is never answered as a read, whatever its wording.

A generated family (verbs x objects x phrasings) is classified; a sample of it
runs through the whole model path with the offline planner; and a scripted
model proves that a model which answers a change with a read (or with nothing)
cannot get that answer past the gate.
"""

import itertools
import uuid
from collections.abc import Callable

import pytest

from agent import intents
from agent.runner import AgentRuntime
from tests.fixtures.agent_scripted import ScriptedModel, TextStep, ToolStep
from tests.fixtures.agent_stack import AgentWorld, RuntimeFactory, collect, of_type, texts

STG = "222222222222"

# (words for the object, its name, the change -> the exact command)
OBJECTS = [
    ("bucket", "acme-staging-logs", {"delete": "aws s3api delete-bucket --bucket acme-staging-logs"}),
    (
        "instance",
        "i-22220000",
        {
            "stop": "aws ec2 stop-instances --instance-ids i-22220000",
            "start": "aws ec2 start-instances --instance-ids i-22220000",
            "reboot": "aws ec2 reboot-instances --instance-ids i-22220000",
            "terminate": "aws ec2 terminate-instances --instance-ids i-22220000",
        },
    ),
    ("lambda function", "staging-api", {"delete": "aws lambda delete-function --function-name staging-api"}),
    ("dynamodb table", "staging-orders", {"delete": "aws dynamodb delete-table --table-name staging-orders"}),
    ("stack", "staging-network", {"delete": "aws cloudformation delete-stack --stack-name staging-network"}),
    ("alarm", "staging-5xx", {"delete": "aws cloudwatch delete-alarms --alarm-names staging-5xx"}),
    (
        "rds instance",
        "staging-db",
        {
            "stop": "aws rds stop-db-instance --db-instance-identifier staging-db",
            "reboot": "aws rds reboot-db-instance --db-instance-identifier staging-db",
        },
    ),
]
# Surface words for each change (several per change, multi-word ones included).
VERB_WORDS = {
    "delete": ["delete", "remove", "destroy", "get rid of", "drop", "tear down"],
    "stop": ["stop", "shut down", "halt", "power off", "turn off"],
    "start": ["start", "boot", "power on", "turn on"],
    "reboot": ["reboot", "restart", "bounce"],
    "terminate": ["terminate", "kill"],
}
REQUESTS = [
    "{v} {o} {n} in staging",
    "{V} the {o} {n} in staging",
    "please {v} the {o} {n} in staging",
    "can you {v} {o} {n} in staging?",
    "Could you please {v} the {n} {o} on staging",
    "I need you to {v} {o} {n} in staging asap!!",
    "{v} {o} {n} in staging, thanks 🙏",
    "hey, {v} {o} {n} in staging",
    "go ahead and {v} {o} {n} in staging",
    "let's {v} {o} {n} in staging now",
    "would you mind {ving} {o} {n} in staging?",
    "<@U0BOT> {v} {o} {n} in the staging account please",
]
HYPOTHETICAL = [
    "what would happen if I {ved} {o} {n} in staging?",
    "what happens if I {v} {o} {n} in staging",
    "how do I {v} {o} {n} in staging",
    "should I {v} {o} {n} in staging?",
]
NEGATED = ["don't {v} {o} {n} in staging", "please do not {v} the {o} {n} in staging", "never {v} {o} {n}"]


def _forms(phrase: str) -> dict[str, str]:
    head, _, rest = phrase.partition(" ")
    inflected = intents._past(head)
    ving = next(f for f in inflected if f.endswith("ing"))
    ved = next((f for f in sorted(inflected) if not f.endswith("ing")), head)
    tail = f" {rest}" if rest else ""
    return {"v": phrase, "V": phrase.upper(), "ving": ving + tail, "ved": ved + tail}


def _family(templates: list[str]) -> list[tuple[str, str, str]]:
    """``(prompt, change, exact command)`` for every template x object x change x word."""
    out = []
    for template, (obj, name, changes) in itertools.product(templates, OBJECTS):
        for change, command in changes.items():
            for word in VERB_WORDS[change]:
                prompt = template.format(o=obj, n=name, **_forms(word))
                out.append((prompt, change, command))
    return out


REQUEST_FAMILY = _family(REQUESTS)


def test_the_family_is_large() -> None:
    assert len(REQUEST_FAMILY) > 500
    assert len(_family(HYPOTHETICAL)) > 150


@pytest.mark.parametrize(("prompt", "change", "command"), REQUEST_FAMILY)
def test_every_wording_of_a_change_is_a_request_for_its_exact_command(
    prompt: str, change: str, command: str
) -> None:
    intent = intents.classify(prompt)
    assert intent is not None, prompt
    assert (intent.kind, intent.verb, intent.command) == ("request", change, command), prompt
    assert intent.targets in {"staging", "staging account"}, (prompt, intent.targets)


@pytest.mark.parametrize(("prompt", "change", "command"), _family(HYPOTHETICAL))
def test_what_if_and_how_to_are_hypothetical(prompt: str, change: str, command: str) -> None:
    intent = intents.classify(prompt)
    assert intent is not None, prompt
    assert (intent.kind, intent.verb, intent.command) == ("hypothetical", change, command), prompt


@pytest.mark.parametrize(("prompt", "change", "command"), _family(NEGATED))
def test_negation_is_not_a_request(prompt: str, change: str, command: str) -> None:
    intent = intents.classify(prompt)
    assert intent is not None and (intent.kind, intent.verb) == ("negated", change), prompt


OTHER_CHANGES = [
    ("create a bucket called acme-new-one in dev", "create"),
    ("attach volume vol-0abc to instance i-22220000 in staging", "attach"),
    ("detach volume vol-0abc in staging", "detach"),
    ("put a tag team=payments on bucket acme-staging-logs in staging", "put"),
    ("scale the web auto scaling group to 3 in production", "scale"),
    ("update the timeout of function staging-api in staging", "change"),
    ("modify instance i-22220000 type to t3.large in staging", "change"),
    ("upload report.csv to bucket acme-staging-logs", "put"),
    ("resize the database staging-db in staging", "scale"),
    ("the bucket acme-staging-logs needs to be deleted in staging", "delete"),
    ("list buckets and then delete the empty ones in staging", "delete"),
    ("enable versioning on bucket acme-staging-logs", "change"),
    ("spin up two more instances in dev", "create"),
    ("deploy my app to production", "change"),
    ("Turn off everything in dev please", "stop"),
    ("empty the bucket acme-dev-sandbox in dev", "empty"),
    ("I want the instance i-0123456789abcdef0 stopped in staging", "stop"),
    ("we need bucket acme-x deleted in staging", "delete"),
    ("Open port 22 on sg-123 in staging", "change"),
    ("ok now delete it", "delete"),
    ("purge the queue staging-jobs in staging", "empty"),
]


@pytest.mark.parametrize(("prompt", "change"), OTHER_CHANGES)
def test_changes_without_a_known_command_are_requests_too(prompt: str, change: str) -> None:
    intent = intents.classify(prompt)
    assert intent is not None and (intent.kind, intent.verb) == ("request", change), prompt
    assert "run aws " in intent.how_to_ask()


MORE_HYPOTHETICAL = [
    "Is it OK to delete bucket acme-dev-sandbox in dev?",
    "Can I delete bucket acme-dev-sandbox in dev?",
    "do I need to restart instance i-0abc1234 in dev",
    "how can I delete a bucket",
    "is it safe to reboot i-0abc1234 in staging",
]


@pytest.mark.parametrize("prompt", MORE_HYPOTHETICAL)
def test_asking_whether_or_how_is_hypothetical(prompt: str) -> None:
    intent = intents.classify(prompt)
    assert intent is not None and intent.kind == "hypothetical", prompt


def test_an_identifier_is_preferred_to_a_plain_word_as_the_name() -> None:
    for prompt, name in [
        ("update the lambda staging-api memory to 512 in staging", "staging-api"),
        ("set the alarm staging-5xx to OK in staging", "staging-5xx"),
        ("start the stopped instances in staging", None),
        ("Remove the acme-staging-logs bucket, staging", "acme-staging-logs"),
    ]:
        intent = intents.classify(prompt)
        assert intent is not None and intent.name == name, (prompt, intent)


READS = [
    "start time of instance i-22220000 in staging",
    "list instances and start times in staging",
    "show stop reason of i-1234 in dev",
    "open alarms in staging",
    "update history of stack staging-network",
    "I want to see stopped instances in staging",
    "i need the list of stopped instances",
    "can I list buckets in staging",
    "which lambda functions can I delete in staging?",
    "why did the instances stop in staging?",
    "show me recently deleted buckets",
    "list stopped instances in staging",
    "show running instances in prod",
    "how many instances are running in prod",
    "stopped instances in dev",
    "who deleted the bucket acme-staging-logs?",
    "was instance i-22220000 stopped yesterday?",
    "which instances were terminated in staging",
    "show terminated instances in staging",
    "list buckets in staging",
    "empty buckets in staging",
    "new instances in dev",
    "list alarms in ALARM in production",
    "show me the started instances",
    "what changed in staging?",
    "describe function staging-api in staging",
    "run aws ec2 stop-instances --instance-ids i-22220000 in staging",
    "aws s3api delete-bucket --bucket x in staging",
    "list instances that should be stopped in staging",
]


@pytest.mark.parametrize("prompt", READS)
def test_states_past_tense_and_direct_commands_are_not_change_requests(prompt: str) -> None:
    assert intents.classify(prompt) is None, prompt


def test_an_arn_keeps_its_region_and_odd_characters_are_no_name() -> None:
    arn = "arn:aws:sns:us-east-1:111122223333:alerts"
    intent = intents.classify(f"delete topic {arn} in staging")
    assert intent is not None and intent.command == f"aws sns delete-topic --topic-arn {arn}"
    assert intent.region is None
    odd = intents.classify("delete topic arn:aws:sns:us-east-1:1:x;rm -rf in staging")
    assert odd is not None and odd.command is None


def test_courtesy_is_not_part_of_the_account() -> None:
    intent = intents.classify("stop i-22220000 in staging please 🙏")
    assert intent is not None and intent.targets == "staging"
    assert intent.how_to_ask() == "`run aws ec2 stop-instances --instance-ids i-22220000 in staging`"


# ---- the whole model path with the offline planner -------------------------------------------------

SAMPLE = REQUEST_FAMILY[:: max(1, len(REQUEST_FAMILY) // 40)]


@pytest.mark.parametrize(("prompt", "change", "command"), SAMPLE, ids=[s[0] for s in SAMPLE])
async def test_a_change_request_becomes_an_approval_for_its_exact_command(
    runtime: AgentRuntime, env: AgentWorld, alice: str, prompt: str, change: str, command: str
) -> None:
    evs = await collect(
        runtime.invoke({"prompt": prompt, "access_token": alice}, session_id=f"i-{uuid.uuid4()}")
    )
    [approval] = of_type(evs, "approval")
    assert (approval["command"], approval["accounts"]) == (command, ["staging"])
    assert env.bridge.executed() == []  # nothing ran: it waits for a second person
    assert "needs approval" not in texts(evs)  # the card announces it; no second line next to it
    assert not of_type(evs, "followups")


NO_EXACT = [c for c in OTHER_CHANGES if (i := intents.classify(c[0])) is not None and i.command is None]


def test_most_other_changes_have_no_exact_command() -> None:
    assert len(NO_EXACT) >= 10


@pytest.mark.parametrize(("prompt", "_change"), NO_EXACT)
async def test_a_change_without_an_exact_command_says_how_to_ask(
    runtime: AgentRuntime, env: AgentWorld, alice: str, prompt: str, _change: str
) -> None:
    evs = await collect(runtime.invoke({"prompt": prompt, "access_token": alice}))
    answer = texts(evs)
    assert "I did not change or run anything" in answer
    assert "`run aws " in answer
    assert env.bridge.executed() == []
    assert not of_type(evs, "approval")


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("what would happen if I deleted bucket acme-staging-logs in staging?", "does not simulate"),
        ("how do I stop instance i-22220000 in staging", "`run aws ec2 stop-instances"),
        ("don't delete bucket acme-staging-logs in staging", "Nothing was run or changed"),
    ],
)
async def test_hypothetical_and_negated_run_nothing(
    runtime: AgentRuntime, env: AgentWorld, alice: str, prompt: str, expected: str
) -> None:
    evs = await collect(runtime.invoke({"prompt": prompt, "access_token": alice}))
    assert expected in texts(evs)
    assert env.bridge.executed() == []
    assert not of_type(evs, "approval")


async def test_a_change_follow_up_in_other_accounts_is_still_a_change(
    runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    sid = f"f-{uuid.uuid4()}"
    await collect(
        runtime.invoke({"prompt": "delete bucket acme-dev-sandbox", "access_token": alice}, session_id=sid)
    )
    evs = await collect(runtime.invoke({"prompt": "in dev please", "access_token": alice}, session_id=sid))
    [approval] = of_type(evs, "approval")
    assert (approval["command"], approval["accounts"]) == (
        "aws s3api delete-bucket --bucket acme-dev-sandbox",
        ["development"],
    )
    assert env.bridge.executed() == []


async def test_a_change_in_an_account_the_person_may_not_query_is_refused_plainly(
    runtime: AgentRuntime, env: AgentWorld, dave: str
) -> None:
    evs = await collect(
        runtime.invoke({"prompt": "delete bucket acme-prod-logs in production", "access_token": dave})
    )
    answer = texts(evs)
    assert "not entitled to query production" in answer
    assert "I did not change or run anything" in answer
    assert env.bridge.executed() == [] and not of_type(evs, "approval")


# ---- any model: the gate, proven with a scripted model --------------------------------------------


@pytest.fixture
def scripted(make_runtime: RuntimeFactory) -> Callable[[ScriptedModel], AgentRuntime]:
    """A runtime whose model is the given scripted model."""
    return lambda model: make_runtime(model_factory=lambda: model)


def _list_buckets() -> ToolStep:
    return ToolStep(
        [
            (
                "query",
                {
                    "account_id": STG,
                    "tool_name": "aws___call_aws",
                    "arguments": {"cli_command": "aws s3api list-buckets"},
                },
            )
        ]
    )


async def test_a_model_that_answers_a_change_with_a_read_is_overruled(
    scripted: Callable[[ScriptedModel], AgentRuntime], env: AgentWorld, alice: str
) -> None:
    model = ScriptedModel(
        [
            ToolStep([("resolve_accounts", {"targets": "staging"})]),
            _list_buckets(),
            TextStep("Here are staging's buckets: acme-staging-assets, acme-staging-logs."),
        ]
    )
    evs = await collect(
        scripted(model).invoke(
            {"prompt": "please delete bucket acme-staging-logs in staging", "access_token": alice}
        )
    )
    answer = texts(evs)
    assert "Here are staging's buckets" not in answer
    assert "I did not change or run anything" in answer
    assert "`run aws s3api delete-bucket --bucket acme-staging-logs in staging`" in answer
    assert not of_type(evs, "followups")  # no read follow-ups under a change request


async def test_a_model_that_claims_a_change_it_did_not_make_is_overruled(
    scripted: Callable[[ScriptedModel], AgentRuntime], env: AgentWorld, alice: str
) -> None:
    model = ScriptedModel([TextStep("Done — instance i-22220000 is stopped.")])
    evs = await collect(
        scripted(model).invoke({"prompt": "can you shut down i-22220000 in staging?", "access_token": alice})
    )
    answer = texts(evs)
    assert "is stopped" not in answer
    assert "`run aws ec2 stop-instances --instance-ids i-22220000 in staging`" in answer
    assert env.bridge.executed() == []


async def test_a_model_that_asks_for_the_change_keeps_its_answer_and_an_approval_waits(
    scripted: Callable[[ScriptedModel], AgentRuntime], env: AgentWorld, alice: str
) -> None:
    command = "aws s3api delete-bucket --bucket acme-staging-logs"
    model = ScriptedModel(
        [
            ToolStep([("resolve_accounts", {"targets": "staging"})]),
            ToolStep(
                [
                    (
                        "query",
                        {
                            "account_id": STG,
                            "tool_name": "aws___call_aws",
                            "arguments": {"cli_command": command},
                        },
                    )
                ]
            ),
            TextStep("(not reached: the turn ends at the approval)"),
        ]
    )
    evs = await collect(
        scripted(model).invoke(
            {"prompt": "remove the acme-staging-logs bucket from staging", "access_token": alice}
        )
    )
    [approval] = of_type(evs, "approval")
    assert approval["command"] == command
    assert "needs approval" not in texts(evs)  # the card announces it; no second line next to it
    assert "I did not change" not in texts(evs)
    assert env.bridge.executed() == []


async def test_a_model_that_explains_how_to_ask_is_kept(
    scripted: Callable[[ScriptedModel], AgentRuntime], env: AgentWorld, alice: str
) -> None:
    said = (
        "I cannot do that directly. Ask: `run aws ec2 reboot-instances --instance-ids i-22220000 in staging`."
    )
    model = ScriptedModel([TextStep(said)])
    evs = await collect(
        scripted(model).invoke({"prompt": "reboot i-22220000 in staging", "access_token": alice})
    )
    assert texts(evs) == said


async def test_a_hypothetical_answered_without_the_how_to_gets_it_appended(
    scripted: Callable[[ScriptedModel], AgentRuntime], env: AgentWorld, alice: str
) -> None:
    model = ScriptedModel([TextStep("Deleting a bucket removes it for good.")])
    evs = await collect(
        scripted(model).invoke(
            {
                "prompt": "what would happen if I deleted bucket acme-staging-logs in staging?",
                "access_token": alice,
            }
        )
    )
    answer = texts(evs)
    assert answer.startswith("Deleting a bucket removes it for good.")
    assert "`run aws s3api delete-bucket --bucket acme-staging-logs in staging`" in answer


async def test_a_read_question_is_untouched(
    scripted: Callable[[ScriptedModel], AgentRuntime], env: AgentWorld, alice: str
) -> None:
    model = ScriptedModel([_list_buckets(), TextStep("Staging has three buckets.")])
    evs = await collect(
        scripted(model).invoke({"prompt": "list stopped instances in staging", "access_token": alice})
    )
    assert texts(evs).startswith("Staging has three buckets.")
    assert "I did not change" not in texts(evs)


@pytest.mark.parametrize(
    ("prompt", "said"),
    [
        ("I want the bucket acme-dev-sandbox deleted in dev", "delete S3 bucket acme-dev-sandbox"),
        ("would you mind deleting bucket acme-x in staging", "delete S3 bucket acme-x"),
        ("the function staging-worker has to be removed in staging", "remove Lambda function staging-worker"),
        ("please shut down instance i-0abc in prod", "shut down EC2 instance i-0abc"),
    ],
)
def test_the_change_is_said_back_in_the_base_form_whatever_form_asked_it(prompt: str, said: str) -> None:
    intent = intents.classify(prompt)
    assert intent is not None
    assert intent.what() == said
