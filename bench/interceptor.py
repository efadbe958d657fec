"""CPU per Gateway interceptor call: ``python -m bench.interceptor [--calls N]``.

The production handler class (:class:`bridge.interceptor.Interceptor`) verifies
a real RS256 ID token signed with the key moto's Cognito uses, with its JWKS
cached (as in a warm Lambda), and stamps the caller into a typical
``tools/call``. Figures, in CPU milliseconds (``time.process_time``):

- ``tools_call_cpu_ms_p50`` / ``_p99``: per call, from batches of 50 calls
  (goal ≤ 5 ms: the interceptor adds at most that to each tool call);
- ``first_call_cpu_ms``: the first call, parsing the JWKS keys;
- ``passthrough_cpu_ms``: per ``tools/list`` (no token work).

The last line printed is a JSON object, also written to ``.local/bench/interceptor.json``.
"""

import argparse
import gzip
import json
import statistics
import time
from importlib import resources
from typing import Any

from jose import jwt

from bench import report
from bridge.interceptor import Interceptor
from centralops.tokens import CognitoVerifier

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_bench"
AUDIENCE = "bench-client"


def _moto_key(name: str) -> dict[str, Any]:
    raw = resources.files("moto.cognitoidp").joinpath(f"resources/{name}").read_bytes()
    data: dict[str, Any] = json.loads(gzip.decompress(raw) if name.endswith(".gz") else raw)
    return data


def _token(private: dict[str, Any]) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "5b0c1d2e-0000-4000-8000-000000000001",
        "token_use": "id",
        "iat": now,
        "exp": now + 3600,
        "cognito:username": "alice@example.com",
        "cognito:groups": ["centralops-operators", "centralops-approvers"],
        "email": "alice@example.com",
        "email_verified": "true",
    }
    return str(jwt.encode(claims, private, algorithm="RS256", headers={"kid": private.get("kid", "dummy")}))


def _event(body: dict[str, Any], token: str) -> dict[str, Any]:
    return {
        "interceptorInputVersion": "1.0",
        "mcp": {
            "gatewayRequest": {
                "path": "/mcp",
                "httpMethod": "POST",
                "headers": {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                "body": body,
            }
        },
    }


def main() -> None:
    """Run the benchmark and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    public = _moto_key("jwks-public.json.gz")
    token = _token(_moto_key("jwks-private.json.gz"))
    verifier = CognitoVerifier(
        issuer=ISSUER, audience=AUDIENCE, jwks_url="memory://", fetch=lambda url: public
    )
    interceptor = Interceptor(verifier)
    call = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {
            "name": "bridge-lambda___query_accounts",
            "arguments": {
                "account_ids": [f"{n:012d}" for n in range(1, 21)],
                "tool_name": "aws___call_aws",
                "arguments": {
                    "cli_command": "aws ec2 describe-instances --filters Name=instance-state-name,Values=running"
                },
                "requester": "someone-else@example.com",
                "context": {"platform": "slack", "channel": "C0OPS", "session_id": "s" * 40},
            },
        },
    }
    listing = {"jsonrpc": "2.0", "id": 8, "method": "tools/list"}

    started = time.process_time()
    first = interceptor(_event(call, token), None)
    first_ms = (time.process_time() - started) * 1000
    if "transformedGatewayRequest" not in first["mcp"]:
        raise SystemExit(f"The interceptor refused the benchmark's call, so nothing was measured: {first}")

    batch = 50
    per_call: list[float] = []
    for _ in range(max(1, args.calls // batch)):
        started = time.process_time()
        for _ in range(batch):
            interceptor(_event(call, token), None)
        per_call.append((time.process_time() - started) * 1000 / batch)

    started = time.process_time()
    for _ in range(args.calls):
        interceptor(_event(listing, token), None)
    passthrough_ms = (time.process_time() - started) * 1000 / args.calls

    per_call.sort()
    report(
        "interceptor",
        {
            "calls": len(per_call) * batch,
            "tools_call_cpu_ms_p50": round(statistics.median(per_call), 3),
            "tools_call_cpu_ms_p99": round(per_call[min(len(per_call) - 1, int(len(per_call) * 0.99))], 3),
            "first_call_cpu_ms": round(first_ms, 3),
            "passthrough_cpu_ms": round(passthrough_ms, 4),
            "goal_cpu_ms": 5.0,
        },
    )


if __name__ == "__main__":
    main()
