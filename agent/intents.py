"""Whether a request asks for a change, whatever its wording.

A request to create, change, delete, empty, stop, start, attach, detach, put,
reboot, scale or terminate something is never answered as a read. This module reads
the person's words (no model) and says:

- ``request``: they ask for the change ("delete bucket x in prod", "can you
  stop i-0abc?", "the bucket should be deleted");
- ``hypothetical``: they ask what it would do or how to do it ("what would
  happen if I deleted …", "how do I stop …");
- ``negated``: they ask for it *not* to happen ("don't delete …").

Past tense on its own ("who deleted the bucket?", "stopped instances") is a
question about what happened or a state, not a change. The offline planner
and the gate (:mod:`agent.gate`) both act on this classification.
"""

import re
from dataclasses import dataclass, replace
from typing import Any, Literal

from agent.accounts import trim_courtesy
from agent.resources import RESOURCES, Resource

Kind = Literal["request", "hypothetical", "negated"]

# Canonical change -> surface phrases (base forms; multi-word phrases first when matched).
VERBS: dict[str, tuple[str, ...]] = {
    "create": ("create", "make", "add", "launch", "provision", "spin up", "set up", "new"),
    "change": (
        "change",
        "modify",
        "update",
        "edit",
        "set",
        "rename",
        "configure",
        "enable",
        "disable",
        "tag",
        "untag",
        "grant",
        "revoke",
        "rotate",
        "reset",
        "deploy",
        "invoke",
        "restore",
        "roll back",
        "rollback",
        "open",
        "close",
        "apply",
        "allow",
        "block",
    ),
    "delete": (
        "delete",
        "remove",
        "destroy",
        "drop",
        "erase",
        "tear down",
        "get rid of",
        "nuke",
        "clean up",
    ),
    "empty": ("empty", "purge", "wipe", "clear out", "flush"),
    "stop": ("stop", "shut down", "shutdown", "halt", "turn off", "power off", "pause"),
    "start": ("start", "boot", "turn on", "power on", "resume", "bring up"),
    "attach": ("attach", "associate", "mount"),
    "detach": ("detach", "disassociate", "unmount"),
    "put": ("put", "upload", "write", "push", "publish", "send", "copy"),
    "reboot": ("reboot", "restart", "bounce", "power cycle", "power-cycle"),
    "scale": ("scale up", "scale down", "scale out", "scale in", "scale", "resize"),
    "terminate": ("terminate", "kill"),
}

# Irregular past forms and participles (regular ones are derived).
_IRREGULAR = {
    "make": ("made",),
    "set": ("set",),
    "put": ("put",),
    "shut": ("shut",),
    "spin": ("spun",),
    "tear": ("tore", "torn"),
    "get": ("got", "gotten"),
    "send": ("sent",),
    "write": ("wrote", "written"),
    "bring": ("brought",),
    "rid": ("rid",),
}

# An example of the exact command for each change when the request names no resource we know.
EXAMPLES: dict[str, str] = {
    "create": "aws s3api create-bucket --bucket <bucket-name>",
    "change": "aws lambda update-function-configuration --function-name <function> --timeout 30",
    "delete": "aws s3api delete-bucket --bucket <bucket-name>",
    "empty": "aws s3 rm s3://<bucket-name> --recursive",
    "stop": "aws ec2 stop-instances --instance-ids <instance-id>",
    "start": "aws ec2 start-instances --instance-ids <instance-id>",
    "attach": "aws ec2 attach-volume --volume-id <volume-id> --instance-id <instance-id> --device /dev/sdf",
    "detach": "aws ec2 detach-volume --volume-id <volume-id>",
    "put": "aws s3api put-bucket-tagging --bucket <bucket-name> --tagging 'TagSet=[{Key=team,Value=payments}]'",
    "reboot": "aws ec2 reboot-instances --instance-ids <instance-id>",
    "scale": "aws autoscaling set-desired-capacity --auto-scaling-group-name <group> --desired-capacity <n>",
    "terminate": "aws ec2 terminate-instances --instance-ids <instance-id>",
}

_LEAD = re.compile(
    r"^(?:(?:/aws|@centralops|<@[a-z0-9]+>|please|pls|plz|kindly|hey|hi|hello|ok|okay|so|now|yo|"
    r"just|quickly|urgent(?:ly)?|asap|then|and|also|go ahead and|let'?s|lets|"
    r"(?:can|could|would|will|wo)(?:n'?t)? (?:you|u|we|somebody|someone)(?: please)?(?: kindly)?|"
    r"would you mind|do you mind|mind|i'?d like (?:you )?to|i would like (?:you )?to|i want (?:you )?to|"
    r"i need (?:you )?to|we need to|we want to|we must|i must|you (?:should|must|need to)|"
    r"need to|want to|try to|help me|time to|it'?s time to|"
    r"is it possible to|are you able to|you can|can i get you to)[\s,:!]+)+"
)
_NEGATION = re.compile(
    r"^(?:please\s+)?(?:don'?t|do not|never|no need to|stop trying to|avoid|no,? don'?t|not to|"
    r"you don'?t have to|you do not need to|there is no need to|make sure (?:you )?(?:don'?t|do not|not to))\s+"
)
_HYPOTHETICAL = re.compile(
    r"^(?:what (?:would|will|could|might) happen (?:if|when) (?:i|we|you|someone|somebody)\s+(?:were to\s+)?|"
    r"what happens (?:if|when) (?:i|we|you|someone|somebody)\s+|what if (?:i|we|you)\s+|"
    r"how (?:do|can|could|would|should|might) (?:i|we|you|one|someone)\s+|how to\s+|"
    r"is it safe to\s+|can i safely\s+|should (?:i|we)\s+|"
    r"(?:show|tell) me how to\s+|explain how to\s+|what does it (?:take|mean) to\s+|"
    r"what would it take to\s+|is it possible for me to\s+|"
    r"is it (?:ok|okay|safe|possible|allowed|fine|a good idea) (?:for (?:me|us) )?to\s+|"
    r"am i allowed to\s+|are we allowed to\s+|"
    r"(?:can|could|may|shall|must|do|does) (?:i|we|one) (?:safely |just |still |really )?(?:need to |have to )?)"
)
_PASSIVE = re.compile(
    r"\b(?:needs?|has|have|must|should|ought|got)\s+(?:to\s+)?be\s+(\w+(?:\s+(?:down|up|off|on))?)\b"
)
# "I want the instance stopped", "we need bucket x deleted in staging".
_WANTED = re.compile(
    r"\b(?:want|need|'d like|would like)\s+(?!to\b)(.+?)\s+(\w+(?:\s+(?:down|up|off|on))?)"
    r"(?:\s+(?:in|on|from|across|for|within)\b.*)?$"
)
_CLAUSES = re.compile(r"\s*(?:[,;!?]+|\.(?:\s|$)|\band then\b|\bthen\b|\band\b|\bbut\b)\s*")
_READ_START = re.compile(
    r"^(?:list|show|what|which|how|count|get|find|display|describe|are|is|do|does|did|who|when|where|why)\b"
)
_ID = re.compile(
    r"^(?:i-[0-9a-f]{4,}|vol-[0-9a-f]+|vpc-[0-9a-f]+|arn:[\w:/.+=@,-]+|https://[\w:/.+=@,%-]+|[a-z0-9][a-z0-9._/+=@-]*)$"
)
_PREP = re.compile(r"\s(?:in|on|from|across|for|within|inside|at|of)\s+")
_NOT_NAMES = frozenset(
    "the a an my our all every each this that these those it them its one ones some any new old "
    "running stopped stopping pending terminated public private empty unused idle everything ok "
    "in on from across for within inside at of to with and or please now asap named called "
    "account accounts instance instances server servers".split()
)


def _past(base: str) -> set[str]:
    """Past forms and gerunds of one base word (``stop`` → stopped, stopping)."""
    forms = set(_IRREGULAR.get(base, ()))
    if base.endswith("e"):
        forms |= {base + "d", base[:-1] + "ing"}
    elif re.fullmatch(r"[^aeiou]*[aeiou][bdgkmnprt]", base) and base not in {"open", "edit"}:
        forms |= {base + base[-1] + "ed", base + base[-1] + "ing"}
    elif base.endswith("y") and base[-2:-1] not in set("aeiou"):
        forms |= {base[:-1] + "ied", base + "ing"}
    else:
        forms |= {base + "ed", base + "ing"}
    return forms


def _inflect(phrase: str) -> set[str]:
    head, _, rest = phrase.partition(" ")
    return {f"{form} {rest}".strip() for form in _past(head)}


def _table(inflected: bool) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for canonical, phrases in VERBS.items():
        for p in phrases:
            rows.extend((f, canonical) for f in (_inflect(p) if inflected else {p}))
    return sorted(rows, key=lambda r: len(r[0]), reverse=True)


_BASE = _table(inflected=False)
# "deleted" / "deleting" → "delete", "shutting down" → "shut down": what the echo says back.
_BASE_OF = {form: p for phrases in VERBS.values() for p in phrases for form in _inflect(p)}
_INFLECTED = _table(inflected=True)
_GERUNDS = [(f, c) for f, c in _INFLECTED if f.split()[0].endswith("ing")]
_WORDS: list[tuple[str, Resource]] = sorted(
    ((w, r) for r in RESOURCES if r.changes for w in r.words), key=lambda wr: len(wr[0]), reverse=True
)


@dataclass(frozen=True)
class ChangeIntent:
    """A request about changing something.

    Attributes:
        kind: ``request``, ``hypothetical`` or ``negated``.
        verb: The canonical change (``delete``, ``stop`` …).
        words: The words that said it (``shut down``).
        resource: The resource it is about, when named.
        name: The named resource (``acme-staging-logs``, ``i-0abc``).
        targets: The words naming the account(s).
        region: An explicit region.
    """

    kind: Kind
    verb: str
    words: str
    resource: Resource | None = None
    name: str | None = None
    targets: str | None = None
    region: str | None = None

    @property
    def command(self) -> str | None:
        """The exact AWS CLI command, when the resource and its name are known."""
        template = self.template
        if template is None or not self.name:
            return None
        return template.format(name=self.name)

    @property
    def template(self) -> str | None:
        """The command template (``{name}``) of this change of this resource, if CentralOps knows one."""
        if self.resource is None:
            return None
        return dict(self.resource.changes).get(self.verb)

    def example(self) -> str:
        """The command to ask for: exact when known, else with ``<placeholders>``."""
        if self.command:
            return self.command
        if self.template and self.resource is not None:
            return self.template.format(name=self.name or f"<{self.resource.key.removesuffix('s')}>")
        return EXAMPLES[self.verb]

    def how_to_ask(self) -> str:
        """``run aws … in <account>``: how a person asks for this change."""
        where = self.targets or "<account>"
        return f"`run {self.example()} in {where}`"

    @property
    def base_words(self) -> str:
        """The words that said it, in the base form (``deleted`` → ``delete``)."""
        return _BASE_OF.get(self.words, self.words)

    def what(self) -> str:
        """``delete the S3 bucket acme-x``: the change in words."""
        thing = self.resource.label[:-1] if self.resource and self.resource.label.endswith("s") else None
        obj = " ".join(p for p in (thing, self.name) if p) or "something"
        return f"{self.base_words} {obj}"


def _strip_lead(clause: str) -> str:
    m = _LEAD.match(clause)
    return clause[m.end() :] if m else clause


def _starts_with(clause: str, table: list[tuple[str, str]]) -> tuple[str, str] | None:
    for form, canonical in table:
        if clause == form or clause.startswith(form + " "):
            return form, canonical
    return None


# Words after a verb that make it a noun phrase: "start time", "stop reason", "update history".
_NOUN_AFTER = frozenset(
    "time times date dates reason reasons state status events event history log logs count size "
    "timestamp code config configuration settings policy policies protection keys values of script "
    "page button window period".split()
)
# Verbs that are also adjectives before a resource: "open alarms", "empty buckets", "new instances".
_ADJECTIVES = frozenset({"open", "close", "empty", "new", "block", "allow"})
# What follows a verb that really asks for a change in a later clause ("… and delete the empty ones").
_OBJECT_START = frozenset(
    "the a an all every each it them this that these those my our any some everything".split()
)


def _not_a_verb(form: str, after: list[str], *, later: bool) -> bool:
    """Whether the verb-looking word is a noun or an adjective here."""
    nxt = after[0] if after else ""
    if form == "new" or nxt in _NOUN_AFTER:
        return True
    resource_word = any(nxt == w or nxt == w + "s" for w, _ in _WORDS)
    if form in _ADJECTIVES and resource_word and nxt.endswith("s"):
        return True
    if later:
        # A later clause must name what to change: "and delete the empty ones", not "and start times".
        return not (nxt in _OBJECT_START or resource_word or any(c.isdigit() or c == "-" for c in nxt))
    return False


def _object(rest: str) -> tuple[Resource | None, str | None, str | None]:
    """The resource, its name and the target words in the words after the verb."""
    at = _targets_at(rest)
    targets = trim_courtesy(rest[at:]) or None if at is not None else None
    body = (
        rest
        if at is None
        else re.sub(r"\s*\b(?:in|on|from|across|for|within|inside|at|of)(?:\s+the)?$", "", rest[:at].strip())
    )
    resource = None
    for word, r in _WORDS:
        if re.search(rf"\b{re.escape(word)}\b", body):
            resource = r
            break
    tokens = [t.strip("'\"`()[]") for t in body.split()]
    names = [
        t
        for t in tokens
        if t
        and t not in _NOT_NAMES
        and _ID.match(t)
        and not any(t == w for w, _ in _WORDS)
        and not (t.isdigit() and len(t) != 12)
        and (any(c.isdigit() or c in "-_.:/" for c in t) or resource is not None)
    ]
    # An identifier-looking word ("staging-api", "i-0abc") beats a plain one ("memory", "ok").
    marked = [t for t in names if any(c.isdigit() or c in "-_.:/" for c in t)]
    chosen = marked or names
    name: str | None = chosen[-1] if chosen else None
    if name and name.startswith("i-") and resource is None:
        resource = next(r for r in RESOURCES if r.key == "instances")
    if name and resource is not None and name in {w for w, r in _WORDS if r is resource}:
        name = None
    return resource, name, targets


def classify(prompt: str) -> ChangeIntent | None:
    """The change a prompt asks about, or ``None`` when it asks for none.

    Direct commands (``run aws …``) are not classified here: the gate judges them on
    the command itself.
    """
    text = re.sub(r"<@[A-Z0-9]+(?:\|[^>]*)?>", " ", prompt)
    text = " ".join(text.lower().replace("\u2019", "'").split())
    if not text or re.match(r"^(?:/aws\s+)?run\s+", text) or re.match(r"^aws\s+\S+\s+\S+", text):
        return None
    region = None
    rm = re.search(r"(?<![\w:/-])(?:in\s+(?:region\s+)?)?([a-z]{2}(?:-gov)?-[a-z]+-\d)\b", text)
    if rm:
        region = rm.group(1)
        text = (text[: rm.start()] + text[rm.end() :]).strip()
    for index, clause in enumerate(c for c in _CLAUSES.split(text) if c):
        clause = _strip_lead(clause)
        kind: Kind = "request"
        if (m := _NEGATION.match(clause)) is not None:
            kind, clause = "negated", _strip_lead(clause[m.end() :])
        elif (m := _HYPOTHETICAL.match(clause)) is not None:
            kind, clause = "hypothetical", clause[m.end() :]
        hit = _starts_with(clause, _BASE)
        if hit is None and kind != "request":
            hit = _starts_with(clause, _INFLECTED)  # "what if I deleted …", "don't go deleting"
        elif hit is None:
            hit = _starts_with(clause, _GERUNDS)  # "would you mind deleting …"
        if hit is None:
            continue
        form, canonical = hit
        after = clause[len(form) :].split()
        if _not_a_verb(form, after, later=index > 0):
            continue
        at = text.find(clause)
        rest = text[at + len(form) :] if at >= 0 else clause[len(form) :]
        resource, name, targets = _object(rest.strip())
        return ChangeIntent(kind, canonical, form, resource, name, targets or _targets_of(text), region)
    if not _READ_START.match(_strip_lead(text)) and (wanted := _WANTED.search(text)) is not None:
        hit = _starts_with(wanted.group(2), _INFLECTED)
        if hit is not None and not hit[0].endswith("ing"):
            resource, name, targets = _object(wanted.group(1))
            return ChangeIntent("request", hit[1], hit[0], resource, name, _targets_of(text), region)
    passive = None if _READ_START.match(_strip_lead(text)) else _PASSIVE.search(text)
    if passive:
        hit = _starts_with(passive.group(1), _INFLECTED)
        if hit is not None:
            resource, name, targets = _object(text[: passive.start()])
            later = _targets_of(text[passive.end() :])
            return ChangeIntent("request", hit[1], hit[0], resource, name, later or targets, region)
    return None


def follow_up(earlier: str, now: Any) -> ChangeIntent | None:
    """The change a follow-up continues ("and in staging?" after "delete bucket x in prod").

    Args:
        earlier: The previous question.
        now: The follow-up as :func:`agent.grammar.parse_sentence` read it; one that names its
            own resource or action is a new question.
    """
    if now.resource is not None or now.action is not None or now.command is not None or not now.targets:
        return None
    before = classify(earlier)
    if before is None or before.kind != "request":
        return None
    return replace(before, targets=trim_courtesy(now.targets) or before.targets)


def _targets_at(text: str) -> int | None:
    """Where the account words start: after the last preposition not followed by a resource."""
    for m in reversed(list(_PREP.finditer(" " + text))):
        start = m.end() - 1
        the = re.match(r"the\s+", text[start:])
        if the:
            start += the.end()
        tail = text[start:].strip()
        first = tail.split()[0] if tail else ""
        if tail and not any(first == w or first.startswith(w) for w, _ in _WORDS) and first not in _NOT_NAMES:
            return start
    return None


def _targets_of(text: str) -> str | None:
    at = _targets_at(text)
    return (trim_courtesy(text[at:]) or None) if at is not None else None


def plain_refusal(intent: ChangeIntent, reasons: list[str] | None = None) -> str:
    """What a person reads when a change was asked for and no approval request came of it."""
    lines = [
        f"You asked me to {intent.what()}. That is a change, and I did not change or run anything for it. "
        "CentralOps makes changes only as one exact AWS CLI command that a second person approves.",
    ]
    if reasons:
        lines.append(" ".join(reasons))
    lines.append(f"To ask for it: {intent.how_to_ask()}. The approval request then shows the command.")
    return "\n\n".join(lines)


def hypothetical_answer(intent: ChangeIntent) -> str:
    """The answer to "what would happen if I …" / "how do I …" (nothing runs)."""
    return (
        f"I ran nothing: CentralOps does not simulate changes. To {intent.what()}, ask for the exact "
        f"command: {intent.how_to_ask()}. It waits for a second person's approval before it runs, "
        "and the approval request shows exactly what will run and where."
    )


def negated_answer(intent: ChangeIntent) -> str:
    """The answer to "don't delete …"."""
    return f"Understood: I will not {intent.base_words} anything. Nothing was run or changed."
