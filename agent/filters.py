"""Qualifiers of a question: state, public exposure, tags, time windows — applied or said.

``running instances``, ``alarms in ALARM``, ``public buckets``, ``tagged
team=payments``, ``in the last hour``: each is read out of the sentence before
the account words are (so ``alarms in ALARM in production`` names production),
and then either applied to the command (``--filters``, ``--state-value``, the
tagging API, a per-bucket check) or named in the answer as not applied. A
qualifier is never silently dropped.
"""

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from agent.resources import BY_KEY, Column, Resource

INSTANCE_STATES = ("running", "stopped", "stopping", "pending", "terminated", "shutting-down")
ALARM_STATES = {
    "alarm": "ALARM",
    "ok": "OK",
    "insufficient data": "INSUFFICIENT_DATA",
    "insufficient_data": "INSUFFICIENT_DATA",
}
# Adjectives people put before a resource that CentralOps cannot apply (yet): said, never dropped.
UNSUPPORTED = (
    "encrypted",
    "unencrypted",
    "unused",
    "idle",
    "oldest",
    "newest",
    "largest",
    "biggest",
    "smallest",
    "most expensive",
    "expensive",
    "cheapest",
    "failed",
    "failing",
    "healthy",
    "unhealthy",
    "versioned",
    "untagged",
    "inactive",
    "orphaned",
    "unattached",
    "deprecated",
    "private",
    "empty",
    "available",
)
# Tagging-API resource types (``--resource-type-filters``) of the catalogue's resources.
TAG_TYPES = {
    "buckets": "s3",
    "functions": "lambda:function",
    "tables": "dynamodb:table",
    "queues": "sqs",
    "topics": "sns",
    "stacks": "cloudformation:stack",
    "alarms": "cloudwatch:alarm",
    "databases": "rds:db",
    "vpcs": "ec2:vpc",
}
TAGGED = Resource(
    "tagged",
    "tagged resources",
    (),
    "aws resourcegroupstaggingapi get-resources",
    "ResourceTagMappingList",
    (Column("Resource", "ResourceARN"), Column("Tags", "Tags", fmt="tags")),
)
_TAG = re.compile(
    r"\b(?:tagged(?:\s+with)?|with\s+(?:the\s+)?tags?|having\s+(?:the\s+)?tags?|where\s+(?:the\s+)?tag|"
    r"whose\s+tag|tag)\s+([\w.:/+@-]+?)\s*(?:=|:|\s+is\s+|\s+equals?\s+|\s+of\s+)\s*([\w.:/+@-]+)",
    re.IGNORECASE,
)
_STATE_AFTER = re.compile(
    rf"\s+(?:that\s+|which\s+)?(?:are|is)\s+(?:currently\s+|now\s+)?({'|'.join(INSTANCE_STATES)})\b"
    rf"|\s+in\s+(?:the\s+)?(?:state\s+)?({'|'.join(INSTANCE_STATES)})(?:\s+state)?\b",
    re.IGNORECASE,
)
_STATE_BEFORE = re.compile(
    rf"\b(?:currently\s+)?({'|'.join(INSTANCE_STATES)})\s+(?=(?:[\w-]+\s+)?[a-z0-9]+\b)", re.IGNORECASE
)
_ALARM_AFTER = re.compile(
    r"(\balarms?)\s+(?:that\s+|which\s+)?(?:are\s+|is\s+)?(?:currently\s+)?(?:(?:in|with)\s+(?:the\s+)?)?"
    r"(?:state\s+)?(alarm|ok|insufficient[ _]data|firing|triggered|breaching|alerting)(?:\s+state)?\b",
    re.IGNORECASE,
)
_ALARM_BEFORE = re.compile(
    r"\b(firing|triggered|breaching|alerting|active)\s+(?=(?:cloudwatch\s+)?alarms?\b)", re.IGNORECASE
)
_PUBLIC_BEFORE = re.compile(
    r"\b(?:publicly\s+(?:accessible|readable|exposed)|public(?!\s+access)|exposed|open)\s+(?=(?:s3\s+)?buckets?\b)",
    re.IGNORECASE,
)
_PUBLIC_ANY = re.compile(
    r"(?:\s+(?:that\s+|which\s+)?(?:are|is)\s+(?:currently\s+)?)?"
    r"\b(?:publicly\s+(?:accessible|readable|exposed)|public(?!\s+access))\b",
    re.IGNORECASE,
)
# An alarm state written as AWS writes it, after any resource ("queues in ALARM"): case-sensitive.
_ALARM_WORD = re.compile(r"\s+(?:in\s+)?(?:state\s+)?(ALARM|INSUFFICIENT_DATA)\b")
_PUBLIC_AFTER = re.compile(
    r"(\bbuckets?)\s+(?:(?:that\s+|which\s+)?(?:are|is)\s+)?(?:publicly\s+(?:accessible|readable|exposed)|public(?!\s+access)|exposed|"
    r"open\s+to\s+the\s+(?:internet|world|public))\b",
    re.IGNORECASE,
)
_WINDOW = re.compile(
    r"\b(?:(?:in|over|during|for|from|within)\s+)?(?:the\s+)?(?:last|past|previous)\s+(?:(\d+|a|an|one|two|three|"
    r"seven|twenty[- ]four|24)\s+)?(minute|hour|day|week|month)s?\b"
    r"|\b(today|yesterday|this\s+week|this\s+month|since\s+yesterday)\b",
    re.IGNORECASE,
)
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "seven": 7, "twenty-four": 24, "twenty four": 24}
_UNSUPPORTED = re.compile(
    rf"(?:\s+(?:that\s+|which\s+)?(?:are|is)\s+(?:not\s+)?)?\b({'|'.join(re.escape(w) for w in UNSUPPORTED)})\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Window:
    """A time window: ``last 1 hour``, ``today``, ``last month`` (the calendar month before this one)."""

    words: str
    amount: int = 1
    unit: str = "hour"
    calendar: str | None = None  # today, yesterday, this week, this month

    def bounds(self, now: datetime | None = None) -> tuple[datetime, datetime]:
        """``(start, end)`` in UTC."""
        now = now or datetime.now(UTC)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.calendar == "today":
            return midnight, now
        if self.calendar in {"yesterday", "since yesterday"}:
            return midnight - timedelta(days=1), (midnight if self.calendar == "yesterday" else now)
        if self.calendar == "this week":
            return midnight - timedelta(days=midnight.weekday()), now
        if self.calendar == "this month":
            return midnight.replace(day=1), now
        if self.unit == "month":
            first = midnight.replace(day=1)
            start = first
            for _ in range(self.amount):
                start = (start - timedelta(days=1)).replace(day=1)
            return start, first
        step = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}.get(
            self.unit, timedelta(weeks=1)
        )
        return now - self.amount * step, now


@dataclass(frozen=True)
class Qualifiers:
    """What a sentence asked to narrow the answer by."""

    state: str | None = None
    alarm_state: str | None = None
    public: bool = False
    tags: tuple[tuple[str, str], ...] = ()
    window: Window | None = None
    other: tuple[str, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.state or self.alarm_state or self.public or self.tags or self.window or self.other)


def extract(text: str) -> tuple[str, Qualifiers]:
    """Read the qualifiers out of ``text``; returns the text without them, and them."""
    tags = [(t.group(1), t.group(2)) for t in _TAG.finditer(text)]
    m: re.Match[str] | None
    text = _TAG.sub(" ", text)
    window = None
    if m := _WINDOW.search(text):
        if m.group(3):
            window = Window(m.group(0).strip(), calendar=" ".join(m.group(3).lower().split()))
        else:
            raw = (m.group(1) or "1").lower()
            amount = int(raw) if raw.isdigit() else _NUMBERS.get(raw, 1)
            window = Window(m.group(0).strip(), amount=amount, unit=m.group(2).lower())
        text = text[: m.start()] + " " + text[m.end() :]
    alarm_state = None
    if m := _ALARM_AFTER.search(text):
        word = m.group(2).lower().replace("_", " ")
        alarm_state = ALARM_STATES.get(word, "ALARM")
        text = text[: m.start()] + m.group(1) + text[m.end() :]
    elif m := _ALARM_BEFORE.search(text):
        alarm_state = "ALARM"
        text = text[: m.start()] + text[m.end() :]
    elif m := _ALARM_WORD.search(text):
        alarm_state = m.group(1)
        text = text[: m.start()] + text[m.end() :]
    public = False
    if m := _PUBLIC_AFTER.search(text):
        public = True
        text = text[: m.start()] + m.group(1) + text[m.end() :]
    elif m := _PUBLIC_BEFORE.search(text) or _PUBLIC_ANY.search(text):
        public = True
        text = text[: m.start()] + text[m.end() :]
    state = None
    if m := _STATE_AFTER.search(text):
        state = (m.group(1) or m.group(2)).lower()
        text = text[: m.start()] + text[m.end() :]
    elif m := _STATE_BEFORE.search(text):
        state = m.group(1).lower()
        text = text[: m.start()] + text[m.end() :]
    other = tuple(dict.fromkeys(m.group(1).lower() for m in _UNSUPPORTED.finditer(text)))
    text = _UNSUPPORTED.sub(" ", text)
    return " ".join(text.split()), Qualifiers(state, alarm_state, public, tuple(tags), window, other)


@dataclass(frozen=True)
class Applied:
    """A resource's command with the qualifiers applied, and what the answer must say."""

    resource: Resource
    command: str
    said: tuple[str, ...]


def _shell(value: str) -> str:
    return value if re.fullmatch(r"[\w.:/+@=-]+", value) else "'" + value.replace("'", "") + "'"


def apply(resource: Resource, command: str, q: Qualifiers) -> Applied:
    """Apply what can be applied to a list command; say the rest."""
    said: list[str] = []
    label = resource.label
    if q.public:
        if resource.key == "buckets":
            resource = BY_KEY["public_buckets"]
            command = resource.list_command
            said.append(
                "Public exposure per bucket: its public access block, its bucket policy status and its ACL."
            )
        else:
            said.append(f"I cannot tell which {label} are public, so this lists all of them.")
    instance_filters = []
    if q.state:
        if resource.key == "instances":
            instance_filters.append(f"Name=instance-state-name,Values={q.state}")
            said.append(f"Only instances in state `{q.state}`.")
        else:
            said.append(f"I cannot filter {label} by the state `{q.state}`, so this lists all of them.")
    if q.alarm_state:
        if resource.key == "alarms":
            command += f" --state-value {q.alarm_state}"
            said.append(f"Only alarms in state `{q.alarm_state}`.")
        else:
            said.append(f"`{q.alarm_state}` is an alarm state; {label} have none, so this lists all of them.")
    if q.tags:
        pairs = ", ".join(f"`{k}={v}`" for k, v in q.tags)
        if resource.key == "instances":
            instance_filters.extend(f"Name=tag:{_shell(k)},Values={_shell(v)}" for k, v in q.tags)
            said.append(f"Only instances tagged {pairs}.")
        elif resource.key in TAG_TYPES:
            filters = " ".join(f"Key={_shell(k)},Values={_shell(v)}" for k, v in q.tags)
            command = (
                f"aws resourcegroupstaggingapi get-resources --tag-filters {filters} "
                f"--resource-type-filters {TAG_TYPES[resource.key]}"
            )
            resource = replace(TAGGED, label=label)
            said.append(f"Only {label} tagged {pairs} (through the Resource Groups Tagging API).")
        else:
            said.append(
                f"I cannot filter {label} by tag here, so this lists all of them (tags {pairs} not applied)."
            )
    if instance_filters:
        command += " --filters " + " ".join(instance_filters)
    if q.window:
        said.append(
            f"{label[:1].upper()}{label[1:]} are not listed by time, so “{q.window.words}” was not applied: "
            "this is what exists now."
        )
    for word in q.other:
        said.append(f"I cannot apply “{word}” to {label}, so this lists all of them.")
    return Applied(resource, command, tuple(said))
