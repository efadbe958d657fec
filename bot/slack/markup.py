"""One escaping rule per Slack field, applied where the field is filled.

Slack's formatting reference says all text in Slack shares one escaping
system: ``&``, ``<`` and ``>`` are control characters (``<!channel>``,
``<@U…>``, ``<https://…|label>``) and must be sent as ``&amp;``, ``&lt;``,
``&gt;`` when they are not meant as controls. The ``markdown`` block and
``markdown_text`` additionally read standard markdown, whose links are
``[label](url)``, and Slack turns bare URLs, e-mail addresses and
``@here``-style words into links and mentions.

- :func:`mrkdwn` — ``mrkdwn`` text objects, the ``text`` of messages and
  confirm dialogs: the three control characters are escaped.
- :func:`markdown` — ``markdown_text`` and ``markdown`` blocks: the control
  characters are escaped too, and every link-forming sequence is broken with
  an invisible word joiner (U+2060), so no text in it can become a mention, a
  broadcast or a link. Code spans keep their text (nothing links inside code).
- :func:`code` — data shown as inline code in mrkdwn.
- :func:`notification` — the top-level ``text`` Slack uses for notifications
  and previews: a short plain sentence with no markup at all.
"""

import re

WORD_JOINER = "\u2060"

# Code spans and fences (CommonMark: a run of backticks closed by a run of the same length): kept as
# written, since nothing links inside code; only control characters are escaped there.
_CODE = re.compile(r"((?<![`\\])(`+)(?!`).+?(?<!`)\2(?!`))", re.S)
# What could start a link or mention in markdown: a URL scheme (`https:` before `//`), `www.`,
# `@name` (mentions, @here, e-mail autolinks), `](`/`][`/`]:` (inline, reference and definition links).
_LINKISH = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*:(?=//)|\bwww(?=\.)|@(?=\w)|\](?=[(\[:])")
_MARKUP = re.compile(r"[*_~`#|]+")
_CUT_ENTITY = re.compile(r"&[a-z]*$")
_SPACE = re.compile(r"\s+")


def mrkdwn(text: str) -> str:
    """``text`` for a mrkdwn field: ``&``, ``<`` and ``>`` escaped, so nothing in it is a control sequence."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str, limit: int = 500) -> str:
    """``text`` as inline mrkdwn code (backticks inside would end the span)."""
    body = text.replace("`", "'").replace("\n", " ")
    if len(body) > limit:
        body = body[: limit - 1] + "…"
    return f"`{mrkdwn(body)}`"


def _break_links(text: str) -> str:
    return _LINKISH.sub(lambda m: m.group(0) + WORD_JOINER, text)


def markdown(text: str) -> str:
    """``text`` for ``markdown_text`` or a ``markdown`` block: no mention, broadcast or link can form."""
    out, at = [], 0
    for m in _CODE.finditer(text):
        out.append(mrkdwn(_break_links(text[at : m.start()])))
        out.append(mrkdwn(m.group(0)))
        at = m.end()
    out.append(mrkdwn(_break_links(text[at:])))
    return "".join(out)


def plain(text: str) -> str:
    """Markdown or mrkdwn reduced to its words: markup characters and line breaks dropped."""
    return _SPACE.sub(" ", _MARKUP.sub("", text)).strip()


def notification(text: str, limit: int = 150) -> str:
    """The top-level ``text`` of a message: a short plain sentence, escaped, never markup."""
    short = mrkdwn(_break_links(plain(text)))
    if len(short) > limit:
        short = _CUT_ENTITY.sub("", short[: limit - 1]).rstrip() + "…"
    return short or "CentralOps"
