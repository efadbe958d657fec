"""Time to the first answer text: ``python -m bench.first_text [--runs N]``.

Starts the local stack (:class:`infra.local.stack.LocalStack`, on free ports),
signs in as a seeded operator through moto's Cognito, exchanges the ID token
for the Runtime's audience as the bot does (once, outside the timing; the
agent's own exchange for the Gateway is inside it), and measures, from
sending ``POST /invocations`` to receiving the first ``text`` event:

- ``direct_ms``: a direct command (``run aws s3api list-buckets in staging``),
  which skips the model;
- ``planner_ms``: a question for the offline planner (``list buckets in staging``).

Each figure is the median over ``--runs`` invocations, each in a fresh session,
after one warm-up invocation (reported apart as ``*_first_ms``). The last line
printed is a JSON object, also written to ``.local/bench/first_text.json``.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import httpx

from bench import report
from centralops.events import iter_sse
from centralops.exchange import TokenExchanger, client_secret
from infra.local import org
from infra.local.org import StackInfo
from infra.local.stack import LocalStack, Ports

DIRECT = "run aws s3api list-buckets in staging"
PLANNER = "list buckets in staging"
EXPECTED = org.account("staging").buckets[0]


def id_token(moto_url: str, pool_id: str, client_id: str, person: org.Person) -> str:
    """Sign in as ``person`` through moto's Cognito and return the ID token."""
    idp = boto3.client(
        "cognito-idp",
        endpoint_url=moto_url,
        region_name=org.REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto accepts any secret
    )
    result = idp.admin_initiate_auth(
        UserPoolId=pool_id,
        ClientId=client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": person.username, "PASSWORD": person.password},
    )
    return str(result["AuthenticationResult"]["IdToken"])


def runtime_token(info: StackInfo, person: org.Person) -> str:
    """What the bot sends the Runtime for ``person``: the ID token exchanged with the bot as actor."""
    # Every call goes to the local stack, which accepts any credentials; the shell need have none.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    secret = client_secret(
        None,
        secret_arn=info.bot_client_secret_arn,
        variable="bot_client_secret_arn",
        region=org.REGION,
        endpoint_url=info.moto_url,
    )
    exchanger = TokenExchanger(
        client_id=info.bot_client_id,
        client_secret=secret,
        token_url=f"{info.hosted_ui_url}/oauth2/token",
        audience=org.RUNTIME_AUDIENCE,
        region=org.REGION,
        endpoint_url=info.hosted_ui_url,
    )
    subject = id_token(info.moto_url, info.user_pool_id, info.client_id, person)
    return exchanger.exchange(subject, "ID_TOKEN").token


def first_text_ms(client: httpx.Client, runtime_url: str, token: str, prompt: str) -> float:
    """Milliseconds from the request to the first ``text`` event; reads the stream to its end.

    Raises:
        RuntimeError: The stream had no text, or the answer lacks the expected bucket.
    """
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "text/event-stream",
        "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": f"bench-first-text-{uuid.uuid4().hex}",
    }
    started = time.perf_counter()
    first: float | None = None
    answer = ""
    with client.stream("POST", runtime_url, json={"prompt": prompt}, headers=headers, timeout=60) as response:
        response.raise_for_status()
        for event in iter_sse(response.iter_lines()):
            if event["type"] == "text":
                if first is None:
                    first = (time.perf_counter() - started) * 1000
                answer += event["delta"]
            elif event["type"] == "table":  # the listing itself arrives as a table
                answer += json.dumps(event["rows"])
            elif event["type"] == "error":
                raise RuntimeError(f"{prompt!r} failed: {event['message']}")
    if first is None or EXPECTED not in answer:
        raise RuntimeError(f"{prompt!r} did not answer with staging's buckets: {answer[:200]!r}")
    return first


def measure(runtime_url: str, token: str, runs: int) -> dict[str, Any]:
    """Warm up once per prompt, then time ``runs`` invocations of each, interleaved."""
    samples: dict[str, list[float]] = {"direct": [], "planner": []}
    with httpx.Client() as client:
        firsts = {
            "direct_first_ms": first_text_ms(client, runtime_url, token, DIRECT),
            "planner_first_ms": first_text_ms(client, runtime_url, token, PLANNER),
        }
        for _ in range(runs):
            samples["direct"].append(first_text_ms(client, runtime_url, token, DIRECT))
            samples["planner"].append(first_text_ms(client, runtime_url, token, PLANNER))
    out: dict[str, Any] = {}
    for name, values in samples.items():
        out[f"{name}_ms"] = round(statistics.median(values), 1)
        out[f"{name}_min_ms"] = round(min(values), 1)
        out[f"{name}_max_ms"] = round(max(values), 1)
    out.update({k: round(v, 1) for k, v in firsts.items()})
    out["runs"] = runs
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench.first_text", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed invocations per prompt (default 15)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="centralops-bench-") as root:
        stack = LocalStack(Path(root), Ports.free(), model="offline")
        with stack as info:
            token = runtime_token(info, org.person("alice"))
            result = measure(info.runtime_url, token, args.runs)
    result.update({"model": "offline", "direct_prompt": DIRECT, "planner_prompt": PLANNER})
    report("first_text", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
