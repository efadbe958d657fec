"""The alerts infrastructure as synthesised: the central bus admits only registered accounts, the queue
has its dead-letter queue, the member rules forward the documented events, and the bot may consume."""

import json
from typing import Any

from centralops import settings
from tests.fixtures.infra_cdk import MEMBERS, as_list, role_statements, synthesized


def _one(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (only,) = resources.values()
    return only


def _logical(synth: Any, stack: str, resource_type: str, contains: str) -> str:
    return next(k for k in synth.resources(stack, resource_type) if contains in k)


def test_central_bus_admits_only_the_registered_member_accounts() -> None:
    synth = synthesized()
    bus = _one(synth.resources("Events", "AWS::Events::EventBus"))
    assert bus["Properties"]["Name"] == "centralops-alerts"
    policy = _one(synth.resources("Events", "AWS::Events::EventBusPolicy"))
    statement = policy["Properties"]["Statement"]
    principals = as_list(statement["Principal"]["AWS"])
    text = json.dumps(principals)
    assert all(f":iam::{m}:root" in text for m in MEMBERS) and len(principals) == len(MEMBERS)
    assert statement["Action"] == "events:PutEvents" and statement["Effect"] == "Allow"


def test_the_rule_sends_registered_accounts_events_to_the_queue_with_a_dead_letter_queue() -> None:
    synth = synthesized()
    rule = _one(synth.resources("Events", "AWS::Events::Rule"))
    assert sorted(rule["Properties"]["EventPattern"]["account"]) == sorted(MEMBERS)
    (target,) = rule["Properties"]["Targets"]
    queue_id = _logical(synth, "Events", "AWS::SQS::Queue", "Queue")
    dlq_id = _logical(synth, "Events", "AWS::SQS::Queue", "DeadLetters")
    assert target["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
    queue = synth.template("Events")["Resources"][queue_id]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": 5,
    }
    key_id = _logical(synth, "Events", "AWS::KMS::Key", "Key")
    assert queue["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]} and queue["VisibilityTimeout"] >= 120
    key_policy = synth.template("Events")["Resources"][key_id]["Properties"]["KeyPolicy"]["Statement"]
    (events_use,) = [s for s in key_policy if s.get("Principal") == {"Service": "events.amazonaws.com"}]
    assert "aws:SourceArn" in json.dumps(events_use["Condition"]) and "kms:*" not in events_use["Action"]
    # EventBridge may send to the queue only for this rule.
    for policy in synth.resources("Events", "AWS::SQS::QueuePolicy").values():
        for s in policy["Properties"]["PolicyDocument"]["Statement"]:
            if s["Effect"] == "Allow":
                assert s["Principal"] == {
                    "Service": "events.amazonaws.com"
                } and "aws:SourceArn" in json.dumps(s)


def test_the_bot_consumes_the_queue_and_writes_only_the_dead_letter_queue_and_the_alerts_table() -> None:
    synth = synthesized()
    role = _logical(synth, "Bot", "AWS::IAM::Role", "TaskRole")
    statements = role_statements(synth, "Bot", role)
    actions = {a for s in statements for a in as_list(s["Action"]) if a.startswith("sqs:")}
    assert actions == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:SendMessage",
    }
    send = next(s for s in statements if "sqs:SendMessage" in as_list(s["Action"]))
    assert "DeadLetters" in str(send["Resource"])
    task = _one(synth.resources("Bot", "AWS::ECS::TaskDefinition"))
    env = {e["Name"] for c in task["Properties"]["ContainerDefinitions"] for e in c.get("Environment", [])}
    assert {settings.ALERTS_QUEUE_URL, settings.ALERTS_DEAD_LETTER_URL, settings.ALERTS_TABLE} <= env


def test_member_rules_forward_the_documented_events_to_the_central_bus() -> None:
    synth = synthesized()
    template = synth.template("MemberEvents")
    assert "CentralBusArn" in template["Parameters"]
    rules = synth.resources("MemberEvents", "AWS::Events::Rule")
    patterns = {
        (
            tuple(r["Properties"]["EventPattern"]["source"]),
            tuple(r["Properties"]["EventPattern"]["detail-type"]),
        )
        for r in rules.values()
    }
    assert patterns == {
        (("aws.cloudwatch",), ("CloudWatch Alarm State Change",)),
        (("aws.guardduty",), ("GuardDuty Finding",)),
        (("aws.health",), ("AWS Health Event",)),
        (("aws.ecs",), ("ECS Task State Change",)),
    }
    for rule in rules.values():
        (target,) = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Ref": "CentralBusArn"} and "RoleArn" in target
    role = _logical(synth, "MemberEvents", "AWS::IAM::Role", "ForwardRole")
    (statement,) = role_statements(synth, "MemberEvents", role)
    assert statement["Action"] == "events:PutEvents" and statement["Resource"] == {"Ref": "CentralBusArn"}
