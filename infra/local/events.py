"""Alerts on one machine: moto's EventBridge and SQS wired as ``infra/stacks/events.py`` wires AWS.

:func:`wire` creates, in the central account, the ``centralops-alerts`` bus (its
policy admits the registered member accounts), the queue the bot consumes with
its dead-letter queue, and the rule between them; in each member account, the
rules that forward alarm state changes (and the other documented events) from
its default bus towards the central bus.

moto 5.2 does deliver a member rule's event to a bus in another account, but it
re-puts it there as the central account's own event: ``account``, ``resources``
and the id are lost, so nobody could tell which account an alarm came from. The
local stack therefore stands in for that one hop: each member rule targets a
queue in its own account (moto keeps the event whole there), and
:func:`relay` moves what arrives to the central queue, admitting only the
accounts the central bus policy names, as EventBridge would.

moto does not emit an event when an alarm changes state, so :func:`set_alarm_state`
is the local alarm simulator: it sets the alarm's state in the member account and
puts the documented ``CloudWatch Alarm State Change`` event on that account's bus.

``python -m infra.local.events production prod-billing-errors ALARM`` does it
against a running stack (``.local/stack.json``).
"""

import argparse
import json
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from centralops import settings
from infra.event_patterns import DEFAULT_PATTERNS
from infra.local import org

BUS = "centralops-alerts"
QUEUE = "centralops-alerts"
DEAD_LETTERS = "centralops-alerts-dlq"
FORWARD = "centralops-forward"  # per member account: stands in for the cross-account hop
# moto's default target input leaves out ``account``; this transformer gives the whole envelope, as
# EventBridge sends it by default.
_FIELDS = ("id", "detail-type", "source", "account", "time", "region", "resources", "detail")
WHOLE_EVENT = {
    "InputPathsMap": {f: f"$.{f}" for f in _FIELDS},
    "InputTemplate": '{"version": "0", "id": "<id>", "detail-type": "<detail-type>", "source": "<source>", '
    '"account": "<account>", "time": <time>, "region": "<region>", "resources": <resources>, "detail": <detail>}',
}


@dataclass(frozen=True)
class Wired:
    """What the bot needs to consume alerts."""

    queue_url: str
    dead_letter_url: str
    bus_arn: str

    def env(self) -> dict[str, str]:
        """The bot's settings."""
        return {
            settings.ALERTS_QUEUE_URL: self.queue_url,
            settings.ALERTS_DEAD_LETTER_URL: self.dead_letter_url,
        }


def _central(endpoint: str) -> boto3.Session:
    return boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=org.REGION)  # noqa: S106


def member_session(endpoint: str, account_id: str) -> boto3.Session:
    """Credentials moto files under ``account_id`` (an assumed role there)."""
    creds = (
        _central(endpoint)
        .client("sts", endpoint_url=endpoint)
        .assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
            RoleSessionName="centralops-alerts",
        )["Credentials"]
    )
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=org.REGION,
    )


def wire(endpoint: str) -> Wired:
    """Create the central bus, queues and rule, and each member account's forwarding rules."""
    central = _central(endpoint)
    sqs = central.client("sqs", endpoint_url=endpoint)
    dlq = sqs.create_queue(QueueName=DEAD_LETTERS)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(
        QueueName=QUEUE,
        Attributes={
            "VisibilityTimeout": "180",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    eb = central.client("events", endpoint_url=endpoint)
    bus_arn = eb.create_event_bus(Name=BUS)["EventBusArn"]
    members = [a.account_id for a in org.ACCOUNTS]
    for account_id in members:
        eb.put_permission(
            EventBusName=BUS,
            Action="events:PutEvents",
            Principal=account_id,
            StatementId=f"member-{account_id}",
        )
    eb.put_rule(Name="to-bot", EventBusName=BUS, EventPattern=json.dumps({"account": members}))
    eb.put_targets(Rule="to-bot", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": queue_arn}])
    for account_id in members:
        session = member_session(endpoint, account_id)
        forward = session.client("sqs", endpoint_url=endpoint).create_queue(QueueName=FORWARD)["QueueUrl"]
        forward_arn = f"arn:aws:sqs:{org.REGION}:{account_id}:{FORWARD}"
        del forward
        member = session.client("events", endpoint_url=endpoint)
        for name, pattern in DEFAULT_PATTERNS.items():
            member.put_rule(Name=f"centralops-forward-{name.lower()}", EventPattern=json.dumps(pattern))
            member.put_targets(
                Rule=f"centralops-forward-{name.lower()}",
                Targets=[{"Id": "central-bus", "Arn": forward_arn, "InputTransformer": WHOLE_EVENT}],
            )
    return Wired(queue, dlq, bus_arn)


def admitted(endpoint: str) -> set[str]:
    """The accounts the central bus policy admits (``events:PutEvents`` principals)."""
    bus = _central(endpoint).client("events", endpoint_url=endpoint).describe_event_bus(Name=BUS)
    policy = json.loads(bus.get("Policy") or "{}")
    out = set()
    for statement in policy.get("Statement", []):
        principal = statement.get("Principal", {})
        principal = principal.get("AWS", "") if isinstance(principal, dict) else principal
        for p in principal if isinstance(principal, list) else [principal]:
            out.add(str(p).split(":")[4] if str(p).startswith("arn:") else str(p))
    return out


def relay(endpoint: str, account_id: str) -> int:
    """Move the events a member account's rules forwarded to the central queue; how many were admitted."""
    session = member_session(endpoint, account_id)
    sqs = session.client("sqs", endpoint_url=endpoint)
    try:
        forward = sqs.get_queue_url(QueueName=FORWARD)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        return 0  # no forwarding rule in this account: nothing leaves it, as in AWS
    central = _central(endpoint).client("sqs", endpoint_url=endpoint)
    queue = central.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    allowed = account_id in admitted(endpoint)
    moved = 0
    while messages := sqs.receive_message(QueueUrl=forward, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            if allowed:  # the central bus refuses PutEvents from any other account
                central.send_message(QueueUrl=queue, MessageBody=message["Body"])
                moved += 1
            sqs.delete_message(QueueUrl=forward, ReceiptHandle=message["ReceiptHandle"])
    return moved


def alarm_detail(alarm: dict[str, Any], state: str, reason: str) -> dict[str, Any]:
    """The ``detail`` CloudWatch writes for a metric alarm's state change (from ``DescribeAlarms``)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
    previous = str(alarm.get("StateValue") or "INSUFFICIENT_DATA")
    return {
        "alarmName": alarm["AlarmName"],
        "state": {"value": state, "reason": reason, "timestamp": stamp},
        "previousState": {
            "value": previous,
            "reason": str(alarm.get("StateReason") or ""),
            "timestamp": stamp,
        },
        "configuration": {
            "description": str(alarm.get("AlarmDescription") or ""),
            "metrics": [
                {
                    "id": uuid.uuid4().hex[:8],
                    "metricStat": {
                        "metric": {
                            "namespace": alarm.get("Namespace", ""),
                            "name": alarm.get("MetricName", ""),
                            "dimensions": {d["Name"]: d["Value"] for d in alarm.get("Dimensions") or []},
                        },
                        "period": int(alarm.get("Period") or 60),
                        "stat": str(alarm.get("Statistic") or "Sum"),
                    },
                    "returnData": True,
                }
            ],
        },
    }


def set_alarm_state(endpoint: str, account_id: str, name: str, state: str, reason: str) -> str:
    """Set an alarm's state in its account and put the event CloudWatch would send; the event id.

    An alarm the account does not have is described as a Lambda ``Errors`` alarm (for tests of
    accounts that have none, such as an unregistered one).
    """
    session = member_session(endpoint, account_id)
    cloudwatch = session.client("cloudwatch", endpoint_url=endpoint)
    found = cloudwatch.describe_alarms(AlarmNames=[name]).get("MetricAlarms", [])
    alarm = found[0] if found else {"AlarmName": name, "Namespace": "AWS/Lambda", "MetricName": "Errors"}
    if found:
        cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason[:1000])
    got = session.client("events", endpoint_url=endpoint).put_events(
        Entries=[
            {
                "Source": "aws.cloudwatch",
                "DetailType": "CloudWatch Alarm State Change",
                "Resources": [f"arn:aws:cloudwatch:{org.REGION}:{account_id}:alarm:{name}"],
                "Detail": json.dumps(alarm_detail(alarm, state, reason)),
            }
        ]
    )
    relay(endpoint, account_id)
    return str(got["Entries"][0].get("EventId", ""))


def main(argv: list[str] | None = None) -> int:
    """``python -m infra.local.events <account> <alarm> <ALARM|OK|INSUFFICIENT_DATA> [reason]``."""
    parser = argparse.ArgumentParser(prog="python -m infra.local.events", description=main.__doc__)
    parser.add_argument("account", help="account name or id (e.g. production)")
    parser.add_argument("alarm")
    parser.add_argument("state", choices=["ALARM", "OK", "INSUFFICIENT_DATA"])
    parser.add_argument(
        "reason", nargs="?", default="Threshold Crossed: 1 datapoint [3.0] >= the threshold (1.0)."
    )
    parser.add_argument("--stack", type=Path, default=Path(".local/stack.json"))
    args = parser.parse_args(argv)
    info = json.loads(args.stack.read_text())
    account = next((a for a in org.ACCOUNTS if args.account in (a.name, a.account_id)), None)
    if account is None:
        print(
            f"No account {args.account!r}; one of {', '.join(a.name for a in org.ACCOUNTS)}.", file=sys.stderr
        )
        return 2
    print(set_alarm_state(info["moto_url"], account.account_id, args.alarm, args.state, args.reason))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
