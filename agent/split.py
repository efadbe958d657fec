"""A read over many accounts as several concurrent bridge calls, so each account shows as it answers.

A Gateway Lambda target answers once per call, so a fan-out sent as one
``query_accounts`` call reports every account when the slowest one is done.
The agent instead spreads the accounts of a read evenly over at most
``CENTRALOPS_FANOUT_CALLS`` calls, sent at once on the caller's one pooled
Gateway session, and reports each call's accounts as that call returns.

- Only reads are split: a call carrying an approval is sent exactly once, as
  approved (``calls=1``).
- Every split call is an ordinary ``query_accounts`` call: the Gateway and the
  bridge check each one as they check any other.
- Each call carries ``inline_share`` (its fraction of the bridge's inline
  response budget), so the calls together return no more inline than one
  call would; each offloads its own full results.
- A call that does not get through marks its own accounts failed; a read is
  retried once on a fresh session, never a change. A failed call evicts the
  pooled session (the pool closes a session marked broken).
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from typing import Any

from agent.answers import full_results_of, human_bytes, loads
from agent.gateway import Gateway, GatewayError
from centralops import events
from centralops.events import Event

logger = logging.getLogger(__name__)

SHARE_FIELD = "inline_share"
SPLIT_TOOL = "query_accounts"


def spread(account_ids: Sequence[str], calls: int) -> list[list[str]]:
    """The accounts in at most ``calls`` groups of near-equal size, in their order; one per account when few."""
    k = max(1, min(calls, len(account_ids)))
    size, extra = divmod(len(account_ids), k)
    groups, start = [], 0
    for i in range(k):
        end = start + size + (1 if i < extra else 0)
        groups.append(list(account_ids[start:end]))
        start = end
    return [g for g in groups if g]


@dataclass(frozen=True)
class Part:
    """One bridge call of a fan-out and what it returned.

    Attributes:
        index: Its place among the calls (the accounts' order).
        account_ids: The accounts it named.
        ok: Whether the call got through (the bridge's own per-account errors are in ``text``).
        text: The bridge's JSON result; empty when the call failed.
    """

    index: int
    account_ids: list[str]
    ok: bool
    text: str


def plan(
    tool: str, arguments: Mapping[str, Any], account_ids: Sequence[str], calls: int
) -> list[tuple[list[str], str, dict[str, Any]]]:
    """The calls to send: ``(accounts, tool, arguments)`` each; the call itself when it is not split.

    An account named twice is sent once, as the bridge does within one call.
    """
    groups = spread(list(dict.fromkeys(account_ids)), calls)
    if len(groups) <= 1:
        return [(list(account_ids), tool, dict(arguments))]
    base = {k: v for k, v in arguments.items() if k not in {"account_id", "account_ids", SHARE_FIELD}}
    share = round(1 / len(groups), 6)
    return [(g, SPLIT_TOOL, {**base, "account_ids": g, SHARE_FIELD: share}) for g in groups]


async def run_parts(
    session: Callable[[], AbstractAsyncContextManager[Gateway]],
    tool: str,
    arguments: Mapping[str, Any],
    account_ids: Sequence[str],
    *,
    calls: int,
    retry: bool,
) -> AsyncIterator[Part]:
    """Send the calls of one bridge request at once and yield each as it returns.

    Args:
        session: Opens (or checks out) the caller's Gateway session.
        tool: ``query`` or ``query_accounts``, as the gate reviewed it.
        arguments: The reviewed arguments.
        account_ids: The accounts the request names, in order.
        calls: At most this many calls (``1``: the request as it is, e.g. an approved change).
        retry: Whether a call that did not get through is sent once more on a fresh session (reads only).
    """
    pending = list(enumerate(plan(tool, arguments, account_ids, calls)))
    for attempt in range(2 if retry else 1):
        failed: list[tuple[int, tuple[list[str], str, dict[str, Any]]]] = []
        async with AsyncExitStack() as stack:
            try:
                gw = await stack.enter_async_context(session())
            except GatewayError:
                if attempt == 0:
                    raise  # nothing was sent: the invocation says the Gateway cannot be reached
                break  # the retry found no Gateway: these calls fail, the others' results stand
            running = {
                asyncio.ensure_future(gw.call(suffix, args)): (i, (ids, suffix, args))
                for i, (ids, suffix, args) in pending
            }
            try:
                while running:
                    finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    for task in sorted(finished, key=lambda t: running[t][0]):
                        i, sent = running.pop(task)
                        ok, text = task.result()
                        if ok:
                            yield Part(i, sent[0], True, text)
                        else:
                            failed.append((i, sent))
            finally:  # the listener went away (Stop, a closed connection): nothing keeps running unseen
                for task in running:
                    task.cancel()
        if not failed:
            return
        logger.info(
            "gateway session replaced after a failed call",
            extra={"attempt": attempt + 1, "calls": len(failed)},
        )
        pending = sorted(failed)
    for i, (ids, _, _) in pending:
        yield Part(i, ids, False, "")


def attachments(texts: Sequence[str]) -> tuple[list[Event], str]:
    """The ``file`` events for the full results the bridge offloaded, and the note for the answer.

    One call that offloaded gives what a single call gives (one ``centralops-results.json``).
    Several give one file each (``centralops-results-1-of-3.json`` …), in the accounts' order:
    each is an object its own bridge call wrote, and merging them would make the bot hold every
    part in memory at once to write one more copy.
    """
    if len(texts) == 1:
        event, note = full_results_of(texts[0])
        return ([event] if event is not None else []), note
    refs: list[Mapping[str, Any]] = []
    problems: list[str] = []
    for text in texts:
        doc = loads(text)
        if not isinstance(doc, Mapping):
            continue
        ref = doc.get("full_results")
        if (
            isinstance(ref, Mapping)
            and isinstance(ref.get("bucket"), str)
            and isinstance(ref.get("key"), str)
        ):
            refs.append(ref)
        elif isinstance(doc.get("full_results_error"), str) and doc["full_results_error"] not in problems:
            problems.append(doc["full_results_error"])
    note = "".join("\n\n_" + p + "_" for p in problems)
    if not refs:
        return [], note
    files: list[Event] = []
    for n, ref in enumerate(refs, 1):
        size, accounts = int(ref.get("bytes") or 0), int(ref.get("accounts") or 0)
        summary = f"Full results of {accounts} accounts ({human_bytes(size)})"
        name = "centralops-results.json"
        if len(refs) > 1:
            summary += f", part {n} of {len(refs)}"
            name = f"centralops-results-{n}-of-{len(refs)}.json"
        files.append(events.file(name, str(ref["bucket"]), str(ref["key"]), size, summary))
    return files, _note(refs) + note


def _note(refs: Sequence[Mapping[str, Any]]) -> str:
    size = sum(int(r.get("bytes") or 0) for r in refs)
    accounts = sum(int(r.get("accounts") or 0) for r in refs)
    files = "a file" if len(refs) == 1 else f"{len(refs)} files"
    return (
        f"\n\n_The output above is cut per account; the full results of {accounts} accounts "
        f"({human_bytes(size)}) are attached as {files}._"
    )
