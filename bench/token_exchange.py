"""What token exchange costs per question: ``python -m bench.token_exchange [--runs N]``.

Starts the local stack (:class:`infra.local.stack.LocalStack`, on free ports),
signs in as seeded people through moto's Cognito and measures, with the same
:class:`centralops.exchange.TokenExchanger` the bot and the agent use:

- ``actor_ms``: one client-credentials actor token (once per process and hour);
- ``exchange_ms``: one ``GetDerivedToken`` for a new subject token (the bot's
  ID token → Runtime token, the agent's Runtime token → Gateway token), as a
  person's first question of the hour pays it;
- ``cached_us``: taking an already issued token from the cache, as every
  further question does (no I/O, no thread hop).

Locally the exchange runs in the Cognito stand-in, not in Cognito, so
``exchange_ms`` says what our side costs (a boto3 call, SigV4, JSON), not
Cognito's latency. The last line printed is a JSON object, also written to
``.local/bench/token_exchange.json``.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import report
from bench.first_text import id_token
from centralops.exchange import TokenExchanger, client_secret
from infra.local import org
from infra.local.org import StackInfo
from infra.local.stack import LocalStack, Ports


def exchanger(info: StackInfo, client_id: str, secret_arn: str, audience: str) -> TokenExchanger:
    """The exchanger a service of the stack builds for its client."""
    secret = client_secret(
        None,
        secret_arn=secret_arn,
        variable="secret_arn",
        region=org.REGION,
        endpoint_url=info.moto_url,
    )
    return TokenExchanger(
        client_id=client_id,
        client_secret=secret,
        token_url=f"{info.hosted_ui_url}/oauth2/token",
        audience=audience,
        region=org.REGION,
        endpoint_url=info.hosted_ui_url,
    )


def measure(info: StackInfo, runs: int) -> dict[str, Any]:
    """Time the actor token, ``runs`` uncached exchanges per hop, and cached lookups."""
    bot = exchanger(info, info.bot_client_id, info.bot_client_secret_arn, org.RUNTIME_AUDIENCE)
    agent = exchanger(info, info.agent_client_id, info.agent_client_secret_arn, org.GATEWAY_AUDIENCE)
    started = time.perf_counter()
    bot.actor_token()
    actor_ms = (time.perf_counter() - started) * 1000
    agent.actor_token()
    people = [p for p in org.PEOPLE if p.linked]
    subjects = [
        id_token(info.moto_url, info.user_pool_id, info.client_id, people[i % len(people)])
        for i in range(runs)
    ]
    bot_ms: list[float] = []
    agent_ms: list[float] = []
    runtime_tokens: list[str] = []
    for subject in subjects:
        t0 = time.perf_counter()
        runtime_tokens.append(bot.exchange(subject, "ID_TOKEN").token)
        t1 = time.perf_counter()
        agent.exchange(runtime_tokens[-1])
        t2 = time.perf_counter()
        bot_ms.append((t1 - t0) * 1000)
        agent_ms.append((t2 - t1) * 1000)
    lookups = 10_000
    t0 = time.perf_counter()
    for i in range(lookups):
        agent.cached(runtime_tokens[i % len(runtime_tokens)])
    cached_us = (time.perf_counter() - t0) / lookups * 1e6
    return {
        "actor_ms": round(actor_ms, 1),
        "bot_exchange_ms": round(statistics.median(bot_ms), 1),
        "agent_exchange_ms": round(statistics.median(agent_ms), 1),
        "exchange_max_ms": round(max(bot_ms + agent_ms), 1),
        "cached_us": round(cached_us, 2),
        "runs": runs,
        "exchanges": bot.calls + agent.calls,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.token_exchange", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--runs", type=int, default=30, help="uncached exchanges per hop (default 30)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="centralops-bench-") as root:
        stack = LocalStack(Path(root), Ports.free(), model="offline")
        with stack as info:
            result = measure(info, args.runs)
    report("token_exchange", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
