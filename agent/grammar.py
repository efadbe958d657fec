"""The offline planner's grammar: what it understands, parsed without a model.

    <action> <resource> [<name>] [in|on|across|for|from|of <targets>] [in <region>]
    <targets> <resource>  |  how many <resource> does <targets> have

- action: ``list`` / ``show`` / ``what`` / ``which`` / ``get`` / ``find`` (list),
  ``how many`` / ``count`` / ``number of`` (count), ``describe`` / ``details of`` (describe);
  no verb means list.
- resource: any phrase of :data:`agent.resources.RESOURCES` (``buckets``, ``ec2 instances``,
  ``lambda functions``, ``dynamodb tables``, ``iam roles``, ``vpcs``, ``rds instances``,
  ``sqs queues``, ``sns topics``, ``cloudformation stacks``, ``cloudwatch alarms``...).
- targets: an account id, name or alias, an environment (``prod accounts``, ``all staging``),
  ``all accounts``, or a list (``staging and dev``).
- explicit commands: ``aws <service> <operation> ... in <targets>``.
- follow-ups reuse the previous question: ``and in production?``, ``what about dev?``,
  ``and lambda functions?``.
"""

import re
from dataclasses import dataclass, field, replace

from agent import filters
from agent.direct import parse_direct
from agent.filters import Qualifiers
from agent.resources import RESOURCES, Resource

_CODE = r"[a-z]{2}(?:-gov)?-[a-z]+-\d"
_REGION = re.compile(
    rf"(?<![\w:/-])(?:(?:in|across|over)\s+(?:the\s+)?(?:regions?\s+)?|regions?\s+)?({_CODE}(?:\s*(?:,|\band\b|&|\bor\b)\s*{_CODE})*)"
    r"(?:\s+regions?)?\b",
    re.IGNORECASE,
)
_ALL_REGIONS = re.compile(
    r"\b(?:(?:in|across|over|for)\s+)?(?:all|every|each)\s+(?:the\s+)?(?:enabled\s+|of\s+(?:its|their|the)\s+)?regions?\b"
    r"|\b(?:in|across)\s+(?:all\s+)?(?:the\s+)?enabled\s+regions\b|\bregion[- ]wide\b",
    re.IGNORECASE,
)
ALL_REGIONS = "*"
_PREP = r"(?:in|on|across|for|from|within|inside|at|of)"
# Words around a resource that never name an account ("what are the buckets", "do we have any queues").
_STOP = frozenset(
    "what which are is there do does we have has any me the all my our of show list get give find see display "
    "how many much count number total describe details tell about please can you could i some a an "
    "and also now then same".split()
)
_OWNER = re.compile(r"^\s*(?:does|do|did)\s+(.+?)\s+(?:have|has|run|contain|hold)\b", re.IGNORECASE)
_LEAD = re.compile(
    r"^(?:/aws\s+|@centralops\s+|please\s+|can you\s+|could you\s+|would you\s+|kindly\s+|hey\s+|ok\s+|so\s+)+"
)
_COUNT = re.compile(r"\b(how many|count|number of|total number of|how much)\b")
_DESCRIBE = re.compile(r"\b(describe|details of|details for|detail|tell me about|info on|information on)\b")
_LIST = re.compile(r"\b(list|show|what|which|get|find|display|give me|enumerate|print|see)\b")
_FOLLOW = re.compile(r"^(?:and|what about|how about|also|same for|now|then)\b\s*(?:in\s+|for\s+|on\s+)?(.*)$")
_CLI = re.compile(r"\baws\s+[a-z0-9-]+\s+[a-z0-9-]+")
_WORDS: list[tuple[str, Resource]] = sorted(
    ((w, r) for r in RESOURCES for w in r.words), key=lambda wr: len(wr[0]), reverse=True
)


@dataclass(frozen=True)
class Intent:
    """One understood request.

    Attributes:
        action: ``list``, ``count``, ``describe`` or ``run``.
        resource: The resource asked about (``None`` for ``run``).
        name: The named resource of a ``describe``.
        command: The CLI command of ``run``.
        targets: The phrase naming the account(s).
        region: An explicit region.
        qualifiers: State, exposure, tags, time window and other words that narrow the answer.
        regions: Several regions to fan out over (``("*",)``: every enabled region of each account).
    """

    action: str
    resource: Resource | None = None
    name: str | None = None
    command: str | None = None
    targets: str | None = None
    region: str | None = None
    qualifiers: Qualifiers = field(default_factory=Qualifiers)
    regions: tuple[str, ...] = ()

    def cli_command(self) -> str:
        """The command this intent runs (``{account_id}`` left in for account-scoped ones)."""
        return self.applied().command

    def applied(self) -> filters.Applied:
        """The command with the qualifiers applied, the resource whose table answers it, and what to say."""
        if self.action == "run" and self.command:
            return filters.Applied(self.resource or _RUN, self.command, ())
        assert self.resource is not None  # noqa: S101 - every non-run intent has a resource
        if self.action == "describe" and self.name and self.resource.describe_command:
            return filters.Applied(self.resource, self.resource.describe_command.format(name=self.name), ())
        return filters.apply(self.resource, self.resource.list_command, self.qualifiers)


@dataclass(frozen=True)
class Partial:
    """What one sentence says, possibly incomplete (a follow-up)."""

    action: str | None = None
    resource: Resource | None = None
    name: str | None = None
    command: str | None = None
    targets: str | None = None
    region: str | None = None
    qualifiers: Qualifiers = field(default_factory=Qualifiers)
    regions: tuple[str, ...] = ()


_RUN = Resource("run", "results", (), "", "", ())


def _clean(text: str) -> str:
    text = re.sub(r"<@[A-Z0-9]+(?:\|[^>]*)?>", " ", text)  # a Slack mention of the bot
    text = " ".join(text.strip().split())
    text = text.rstrip("?!.").strip()
    low = text.lower()
    m = _LEAD.match(low)
    return text[m.end() :] if m else text


def _targets(tail: str) -> str | None:
    m = re.search(rf"(?:^|\s){_PREP}\s+(.+)$", tail, re.IGNORECASE)
    if not m:
        return None
    t = re.sub(r"^(?:the\s+)?", "", m.group(1).strip(), flags=re.IGNORECASE)
    return t or None


def _regions_of(text: str) -> tuple[str | None, tuple[str, ...]]:
    """``(one region, several regions)`` named in the sentence; ``("*",)`` for every region."""
    low = text.lower()
    if _ALL_REGIONS.search(low):
        return None, (ALL_REGIONS,)
    codes = list(dict.fromkeys(c for m in _REGION.finditer(low) for c in re.findall(_CODE, m.group(1))))
    if len(codes) == 1:
        return codes[0], ()
    return None, tuple(codes)


def parse_sentence(raw: str) -> Partial:
    """Parse one sentence into what it says; missing parts stay ``None``."""
    text = _clean(raw)
    cli = _CLI.search(text.lower())
    if cli:
        # An explicit command reads like a direct one: "aws ec2 describe-vpcs in staging".
        direct = parse_direct("run " + text[cli.start() :])
        if direct is not None:
            return Partial("run", command=direct.command, targets=direct.targets or None)

    region, regions = _regions_of(text)
    text = _REGION.sub(" ", _ALL_REGIONS.sub(" ", text))
    text = " ".join(text.split())
    text, qualifiers = filters.extract(text)
    low = text.lower()

    resource = None
    rpos = (0, 0)
    for word, r in _WORDS:
        m = re.search(rf"\b{re.escape(word)}\b", low)
        if m:
            resource, rpos = r, (m.start(), m.end())
            break
    if resource is None and qualifiers.state and re.match(r"^(?:what|what's|whats|which|show|list)\b", low):
        # "what's running in staging?": only instances have a run state.
        resource = next(r for r in RESOURCES if r.key == "instances")
        rpos = (0, len(low.split(" in ")[0]) if " in " in low else len(low))
    action = None
    if _COUNT.search(low):
        action = "count"
    elif _DESCRIBE.search(low):
        action = "describe"
    elif _LIST.search(low):
        action = "list"

    name = None
    if resource is not None:
        after = text[rpos[1] :]
        targets = _targets(after)
        if action == "describe":
            nm = re.match(rf"\s+(?!{_PREP}\s)([A-Za-z0-9_.:/@+=-]+)", after)
            if nm and nm.group(1).lower() not in {"in", "on", "across", "for", "from"}:
                name = nm.group(1)
        if targets is None and (owner := _OWNER.match(after)):
            targets = owner.group(1)  # "how many tables does dev have"
        if targets is None:
            # "staging buckets", "prod lambda functions": the words before the resource.
            before = [w for w in low[: rpos[0]].split() if w not in _STOP]
            targets = " ".join(before) or None
        return Partial(action, resource, name, None, targets, region, qualifiers, regions)

    # Without a resource, only an explicit count is an action ("what about dev?" is not a list).
    action = "count" if action == "count" else None
    fm = _FOLLOW.match(low)
    if fm and fm.group(1):
        return Partial(
            action,
            None,
            None,
            None,
            _targets("in " + text[fm.start(1) :]) or None,
            region,
            qualifiers,
            regions,
        )
    targets = _targets(text)
    if targets is None and action is None and 0 < len(low.split()) <= 3 and not _LIST.search(low):
        targets = text  # a bare reply to "which account?": "production", "staging and dev"
    return Partial(action, None, None, None, targets or None, region, qualifiers, regions)


def parse(prompt: str, history: list[str] | None = None) -> Intent | None:
    """Understand ``prompt``, completing a follow-up from earlier prompts (newest first).

    Returns:
        The intent, or ``None`` when the prompt is outside the grammar. An intent
        may lack ``targets`` (the planner then asks which accounts).
    """
    now = parse_sentence(prompt)
    if now.action == "run":
        return Intent("run", command=now.command, targets=now.targets, region=now.region, regions=now.regions)
    if now == Partial():
        return None  # nothing here to complete: "tell me a joke" must not repeat the last question
    merged = now
    if now.resource is None or now.targets is None:
        for earlier in history or []:
            before = parse_sentence(earlier)
            if before.action == "run" and now.resource is None:
                if before.command is None:
                    continue
                return Intent(
                    "run", command=before.command, targets=now.targets or before.targets, region=now.region
                )
            if before.resource is None:
                continue
            merged = replace(
                now,
                action=now.action or before.action,
                resource=now.resource or before.resource,
                name=now.name if now.resource else before.name,
                targets=now.targets or before.targets,
                region=now.region or (None if now.regions else before.region),
                qualifiers=now.qualifiers if (now.qualifiers or now.resource) else before.qualifiers,
                regions=now.regions or (() if now.region else before.regions),
            )
            break
    if merged.resource is None:
        return None
    return Intent(
        merged.action or "list",
        merged.resource,
        merged.name,
        None,
        merged.targets,
        merged.region,
        merged.qualifiers,
        merged.regions,
    )


HELP = """I am the offline planner: I understand a fixed set of requests, and this one is outside it.

What I understand:
- **list / show** a resource: `list buckets in staging`, `show ec2 instances in prod accounts`
- **count**: `how many lambda functions in all accounts?`, `count sqs queues in staging and dev`
- **describe** one resource: `describe function staging-api in staging`
- resources: S3 buckets, EC2 instances, Lambda functions, DynamoDB tables, IAM roles, VPCs, \
RDS instances, SQS queues, SNS topics, CloudFormation stacks, CloudWatch alarms
- accounts: a name, alias or id, an environment (`prod accounts`, `all staging`), `all accounts`, or a list
- filters: `running instances`, `alarms in ALARM`, `public buckets`, `instances tagged team=payments`
- regions: `list functions in staging in all regions`, `… in eu-west-1 and us-east-1`
- cost: `what did we spend last month in staging`, `top services by cost in production`
- logs: `errors in the last hour in function staging-api in staging`
- changes: `delete bucket acme-x in staging` asks a second person to approve that exact command
- explicit commands: `run aws ec2 describe-vpcs in staging` (or `--account staging`)
- follow-ups: `and in production?`, `what about dev?`

For free-form questions, configure a real model: set `CENTRALOPS_MODEL_PROVIDER` to `bedrock` \
(Claude on Amazon Bedrock; `CENTRALOPS_MODEL_ID`, `CENTRALOPS_MODEL_REGION`), `anthropic`, `openai` \
or `ollama` (`CENTRALOPS_MODEL_BASE_URL`), and restart the agent."""
