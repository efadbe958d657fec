"""EventBridge events are read by their documented shapes (examples as the AWS documentation shows them)."""

import json

import pytest

from bot.alerts.events import NotAnEvent, parse_event, parse_message
from bot.alerts.grammar import SelectionError, parse_selection
from centralops.accounts import AccountItem
from tests.fixtures.alerts import alarm_event

GUARDDUTY = {
    "version": "0",
    "id": "c8c4daa7-a20c-2f03-0070-b7393dd542ad",
    "detail-type": "GuardDuty Finding",
    "source": "aws.guardduty",
    "account": "333333333333",
    "time": "2026-12-03T13:04:05Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {
        "schemaVersion": "2.0",
        "accountId": "333333333333",
        "region": "us-east-1",
        "partition": "aws",
        "id": "16afba5c5c43e07c9e3e5e2e544e95df",
        "arn": "arn:aws:guardduty:us-east-1:333333333333:detector/123456/finding/16afba5c5c43e07c9e3e5e2e544e95df",
        "type": "Recon:EC2/PortProbeUnprotectedPort",
        "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-99999999"}},
        "service": {"serviceName": "guardduty", "detectorId": "2cb1a0c2b5c0f4d1e1f8f0f4c6b5c0c2", "count": 4},
        "severity": 8.2,
        "createdAt": "2026-12-03T12:50:00.000Z",
        "updatedAt": "2026-12-03T13:03:00.000Z",
        "title": "Unprotected port on EC2 instance i-99999999 is being probed.",
        "description": "EC2 instance has an unprotected port which is being probed by a known malicious host.",
    },
}
HEALTH = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "AWS Health Event",
    "source": "aws.health",
    "account": "222222222222",
    "time": "2026-12-03T06:27:57Z",
    "region": "us-west-2",
    "resources": ["i-abcd1111"],
    "detail": {
        "eventArn": "arn:aws:health:us-west-2::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/AWS_EC2_OPERATIONAL_ISSUE_7f35c8ae",
        "service": "EC2",
        "eventTypeCode": "AWS_EC2_OPERATIONAL_ISSUE",
        "eventTypeCategory": "issue",
        "eventScopeCode": "PUBLIC",
        "communicationId": "01b0993207d81a09dcd552ebd1e633e36cf1f09a-1",
        "startTime": "Thu, 03 Dec 2026 06:27:57 GMT",
        "lastUpdatedTime": "Thu, 03 Dec 2026 06:27:57 GMT",
        "statusCode": "open",
        "eventRegion": "us-west-2",
        "eventDescription": [
            {
                "language": "en_US",
                "latestDescription": "We are investigating increased error rates for EC2 APIs.",
            }
        ],
        "affectedEntities": [{"entityValue": "i-abcd1111"}],
    },
}
ECS = {
    "version": "0",
    "id": "3317b2af-7005-947d-b652-f55e762e571a",
    "detail-type": "ECS Task State Change",
    "source": "aws.ecs",
    "account": "444444444444",
    "time": "2026-12-03T13:10:01Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ecs:us-east-1:444444444444:task/dev-cluster/a1b2c3"],
    "detail": {
        "clusterArn": "arn:aws:ecs:us-east-1:444444444444:cluster/dev-cluster",
        "taskArn": "arn:aws:ecs:us-east-1:444444444444:task/dev-cluster/a1b2c3",
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:444444444444:task-definition/api:7",
        "group": "service:api",
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
        "stopCode": "EssentialContainerExited",
        "stoppedReason": "Essential container in task exited",
        "stoppedAt": "2026-12-03T13:10:00.512Z",
        "launchType": "FARGATE",
        "containers": [
            {"name": "api", "exitCode": 137, "lastStatus": "STOPPED", "reason": "OutOfMemoryError"}
        ],
        "version": 5,
    },
}


def test_cloudwatch_alarm_state_change() -> None:
    alert = parse_event(alarm_event(at=1_796_300_000.0))
    assert (alert.kind, alert.state, alert.severity, alert.resolved) == ("alarm", "ALARM", "high", False)
    assert alert.title == "prod-billing-errors" and alert.account_id == "333333333333"
    assert alert.subject == "arn:aws:cloudwatch:us-east-1:333333333333:alarm:prod-billing-errors"
    assert alert.time.timestamp() == 1_796_300_000.0  # the state's own timestamp (…+0000)
    assert ("Metric", "AWS/Lambda Errors") in alert.facts
    assert parse_event(alarm_event(state="OK")).resolved


def test_composite_alarm_has_no_metric_query() -> None:
    event = alarm_event()
    event["detail"]["configuration"] = {"alarmRule": "ALARM(a) OR ALARM(b)", "description": "composite"}
    alert = parse_event(event)
    assert alert.sibling_queries == () and ("Rule", "ALARM(a) OR ALARM(b)") in alert.facts


def test_guardduty_finding_severity_bands() -> None:
    alert = parse_event(GUARDDUTY)
    assert (alert.kind, alert.severity, alert.state) == ("finding", "high", "High 8.2")
    assert alert.queries == (
        "guardduty get-findings --detector-id 2cb1a0c2b5c0f4d1e1f8f0f4c6b5c0c2 "
        "--finding-ids 16afba5c5c43e07c9e3e5e2e544e95df --region us-east-1",
    )
    low = json.loads(json.dumps(GUARDDUTY))
    low["detail"]["severity"] = 2
    assert parse_event(low).severity == "low"


def test_health_event() -> None:
    alert = parse_event(HEALTH)
    assert (alert.kind, alert.severity, alert.state, alert.region) == ("health", "high", "open", "us-west-2")
    assert alert.reason == "We are investigating increased error rates for EC2 APIs."
    closed = json.loads(json.dumps(HEALTH))
    closed["detail"]["statusCode"] = "closed"
    assert parse_event(closed).resolved and parse_event(closed).subject == alert.subject


def test_ecs_task_stopped() -> None:
    alert = parse_event(ECS)
    assert (alert.kind, alert.severity, alert.title, alert.state) == (
        "task",
        "high",
        "service:api",
        "STOPPED",
    )
    assert "api exited 137" in alert.reason
    assert alert.queries[0].startswith(
        "ecs describe-tasks --cluster arn:aws:ecs:us-east-1:444444444444:cluster/dev-cluster"
    )


def test_other_events_are_shown_by_their_detail_type() -> None:
    event = {
        **ECS,
        "source": "aws.codepipeline",
        "detail-type": "CodePipeline Pipeline Execution State Change",
    }
    alert = parse_event(event)
    assert (alert.kind, alert.title) == ("event", "CodePipeline Pipeline Execution State Change")


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[]",
        '{"id": "x"}',
        json.dumps({**ECS, "account": "12"}),
        json.dumps({**ECS, "detail": []}),
    ],
)
def test_what_is_not_an_event_is_refused(body: str) -> None:
    with pytest.raises(NotAnEvent):
        parse_message(body)


ACCOUNTS = [
    AccountItem("333333333333", "production", "production", ("prod",), True, ()),
    AccountItem("222222222222", "staging", "staging", (), True, ()),
]


def test_selection_words() -> None:
    sel = parse_selection("production alarms here", ACCOUNTS)
    assert (sel.environments, sel.kinds, sel.min_severity) == (("production",), ("alarm",), "low")
    sel = parse_selection("prod 222222222222 findings, health high and above", ACCOUNTS)
    assert sel.accounts == ("222222222222", "333333333333")
    assert (sel.kinds, sel.min_severity) == (("finding", "health"), "high")
    with pytest.raises(SelectionError, match="prodution"):
        parse_selection("prodution alarms", ACCOUNTS)
