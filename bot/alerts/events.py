"""EventBridge events from member accounts, read by their documented shapes into one :class:`Alert`.

Shapes read (the EventBridge envelope ``version, id, detail-type, source, account,
time, region, resources, detail`` and each service's ``detail``):

- ``aws.cloudwatch`` / ``CloudWatch Alarm State Change``: ``alarmName``,
  ``state {value, reason, timestamp}``, ``previousState``, ``configuration
  {description, metrics[].metricStat {metric {namespace, name, dimensions},
  period, stat}}`` (metric and composite alarms);
- ``aws.guardduty`` / ``GuardDuty Finding``: ``id``, ``type``, ``title``,
  ``description``, ``severity`` (1.0-10.0), ``updatedAt``, ``resource.resourceType``;
- ``aws.health`` / ``AWS Health Event``: ``eventArn``, ``service``,
  ``eventTypeCode``, ``eventTypeCategory``, ``statusCode``,
  ``eventDescription[].latestDescription``, ``eventRegion``;
- ``aws.ecs`` / ``ECS Task State Change``: ``taskArn``, ``clusterArn``,
  ``group``, ``lastStatus``, ``stoppedReason``, ``stopCode``, ``containers[]``.

Any other event (the configurable list of extra patterns) becomes a generic
alert named by its ``detail-type``. Every value here is AWS data, never markup:
renderers escape it for the field it lands in.
"""

import hashlib
import json
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

Kind = Literal["alarm", "finding", "health", "task", "event"]
KINDS: tuple[Kind, ...] = ("alarm", "finding", "health", "task", "event")
SEVERITIES = ("info", "low", "medium", "high", "critical")


class NotAnEvent(ValueError):
    """The message is not an EventBridge event (a poison message: it goes to the dead-letter queue)."""


def severity_rank(severity: str) -> int:
    """Position of a severity in :data:`SEVERITIES` (unknown words rank as ``info``)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


@dataclass(frozen=True)
class Alert:
    """One event, reduced to what a channel shows and what Investigate asks.

    Attributes:
        event_id: The EventBridge event id (a redelivery carries the same).
        kind: ``alarm``, ``finding``, ``health``, ``task`` or ``event``.
        account_id: The member account the event came from.
        region: Where it happened.
        time: When it happened (the state change's own timestamp when the event has one).
        title: The alarm name, the finding's title, the Health event type, the task's group...
        state: ``ALARM`` / ``OK`` / ``INSUFFICIENT_DATA``, a GuardDuty severity label, ``open`` / ``closed``...
        reason: Why, in AWS's words.
        severity: One of :data:`SEVERITIES`.
        subject: What the event is about, stable across its state changes (alarm ARN, finding id...).
        resolved: The event says the problem is over (alarm OK, Health event closed).
        console_url: Where to look at it in the AWS console.
        source: The event's ``source``.
        detail_type: The event's ``detail-type``.
        queries: Read-only AWS CLI commands (without ``aws``) that investigate it in its account.
        sibling_queries: Commands worth running in sibling environments' accounts as well.
    """

    event_id: str
    kind: Kind
    account_id: str
    region: str
    time: datetime
    title: str
    state: str
    reason: str
    severity: str
    subject: str
    resolved: bool = False
    console_url: str = ""
    source: str = ""
    detail_type: str = ""
    queries: tuple[str, ...] = ()
    sibling_queries: tuple[str, ...] = ()
    facts: tuple[tuple[str, str], ...] = field(default=())

    @property
    def subject_key(self) -> str:
        """A short stable key of :attr:`subject` in its account (for item keys)."""
        raw = f"{self.account_id}|{self.region}|{self.kind}|{self.subject}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def to_item(self) -> dict[str, Any]:
        """Plain values to keep with the channel's message (read back for Investigate and edits)."""
        return {
            "event_id": self.event_id,
            "kind": self.kind,
            "account_id": self.account_id,
            "region": self.region,
            "time": self.time.isoformat(),
            "title": self.title,
            "state": self.state,
            "reason": self.reason[:2000],
            "severity": self.severity,
            "subject": self.subject,
            "resolved": self.resolved,
            "console_url": self.console_url,
            "source": self.source,
            "detail_type": self.detail_type,
            "queries": list(self.queries),
            "sibling_queries": list(self.sibling_queries),
            "facts": [list(f) for f in self.facts],
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "Alert":
        """The alert kept by :meth:`to_item`."""
        kind = str(item.get("kind", "event"))
        return cls(
            event_id=str(item.get("event_id", "")),
            kind=kind if kind in KINDS else "event",
            account_id=str(item.get("account_id", "")),
            region=str(item.get("region", "")),
            time=_time(item.get("time")) or datetime.now(UTC),
            title=str(item.get("title", "")),
            state=str(item.get("state", "")),
            reason=str(item.get("reason", "")),
            severity=str(item.get("severity", "info")),
            subject=str(item.get("subject", "")),
            resolved=bool(item.get("resolved", False)),
            console_url=str(item.get("console_url", "")),
            source=str(item.get("source", "")),
            detail_type=str(item.get("detail_type", "")),
            queries=tuple(str(q) for q in item.get("queries") or ()),
            sibling_queries=tuple(str(q) for q in item.get("sibling_queries") or ()),
            facts=tuple((str(f[0]), str(f[1])) for f in item.get("facts") or () if len(f) == 2),
        )


def _time(value: Any) -> datetime | None:
    """ISO 8601 as EventBridge (``2019-10-02T17:04:40Z``) and CloudWatch (``…40.989+0000``) write it."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"  # +0000 -> +00:00
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _str(value: Any, limit: int = 1000) -> str:
    return " ".join(str(value).split())[:limit] if value is not None else ""


def _console(region: str, fragment: str, service: str = "cloudwatch") -> str:
    return f"https://{region}.console.aws.amazon.com/{service}/home?region={region}#{fragment}"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _q(value: str) -> str:
    return shlex.quote(value)


def _plain_value(*values: str) -> bool:
    """Values that fit the CLI's ``Name=…,Value=…`` shorthand as they are (no separators inside)."""
    return all(v and not set(v) & set(",= '\"[]{}") for v in values)


def parse_message(body: str) -> Alert:
    """The alert in an SQS message body (EventBridge delivers the event itself as the body).

    Raises:
        NotAnEvent: The body is not an EventBridge event with an id, account and detail.
    """
    try:
        event = json.loads(body)
    except (TypeError, ValueError) as e:
        raise NotAnEvent("the message body is not JSON") from e
    return parse_event(event)


def parse_event(event: Any) -> Alert:
    """The alert of one EventBridge event.

    Raises:
        NotAnEvent: The envelope lacks ``id``, ``account``, ``source``, ``detail-type`` or ``detail``.
    """
    if not isinstance(event, dict):
        raise NotAnEvent("the event is not a JSON object")
    missing = [k for k in ("id", "account", "source", "detail-type") if not isinstance(event.get(k), str)]
    if missing or not isinstance(event.get("detail"), dict):
        raise NotAnEvent(f"the event lacks {', '.join(missing) or 'detail'}")
    account = event["account"]
    if not (len(account) == 12 and account.isdigit()):
        raise NotAnEvent("the event's account is not a 12-digit account id")
    source, detail_type = event["source"], event["detail-type"]
    envelope: dict[str, Any] = {
        "event_id": event["id"][:128],
        "account_id": account,
        "region": _str(event.get("region"), 32) or "us-east-1",
        "source": source,
        "detail_type": detail_type,
    }
    when = _time(event.get("time")) or datetime.now(UTC)
    detail: dict[str, Any] = event["detail"]
    if source == "aws.cloudwatch" and detail_type == "CloudWatch Alarm State Change":
        return _alarm(envelope, when, detail, event.get("resources") or [])
    if source == "aws.guardduty" and detail_type == "GuardDuty Finding":
        return _finding(envelope, when, detail)
    if source == "aws.health" and detail_type in ("AWS Health Event", "AWS Health Abuse Event"):
        return _health(envelope, when, detail)
    if source == "aws.ecs" and detail_type == "ECS Task State Change":
        return _task(envelope, when, detail)
    return Alert(
        kind="event",
        time=when,
        title=_str(detail_type, 200),
        state=_str(detail.get("state") or detail.get("status") or "", 60) or "event",
        reason=_str(detail.get("reason") or detail.get("description") or "", 1000),
        severity="medium",  # an event an administrator chose to route here
        subject=event["id"],
        console_url=_console(envelope["region"], "", "events"),
        facts=(("Source", source),),
        **envelope,
    )


def _alarm(envelope: dict[str, Any], when: datetime, detail: dict[str, Any], resources: list[Any]) -> Alert:
    name = _str(detail.get("alarmName"), 255)
    state = _dict(detail.get("state"))
    value = _str(state.get("value"), 40) or "UNKNOWN"
    region = envelope["region"]
    arn = next((str(r) for r in resources if isinstance(r, str) and ":alarm:" in r), "")
    config = _dict(detail.get("configuration"))
    queries = [f"cloudwatch describe-alarms --alarm-names {_q(name)} --region {region}"]
    siblings: list[str] = []
    facts: list[tuple[str, str]] = []
    metric = _metric(config)
    if metric is not None:
        namespace, metric_name, dimensions, period, stat = metric
        facts.append(("Metric", f"{namespace} {metric_name}"))
        # A dimension that does not fit the CLI's shorthand as it is would be dropped or misread: then
        # no metric query at all, rather than one about a different (aggregated) metric.
        if all(_plain_value(k, v) for k, v in dimensions.items()):
            dims = " ".join(f"Name={k},Value={v}" for k, v in dimensions.items())
            start = (when.timestamp() - 3 * 3600) // 60 * 60
            end = (when.timestamp() + 900) // 60 * 60
            fmt = "%Y-%m-%dT%H:%M:%SZ"
            siblings.append(
                f"cloudwatch get-metric-statistics --namespace {_q(namespace)} --metric-name {_q(metric_name)}"
                + (f" --dimensions {dims}" if dims else "")
                + f" --statistics {stat} --period {period}"
                + f" --start-time {datetime.fromtimestamp(start, UTC).strftime(fmt)}"
                + f" --end-time {datetime.fromtimestamp(end, UTC).strftime(fmt)} --region {region}"
            )
    elif config.get("alarmRule"):
        facts.append(("Rule", _str(config.get("alarmRule"), 500)))
    if config.get("description"):
        facts.append(("Description", _str(config.get("description"), 500)))
    return Alert(
        kind="alarm",
        time=_time(state.get("timestamp")) or when,
        title=name or "unnamed alarm",
        state=value,
        reason=_str(state.get("reason"), 1000),
        severity={"ALARM": "high", "INSUFFICIENT_DATA": "low"}.get(value, "info"),
        subject=arn or f"alarm:{name}",
        resolved=value == "OK",
        console_url=_console(region, f"alarmsV2:alarm/{quote(name, safe='')}"),
        queries=tuple(queries),
        sibling_queries=tuple(siblings),
        facts=tuple(facts),
        **envelope,
    )


def _metric(config: dict[str, Any]) -> tuple[str, str, dict[str, str], int, str] | None:
    """The one metric a single-metric alarm watches: namespace, name, dimensions, period, statistic."""
    metrics = config.get("metrics")
    if not isinstance(metrics, list) or len(metrics) != 1 or not isinstance(metrics[0], dict):
        return None
    stat = metrics[0].get("metricStat")
    if not isinstance(stat, dict) or not isinstance(stat.get("metric"), dict):
        return None
    metric = stat["metric"]
    namespace, name = _str(metric.get("namespace"), 255), _str(metric.get("name"), 255)
    dims = _dict(metric.get("dimensions"))
    statistic = _str(stat.get("stat"), 40)
    if not namespace or not name or statistic not in {"Average", "Sum", "Minimum", "Maximum", "SampleCount"}:
        return None
    period = stat.get("period")
    return (
        namespace,
        name,
        {_str(k, 255): _str(v, 1024) for k, v in dims.items()},
        period if isinstance(period, int) and 1 <= period <= 86400 else 300,
        statistic,
    )


def _guardduty_severity(score: float) -> tuple[str, str]:
    # GuardDuty's documented bands: low 1.0-3.9, medium 4.0-6.9, high 7.0-8.9, critical 9.0-10.0.
    if score >= 9:
        return "critical", "Critical"
    if score >= 7:
        return "high", "High"
    if score >= 4:
        return "medium", "Medium"
    return "low", "Low"


def _finding(envelope: dict[str, Any], when: datetime, detail: dict[str, Any]) -> Alert:
    score = detail.get("severity")
    score = float(score) if isinstance(score, int | float) else 0.0
    severity, label = _guardduty_severity(score)
    finding_id = _str(detail.get("id"), 128)
    resource = _dict(detail.get("resource"))
    region = envelope["region"]
    service = _dict(detail.get("service"))
    detector = _str(service.get("detectorId"), 64)
    queries = (
        (
            f"guardduty get-findings --detector-id {_q(detector)} --finding-ids {_q(finding_id)} --region {region}",
        )
        if detector and finding_id
        else ()
    )
    return Alert(
        kind="finding",
        time=_time(detail.get("updatedAt")) or when,
        title=_str(detail.get("title"), 300) or _str(detail.get("type"), 200) or "GuardDuty finding",
        state=f"{label} {score:g}",
        reason=_str(detail.get("description"), 1000),
        severity=severity,
        subject=finding_id or envelope["event_id"],
        console_url=f"https://{region}.console.aws.amazon.com/guardduty/home?region={region}#/findings?search=id%3D{quote(finding_id, safe='')}",
        queries=queries,
        facts=(
            ("Finding type", _str(detail.get("type"), 200)),
            ("Resource", _str(resource.get("resourceType"), 100)),
        ),
        **envelope,
    )


def _health(envelope: dict[str, Any], when: datetime, detail: dict[str, Any]) -> Alert:
    status = _str(detail.get("statusCode"), 20) or "open"
    category = _str(detail.get("eventTypeCategory"), 40)
    descriptions = _list(detail.get("eventDescription"))
    text = next(
        (
            _str(d.get("latestDescription"), 1000)
            for d in descriptions
            if isinstance(d, dict) and d.get("language", "en_US").startswith("en")
        ),
        "",
    )
    arn = _str(detail.get("eventArn"), 512)
    region = _str(detail.get("eventRegion"), 32) or envelope["region"]
    return Alert(
        kind="health",
        time=_time(detail.get("lastUpdatedTime")) or _time(detail.get("startTime")) or when,
        title=_str(detail.get("eventTypeCode"), 200) or "AWS Health event",
        state=status,
        reason=text,
        severity={"issue": "high", "investigation": "high", "scheduledChange": "medium"}.get(category, "low"),
        subject=arn or envelope["event_id"],
        resolved=status == "closed",
        console_url="https://health.console.aws.amazon.com/health/home#/account/dashboard/open-issues",
        queries=(f"health describe-event-details --event-arns {_q(arn)} --region us-east-1",) if arn else (),
        facts=(("Service", _str(detail.get("service"), 60)), ("Category", category)),
        **{**envelope, "region": region},
    )


def _task(envelope: dict[str, Any], when: datetime, detail: dict[str, Any]) -> Alert:
    last = _str(detail.get("lastStatus"), 40) or "UNKNOWN"
    stop_code = _str(detail.get("stopCode"), 60)
    containers = _list(detail.get("containers"))
    exits = [
        f"{_str(c.get('name'), 60)} exited {c.get('exitCode')}"
        for c in containers
        if isinstance(c, dict) and c.get("exitCode") not in (None, 0)
    ]
    reason = "; ".join(filter(None, [_str(detail.get("stoppedReason"), 500), *exits[:3]]))
    if last != "STOPPED":
        severity = "info"
    elif stop_code in ("UserInitiated", "ServiceSchedulerInitiated", "SpotInterruption"):
        severity = "low"
    elif stop_code in ("EssentialContainerExited", "TaskFailedToStart") or exits:
        severity = "high"
    else:
        severity = "medium"
    task, cluster = _str(detail.get("taskArn"), 512), _str(detail.get("clusterArn"), 512)
    region = envelope["region"]
    cluster_name = cluster.rsplit("/", 1)[-1]
    return Alert(
        kind="task",
        time=_time(detail.get("stoppedAt")) or _time(detail.get("updatedAt")) or when,
        title=_str(detail.get("group"), 255) or task.rsplit("/", 1)[-1] or "ECS task",
        state=last,
        reason=reason,
        severity=severity,
        subject=task or envelope["event_id"],
        console_url=f"https://{region}.console.aws.amazon.com/ecs/v2/clusters/{quote(cluster_name, safe='')}/tasks?region={region}",
        queries=(f"ecs describe-tasks --cluster {_q(cluster)} --tasks {_q(task)} --region {region}",)
        if task and cluster
        else (),
        facts=(("Cluster", cluster_name), ("Stop code", stop_code)),
        **envelope,
    )
