"""What one answer costs: ``python -m bench.throughput [--answers N] [--concurrency C]``.

Starts the local stack (:class:`infra.local.stack.LocalStack`, on free ports)
and answers two kinds of question as alice:

- ``direct``: ``run aws s3api list-buckets in staging`` (skips the model);
- ``planner``: ``list buckets in staging`` (the offline planner).

For each kind it reports, per answer:

- ``aws_requests``: the AWS requests moto received (moto's request recorder),
  by ``service:operation``, with the ones that arrived before the agent's
  first ``text`` event counted apart (``before_first_text``). The agent is
  called over its Runtime contract for this, twice in one session (a first
  turn and a follow-up), so reading an existing conversation is counted; the
  same question through Slack (``slack_path``) adds the bot's own requests.
  ``command`` counts the requests of the AWS CLI command itself;
  ``stand_in`` the AWS MCP stand-in's own look-ups (its account mapping),
  which a real AWS MCP Server does not make against our account;
  ``background`` what runs whatever the answers and lands in a window by
  chance: the bot's outbox sweeper (a ``Scan`` of the sparse ``undelivered``
  index every 5 s per replica) and its alerts consumer's SQS long poll. None of these three is in ``besides_command``.
  On the Slack path the bot's own requests are the answer's outbox item (its
  creation claims the delivery) and one ``TransactWriteItems`` after the close
  (the delivery mark with the feedback record, the channel's accounts and the
  recent query); the identity link is kept 60 s per replica. ``slack_calls``
  lists the Slack Web API calls of that answer, in order, as the stand-in
  recorded them (a file upload counts its upload URL, the upload and its
  completion).
- ``cpu_ms``: CPU time (user + system, from ``/proc/<pid>/stat``) each
  process of the stack spent per answer, over ``--answers`` sequential
  slash commands through the real Bolt app (recording off).
- ``answers_per_s``: slash commands answered per second with ``--concurrency``
  of them in flight at once (each in its own channel).

The machine may be loaded by other work: CPU time per process is the figure
to compare; wall-clock figures are indicative. ``load_avg`` is reported.
The last line printed is a JSON object, also written to ``.local/bench/throughput.json``.
"""

import argparse
import asyncio
import base64
import collections
import json
import os
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench import report
from bench.first_text import runtime_token
from centralops.events import iter_sse
from infra.local import org
from infra.local.consoles.slack import SlackConsole
from infra.local.stack import LocalStack, Ports

PROMPTS = {"direct": "run aws s3api list-buckets in staging", "planner": "list buckets in staging"}
EXPECTED = org.account("staging").buckets[0]
PROCESSES = ("agent", "bot", "gateway", "aws-mcp", "moto")
_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/")


def cpu_ms(pid: int) -> float:
    """User plus system CPU time of a process (all its threads), in milliseconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * _TICK_MS


def operation(entry: dict[str, Any]) -> str:
    """``service:Operation`` of one recorded moto request."""
    headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
    scope = _SCOPE.search(headers.get("authorization", ""))
    service = scope.group(1) if scope else "?"
    target = headers.get("x-amz-target")
    if target:
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    action = re.search(r"(?:^|&)Action=([A-Za-z]+)", body) or re.search(
        r"[?&]Action=([A-Za-z]+)", entry["url"]
    )
    if action:
        return f"{service}:{action.group(1)}"
    path = httpx.URL(entry["url"]).path
    depth = "object" if path.strip("/").count("/") else ("bucket" if path.strip("/") else "service")
    return f"{service}:{entry['method']} {depth}"


def is_command(entry: dict[str, Any]) -> bool:
    """Whether the request was made by the AWS CLI command itself (the AWS MCP stand-in runs it)."""
    return "aws-cli/" in str(
        {k.lower(): v for k, v in entry.get("headers", {}).items()}.get("user-agent", "")
    )


class Recording:
    """moto's request recorder, read straight from its file."""

    def __init__(self, path: Path, moto_url: str) -> None:
        self.path = path
        self.moto_url = moto_url

    def start(self) -> None:
        httpx.post(f"{self.moto_url}/moto-api/recorder/start-recording").raise_for_status()

    def stop(self) -> None:
        httpx.post(f"{self.moto_url}/moto-api/recorder/stop-recording").raise_for_status()

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def count(self) -> int:
        return len(self.entries())


def summarise(window: list[dict[str, Any]], before: int) -> dict[str, Any]:
    """Counts of one answer's requests; the first ``before`` arrived before the first text."""
    ops = [operation(e) for e in window]
    command = [is_command(e) for e in window]
    stand_in = [
        (o == "sts:GetCallerIdentity" and not c) or _is_sweep(o, e)
        for o, c, e in zip(ops, command, window, strict=True)
    ]
    sweeps = sum(_is_sweep(o, e) for o, e in zip(ops, window, strict=True))
    ours = [o for o, c, s in zip(ops, command, stand_in, strict=True) if not c and not s]
    ours_before = [
        o
        for o, c, s in zip(ops[:before], command[:before], stand_in[:before], strict=True)
        if not c and not s
    ]
    return {
        "total": len(window),
        "command": sum(command),
        "stand_in": sum(stand_in) - sweeps,
        "background": sweeps,
        "besides_command": len(ours),
        "before_first_text": len(ours_before),
        "by_operation": dict(collections.Counter(ours)),
        "by_table": dict(
            collections.Counter(
                f"{o} {t}"
                for o, c, s, t in zip(ops, command, stand_in, map(_table, window), strict=True)
                if t and not c and not s
            )
        ),
    }


def _is_sweep(op: str, entry: dict[str, Any]) -> bool:
    """Whether a request is periodic background work (the outbox sweep, the alerts queue's long poll)."""
    return (op == "dynamodb:Scan" and _table(entry) == "outbox") or op == "sqs:ReceiveMessage"


def _table(entry: dict[str, Any]) -> str:
    """The DynamoDB table a recorded request named (its kind: the stack's tables share a prefix)."""
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    found = re.search(r'"TableName"\s*:\s*"([^"]+)"', body) or re.search(
        r'"RequestItems"\s*:\s*\{\s*"([^"]+)"', body
    )
    return found.group(1).rsplit("-", 1)[-1] if found else ""


def agent_turn(
    client: httpx.Client, runtime_url: str, token: str, prompt: str, session: str, rec: Recording
) -> dict[str, Any]:
    """One invocation over SSE; the requests it caused, split at the first text event."""
    start = rec.count()
    at_first_text: int | None = None
    answer = ""
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "text/event-stream",
        "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": session,
    }
    with client.stream("POST", runtime_url, json={"prompt": prompt}, headers=headers, timeout=60) as response:
        response.raise_for_status()
        for event in iter_sse(response.iter_lines()):
            if event["type"] == "text":
                if at_first_text is None:
                    at_first_text = rec.count()
                answer += event["delta"]
            elif event["type"] == "table":  # the listing itself arrives as a table
                answer += json.dumps(event["rows"])
            elif event["type"] == "error":
                raise RuntimeError(f"{prompt!r} failed: {event['message']}")
    if EXPECTED not in answer and "production" not in prompt:
        raise RuntimeError(f"{prompt!r} did not answer with staging's buckets: {answer[:200]!r}")
    time.sleep(0.3)  # writes made after `done` (none are expected) land before the window closes
    entries = rec.entries()[start:]
    before = (at_first_text or start) - start
    return summarise(entries, before)


def count_agent(info: org.StackInfo, rec: Recording) -> dict[str, Any]:
    """Requests per answer at the agent: a first turn and a follow-up in one session, per kind."""
    token = runtime_token(info, org.person("alice"))  # what the bot sends: exchanged, the bot as actor
    out: dict[str, Any] = {}
    with httpx.Client() as client:
        for prompt in PROMPTS.values():  # warm-up: caches, role assumption, MCP sessions
            agent_turn(client, info.runtime_url, token, prompt, f"bench-warm-{uuid.uuid4().hex}", rec)
        for kind, prompt in PROMPTS.items():
            session = f"bench-throughput-{uuid.uuid4().hex}"
            first = agent_turn(client, info.runtime_url, token, prompt, session, rec)
            follow = agent_turn(client, info.runtime_url, token, prompt, session, rec)
            out[kind] = {"first_turn": first, "follow_up": follow}
    return out


async def slash(console: SlackConsole, prompt: str, channel: str) -> None:
    """One slash command as alice, waited for; checks the answer."""
    thread = await console.slash("alice", prompt, channel)
    if EXPECTED not in thread.render():
        raise RuntimeError(f"{prompt!r} did not answer with staging's buckets: {thread.render()[:300]!r}")


async def count_slack(info: org.StackInfo, rec: Recording) -> dict[str, Any]:
    """Requests per answer through Slack (bot included), one warm answer per kind."""
    console = SlackConsole.from_stack(info)
    out: dict[str, Any] = {}
    try:
        for kind, prompt in PROMPTS.items():
            # Warm in the channel counted: role credentials are per person and channel.
            await slash(console, prompt, "C0COUNT")
            start, calls = rec.count(), len(await console.calls())
            await slash(console, prompt, "C0COUNT")
            await asyncio.sleep(0.3)
            out[kind] = summarise(rec.entries()[start:], 0)
            del out[kind]["before_first_text"]
            methods = [c["method"] for c in (await console.calls())[calls:]]
            out[kind]["slack_calls"] = {"total": len(methods), "sequence": methods}
    finally:
        await console.close()
    return out


async def cpu_per_answer(stack: LocalStack, info: org.StackInfo, answers: int) -> dict[str, Any]:
    """CPU milliseconds per answer of each process, over ``answers`` sequential slash commands."""
    pids = {p.name: p.popen.pid for p in stack.processes if p.name in PROCESSES}
    console = SlackConsole.from_stack(info)
    out: dict[str, Any] = {}
    try:
        for kind, prompt in PROMPTS.items():
            await slash(console, prompt, "C0WARM")
            before = {name: cpu_ms(pid) for name, pid in pids.items()}
            started = time.perf_counter()
            for i in range(answers):
                await slash(console, prompt, f"C0CPU{i % 4}")
            wall = time.perf_counter() - started
            out[kind] = {name: round((cpu_ms(pid) - before[name]) / answers, 1) for name, pid in pids.items()}
            out[kind]["wall_ms_per_answer"] = round(wall * 1000 / answers, 1)
    finally:
        await console.close()
    return out


async def throughput(info: org.StackInfo, answers: int, concurrency: int) -> dict[str, Any]:
    """Answers per second with ``concurrency`` slash commands in flight, per kind."""
    console = SlackConsole.from_stack(info)
    out: dict[str, Any] = {}
    try:
        for kind, prompt in PROMPTS.items():

            async def worker(n: int, queue: list[int], prompt: str = prompt) -> None:
                while queue:
                    queue.pop()
                    await slash(console, prompt, f"C0LOAD{n}")

            started = time.perf_counter()
            queue = list(range(answers))
            await asyncio.gather(*(worker(n, queue) for n in range(concurrency)))
            out[kind] = round(answers / (time.perf_counter() - started), 2)
    finally:
        await console.close()
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=20, help="sequential answers per kind for CPU (20)")
    parser.add_argument("--concurrency", type=int, default=4, help="answers in flight for answers_per_s (4)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="centralops-bench-") as root:
        recording = Path(root) / "moto-recording.jsonl"
        os.environ["MOTO_RECORDER_FILEPATH"] = str(recording)  # moto inherits it; recording starts off
        stack = LocalStack(Path(root), Ports.free(), model="offline")
        with stack as info:
            rec = Recording(recording, info.moto_url)
            rec.start()
            try:
                agent_counts = count_agent(info, rec)
                slack_counts = asyncio.run(count_slack(info, rec))
            finally:
                rec.stop()
            cpu = asyncio.run(cpu_per_answer(stack, info, args.answers))
            rate = asyncio.run(throughput(info, args.answers, args.concurrency))
    result: dict[str, Any] = {
        "prompts": PROMPTS,
        "aws_requests": {"agent_path": agent_counts, "slack_path": slack_counts},
        "cpu_ms_per_answer": cpu,
        "answers_per_s": rate,
        "concurrency": args.concurrency,
        "answers": args.answers,
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    report("throughput", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
