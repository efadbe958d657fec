"""The bridge's SigV4 signer gives, for the same request and time, botocore's own signature."""

import datetime

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bridge.credentials import AwsCredentials
from bridge.transport import SigV4Signer

URLS = [
    "http://127.0.0.1:5101/mcp",
    "https://aws-mcp.us-east-1.api.aws/mcp",
    "https://AWS-MCP.example.com:8443/a b/./c/../mcp?b=2&a=1&a=0",
    "http://[::1]:8080/mcp",
    "https://aws-mcp.us-east-1.api.aws:443/",
]
HEADERS = [
    {"accept": "application/json, text/event-stream", "content-type": "application/json"},
    {
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-session-id": "  0b6f  2c1e ",
        "mcp-protocol-version": "2025-11-25",
    },
    {},
]
BODIES = [b"", b'{"jsonrpc":"2.0","id":1,"method":"tools/call"}', '{"q": "caf\u00e9 \u2603"}'.encode()]
TIMES = [
    datetime.datetime(2026, 12, 3, 15, 4, 5, tzinfo=datetime.UTC),
    datetime.datetime(2026, 12, 3, 23, 59, 59, tzinfo=datetime.UTC),
    datetime.datetime(2026, 12, 4, 0, 0, 1, tzinfo=datetime.UTC),  # a new day: a new signing key
]


def _botocore(
    creds: AwsCredentials, region: str, method: str, url: str, headers: dict[str, str], body: bytes
) -> dict[str, str]:
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    SigV4Auth(
        Credentials(creds.access_key_id, creds.secret_access_key, creds.session_token or None),
        "aws-mcp",
        region,
    ).add_auth(request)
    return {k.lower(): v for k, v in request.headers.items()}


@pytest.mark.parametrize("token", ["FwoGZXIvYXdzEJr//////////session+token/==", ""])
@pytest.mark.parametrize("url", URLS)
def test_every_signature_is_botocores(url: str, token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = AwsCredentials("ASIAEXAMPLEKEY000001", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", token, 0.0)
    now = {"t": TIMES[0]}
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: now["t"].replace(tzinfo=None))
    signer = SigV4Signer(creds, "eu-west-2", clock=lambda: now["t"].timestamp())
    checked = 0
    for when in TIMES:
        now["t"] = when
        for headers in HEADERS:
            for body in BODIES:
                for method in ("POST", "DELETE"):
                    ours = dict(headers)
                    signer.sign(method, url, ours, body)
                    theirs = _botocore(creds, "eu-west-2", method, url, headers, body)
                    assert ours["authorization"] == theirs["authorization"], (method, url, headers, body)
                    assert ours["x-amz-date"] == theirs["x-amz-date"]
                    assert ours.get("x-amz-security-token") == theirs.get("x-amz-security-token")
                    checked += 1
    assert checked == len(TIMES) * len(HEADERS) * len(BODIES) * 2


def test_the_signature_covers_the_body_the_headers_and_the_credentials() -> None:
    creds = AwsCredentials("ASIAEXAMPLEKEY000001", "secret-one", "token", 0.0)
    other = AwsCredentials("ASIAEXAMPLEKEY000001", "secret-two", "token", 0.0)

    def signature(signer_creds: AwsCredentials, headers: dict[str, str], body: bytes) -> str:
        headers = dict(headers)
        SigV4Signer(signer_creds, "us-east-1", clock=lambda: 1_800_000_000.0).sign(
            "POST", URLS[0], headers, body
        )
        return headers["authorization"].rsplit("Signature=", 1)[1]

    base = signature(creds, HEADERS[1], BODIES[1])
    assert signature(creds, HEADERS[1], BODIES[1] + b" ") != base
    assert signature(creds, {**HEADERS[1], "mcp-session-id": "another"}, BODIES[1]) != base
    assert signature(other, HEADERS[1], BODIES[1]) != base
