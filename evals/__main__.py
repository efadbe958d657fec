"""``python -m evals [--model PROVIDER] [--category NAME] [--cases DIR]``: run the evaluation.

The model defaults to ``CENTRALOPS_MODEL_PROVIDER`` or, when unset, ``offline`` (the
deterministic planner). ``bedrock``, ``anthropic`` and ``openai`` run the same cases
wherever their credentials exist; ``CENTRALOPS_MODEL_ID``, ``CENTRALOPS_MODEL_REGION``
and ``CENTRALOPS_MODEL_BASE_URL`` pass through to the agent.
"""

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import httpx

from bench import RESULTS
from bench.first_text import runtime_token
from centralops import settings
from centralops.events import iter_sse
from evals import cases as case_data
from evals.cases import Call, Case
from evals.score import Observed, by_category, calls_of, failures
from infra import tables
from infra.local import org
from infra.local.stack import LocalStack, Ports

PASS_THROUGH = (settings.MODEL_ID, settings.MODEL_REGION, settings.MODEL_BASE_URL)
CREDENTIALS = {
    "anthropic": ("ANTHROPIC_API_KEY",),
    "openai": ("OPENAI_API_KEY", settings.MODEL_BASE_URL),
    "bedrock": (
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ),
}


def model_env(provider: str) -> dict[str, str]:
    """The agent's extra environment for ``provider``.

    Raises:
        SystemExit: The provider's credentials are not in this environment.
    """
    env = {k: os.environ[k] for k in PASS_THROUGH if os.environ.get(k)}
    needed = CREDENTIALS.get(provider)
    if needed and not any(os.environ.get(k) for k in needed):
        raise SystemExit(
            f"The '{provider}' model needs credentials: set one of {', '.join(needed)} "
            "(or run `make eval` without a provider for the offline planner)."
        )
    if provider == "bedrock":
        # The local stack points every AWS client at moto; Bedrock alone goes to AWS, with the
        # caller's own credentials (moto accepts any).
        region = os.environ.get(settings.MODEL_REGION) or os.environ.get("AWS_REGION") or "us-east-1"
        env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = f"https://bedrock-runtime.{region}.amazonaws.com"
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            if os.environ.get(key):
                env[key] = os.environ[key]
    return env


class Evaluation:
    """Runs cases against a started local stack."""

    def __init__(self, info: org.StackInfo) -> None:
        self.info = info
        self.client = httpx.Client(timeout=180)
        self.tokens: dict[str, str] = {}
        self.names = {a.account_id: a.name for a in (*org.ACCOUNTS, org.MANAGEMENT)}
        dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=info.moto_url,
            region_name=org.REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto accepts any secret
        )
        self.dynamodb = dynamodb
        self.audit_table = info.tables[tables.AUDIT.setting]
        self.seen_audit: set[str] = set()
        self._new_audit()

    def token(self, person: str) -> str:
        """What the bot sends the Runtime for a seeded person (by Slack name): their exchanged token."""
        if person not in self.tokens:
            self.tokens[person] = runtime_token(self.info, org.person(person))
        return self.tokens[person]

    def _new_audit(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.audit_table}
        while True:
            page = self.dynamodb.scan(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        fresh = []
        for item in items:
            audit_id = item["audit_id"]["S"]
            if audit_id not in self.seen_audit:
                self.seen_audit.add(audit_id)
                fresh.append({k: next(iter(v.values())) for k, v in item.items()})
        return fresh

    def ask(self, prompt: str, person: str, session: str, seen: Observed) -> None:
        """One turn; its events are added to ``seen``."""
        headers = {
            "Authorization": f"Bearer {self.token(person)}",
            "Accept": "text/event-stream",
            "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": session,
        }
        with self.client.stream(
            "POST", self.info.runtime_url, json={"prompt": prompt}, headers=headers
        ) as response:
            response.raise_for_status()
            for typed in iter_sse(response.iter_lines()):
                event: dict[str, Any] = dict(typed)
                kind = event["type"]
                if kind == "text":
                    seen.text += event["delta"]
                elif kind == "table":  # facts in a table count as said: one line per row
                    lines = [event.get("title", ""), " | ".join(event["columns"])]
                    lines += [" | ".join(row) for row in event["rows"]]
                    seen.text += "\n" + "\n".join(lines) + "\n"
                elif kind == "approval":
                    seen.approvals.append(
                        Call("approval", event["command"], tuple(sorted(event["accounts"])))
                    )
                elif kind == "followups":
                    seen.followups.extend(i["prompt"] for i in event["items"])
                elif kind == "error":
                    seen.errors.append(event["message"])

    def run(self, case: Case) -> dict[str, Any]:
        """Run one case (its earlier turns first) and score it."""
        session = f"eval-{uuid.uuid4().hex}"
        started = time.monotonic()
        for earlier in case.before:
            self.ask(earlier, case.person, session, Observed())
        self._new_audit()
        seen = Observed()
        self.ask(case.prompt, case.person, session, seen)
        records = self._new_audit()
        seen.calls = calls_of(records, self.names)
        seen.mutating_ran = any(
            r.get("classification") == "mutating" and r.get("outcome") == "executed" for r in records
        )
        why = failures(case, seen)
        return {
            "category": case.category,
            "prompt": case.prompt,
            "source": case.source,
            "passed": not why,
            "failures": why,
            "calls": [
                {"tool": c.tool, "command": c.command, "accounts": list(c.accounts)} for c in seen.calls
            ],
            "answer": seen.text,
            "ms": int((time.monotonic() - started) * 1000),
        }


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation; the exit status is 1 when a case failed."""
    parser = argparse.ArgumentParser(prog="python -m evals", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.environ.get(settings.MODEL_PROVIDER) or "offline")
    parser.add_argument("--category", action="append", help="only these categories (repeatable)")
    parser.add_argument("--cases", type=Path, default=case_data.CASES_DIR, help="folder of *.yaml case files")
    parser.add_argument("--show", action="store_true", help="print every answer")
    args = parser.parse_args(argv)
    try:
        loaded = case_data.load(args.cases)
    except case_data.CaseError as e:
        print(f"The eval cases cannot be read: {e}", file=sys.stderr)
        return 2
    cases = [c for c in loaded if not args.category or c.category in args.category]
    if not cases:
        print("No cases to run.", file=sys.stderr)
        return 2
    env = model_env(args.model)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="centralops-eval-") as root:
        print(f"Starting the local stack (model: {args.model})…", flush=True)
        with LocalStack(Path(root), Ports.free(), model=args.model, env=env) as info:
            evaluation = Evaluation(info)
            for case in cases:
                result = evaluation.run(case)
                results.append(result)
                mark = "ok  " if result["passed"] else "FAIL"
                print(f"{mark} [{case.category}] {case.prompt}", flush=True)
                for why in result["failures"]:
                    print(f"       {why}", flush=True)
                if args.show:
                    print("       " + result["answer"].replace("\n", "\n       "), flush=True)
    categories = by_category(results, case_data.CATEGORIES)
    passed = sum(1 for r in results if r["passed"])
    print()
    print(f"{'category':<20} {'passed':>7} {'accuracy':>9}")
    for name, c in categories.items():
        print(f"{name:<20} {c['passed']:>3}/{c['total']:<3} {c['accuracy']:>8.1f}%")
    print(f"{'all':<20} {passed:>3}/{len(results):<3} {100 * passed / len(results):>8.1f}%")
    summary = {
        "benchmark": "eval",
        "model": args.model,
        "cases": len(results),
        "passed": passed,
        "accuracy": round(100 * passed / len(results), 1),
        "categories": categories,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "eval.json").write_text(json.dumps({**summary, "results": results}, indent=2))
    print(json.dumps(summary), flush=True)
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
