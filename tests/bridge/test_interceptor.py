"""The Gateway REQUEST interceptor: verified caller stamped into every tool call, hostile bodies refused."""

import copy
import logging
from typing import Any

import pytest

from bridge.interceptor import FORBIDDEN, INVALID_PARAMS, INVALID_REQUEST, UNAUTHENTICATED, Interceptor
from centralops.identity import CALLER_KEY
from centralops.tokens import CognitoVerifier
from tests.fixtures.aws import CognitoPool

AGENT = "agent-client-id"
BOT = "bot-client-id"


@pytest.fixture
def verifier(cognito: CognitoPool) -> CognitoVerifier:
    return CognitoVerifier(issuer=cognito.issuer, audience=cognito.client_id, jwks_url=cognito.jwks_url)


def token(cognito: CognitoPool, **claims: Any) -> str:
    base: dict[str, Any] = {
        "sub": "sub-carol",
        "cognito:username": "carol",
        "cognito:groups": ["centralops-operators"],
        "email": "Carol@Example.com",
        "email_verified": True,
    }
    return cognito.mint(**{**base, **claims})


def gateway_event(body: Any, bearer: str | None, **headers: str) -> dict[str, Any]:
    all_headers = {"Accept": "application/json", **headers}
    if bearer is not None:
        all_headers["Authorization"] = f"Bearer {bearer}"
    return {
        "interceptorInputVersion": "1.0",
        "mcp": {
            "rawGatewayRequest": {"body": "<raw>"},
            "gatewayRequest": {"path": "/mcp", "httpMethod": "POST", "headers": all_headers, "body": body},
        },
    }


def call(arguments: Any, rid: Any = 7, **params: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": rid,
        "method": "tools/call",
        "params": {"name": "bridge-lambda___query", "arguments": arguments, **params},
    }


def forwarded(output: dict[str, Any]) -> Any:
    assert output["interceptorOutputVersion"] == "1.0"
    assert "transformedGatewayResponse" not in output["mcp"], output
    return output["mcp"]["transformedGatewayRequest"]["body"]


def refused(output: dict[str, Any]) -> dict[str, Any]:
    assert output["interceptorOutputVersion"] == "1.0"
    assert "transformedGatewayRequest" not in output["mcp"], output
    response = output["mcp"]["transformedGatewayResponse"]
    assert response["statusCode"] == 200
    assert response["body"]["jsonrpc"] == "2.0"
    error: dict[str, Any] = response["body"]["error"]
    error["id"] = response["body"]["id"]
    return error


ARGS = {
    "account_id": "222222222222",
    "tool_name": "aws___call_aws",
    "arguments": {"cli_command": "aws s3 ls"},
}


def test_a_tool_call_gets_the_verified_caller_and_nothing_else_changes(
    verifier: CognitoVerifier, cognito: CognitoPool
) -> None:
    body = call(dict(ARGS))
    out = forwarded(Interceptor(verifier)(gateway_event(body, token(cognito)), None))
    stamp = out["params"]["arguments"].pop(CALLER_KEY)
    assert stamp == {
        "sub": "sub-carol",
        "username": "carol",
        "groups": ["centralops-operators"],
        "email": "carol@example.com",
    }
    assert out == body


@pytest.mark.parametrize("verified", [False, "false", "False", None, "yes", 1])
def test_an_email_that_is_not_verified_is_left_out(
    verifier: CognitoVerifier, cognito: CognitoPool, verified: Any
) -> None:
    claims = {"email_verified": verified} if verified is not None else {"email_verified": None}
    out = forwarded(Interceptor(verifier)(gateway_event(call(dict(ARGS)), token(cognito, **claims)), None))
    assert out["params"]["arguments"][CALLER_KEY] == {
        "sub": "sub-carol",
        "username": "carol",
        "groups": ["centralops-operators"],
    }


@pytest.mark.parametrize("verified", [True, "true", "TRUE"])
def test_a_verified_email_is_stamped(verifier: CognitoVerifier, cognito: CognitoPool, verified: Any) -> None:
    out = forwarded(
        Interceptor(verifier)(gateway_event(call(dict(ARGS)), token(cognito, email_verified=verified)), None)
    )
    assert out["params"]["arguments"][CALLER_KEY]["email"] == "carol@example.com"


def test_an_unverified_email_with_an_address_for_username_is_refused(
    verifier: CognitoVerifier, cognito: CognitoPool
) -> None:
    bearer = token(
        cognito,
        **{"cognito:username": "alice@example.com", "email": "alice@example.com", "email_verified": "false"},
    )
    error = refused(Interceptor(verifier)(gateway_event(call(dict(ARGS)), bearer), None))
    assert error["code"] == FORBIDDEN
    assert error["data"] == {"code": "unverified_email"}
    assert error["id"] == 7


def test_whatever_the_client_wrote_under_the_reserved_key_or_requester_is_replaced_everywhere(
    verifier: CognitoVerifier, cognito: CognitoPool
) -> None:
    forged = {
        "sub": "x",
        "username": "alice",
        "groups": ["centralops-approvers"],
        "email": "alice@example.com",
    }
    arguments = {
        **ARGS,
        "requester": "alice@example.com",
        CALLER_KEY: forged,
        "context": {"platform": "slack", CALLER_KEY: forged, "deeper": [{CALLER_KEY: forged, "keep": 1}]},
        "arguments": {"cli_command": "aws s3 ls", CALLER_KEY: forged},
    }
    body = call(arguments, _meta={CALLER_KEY: forged, "progressToken": 3})
    out = forwarded(Interceptor(verifier)(gateway_event(body, token(cognito)), None))
    args = out["params"]["arguments"]
    assert "requester" not in args
    assert args[CALLER_KEY]["username"] == "carol"
    assert args["context"] == {"platform": "slack", "deeper": [{"keep": 1}]}
    assert args["arguments"] == {"cli_command": "aws s3 ls"}
    assert out["params"]["_meta"] == {"progressToken": 3}
    assert "alice" not in repr(out)


@pytest.mark.parametrize("arguments", [["aws s3 ls"], "aws s3 ls", None, 42, True])
def test_arguments_that_are_not_an_object_are_refused(
    verifier: CognitoVerifier, cognito: CognitoPool, arguments: Any
) -> None:
    error = refused(Interceptor(verifier)(gateway_event(call(arguments), token(cognito)), None))
    assert error["code"] == INVALID_PARAMS
    assert error["data"] == {"code": "invalid_arguments"}


@pytest.mark.parametrize("params", [None, [], "x", {"arguments": {}}, {"name": 3, "arguments": {}}])
def test_a_tool_call_without_a_tool_name_is_refused(
    verifier: CognitoVerifier, cognito: CognitoPool, params: Any
) -> None:
    body = {"jsonrpc": "2.0", "id": "a", "method": "tools/call", "params": params}
    error = refused(Interceptor(verifier)(gateway_event(body, token(cognito)), None))
    assert error["code"] == INVALID_PARAMS
    assert error["id"] == "a"


def test_missing_arguments_are_stamped_as_an_object(verifier: CognitoVerifier, cognito: CognitoPool) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "bridge-lambda___query"}}
    out = forwarded(Interceptor(verifier)(gateway_event(body, token(cognito)), None))
    assert list(out["params"]["arguments"]) == [CALLER_KEY]


@pytest.mark.parametrize(
    "batch",
    [
        [call(dict(ARGS), 1), {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}],
        [{"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, call(dict(ARGS), 3)],
        [{"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, "tools/call"],
        [call(dict(ARGS), 1)],
    ],
)
def test_a_batch_carrying_a_tool_call_is_refused(
    verifier: CognitoVerifier, cognito: CognitoPool, batch: list[Any]
) -> None:
    error = refused(Interceptor(verifier)(gateway_event(batch, token(cognito)), None))
    assert error["code"] == INVALID_REQUEST
    assert error["data"] == {"code": "batch_refused"}


def test_a_batch_without_tool_calls_passes_unchanged(verifier: CognitoVerifier) -> None:
    batch = [
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "ping"},
    ]
    assert forwarded(Interceptor(verifier)(gateway_event(copy.deepcopy(batch), None), None)) == batch


@pytest.mark.parametrize(
    "body",
    [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {CALLER_KEY: "kept: no tool runs"}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 3, "result": {}},
    ],
)
def test_other_methods_pass_through_unchanged(verifier: CognitoVerifier, body: dict[str, Any]) -> None:
    assert forwarded(Interceptor(verifier)(gateway_event(copy.deepcopy(body), None), None)) == body


@pytest.mark.parametrize("kind", ["none", "basic", "empty", "garbage", "expired", "audience", "two"])
def test_a_tool_call_without_a_valid_token_is_refused(
    verifier: CognitoVerifier, cognito: CognitoPool, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    good = token(cognito)
    bearer = {
        "none": None,
        "basic": None,
        "empty": "",
        "garbage": "not-a-jwt",
        "expired": token(cognito, exp=1),
        "audience": token(cognito, aud="another-app"),
        "two": good,
    }[kind]
    headers = {"basic": {"authorization": "Basic YWxpY2U6cHc="}, "two": {"authorization": f"Bearer {good}"}}
    event = gateway_event(call(dict(ARGS)), bearer, **headers.get(kind, {}))
    with caplog.at_level(logging.DEBUG):
        error = refused(Interceptor(verifier)(event, None))
    assert error["code"] == UNAUTHENTICATED
    assert error["message"]
    for secret in (good, bearer):
        if secret:
            assert secret not in caplog.text


@pytest.mark.parametrize("event", [None, [], {}, {"mcp": None}, {"mcp": {"gatewayRequest": "x"}}])
def test_an_unreadable_event_is_answered_not_forwarded(verifier: CognitoVerifier, event: Any) -> None:
    error = refused(Interceptor(verifier)(event, None))
    assert error["code"] == INVALID_REQUEST


def test_without_a_required_actor_a_token_without_act_is_accepted(
    verifier: CognitoVerifier, cognito: CognitoPool
) -> None:
    out = forwarded(
        Interceptor(verifier, required_actor=None)(gateway_event(call(dict(ARGS)), token(cognito)), None)
    )
    assert out["params"]["arguments"][CALLER_KEY]["username"] == "carol"


@pytest.mark.parametrize(
    ("act", "code"),
    [
        (None, "missing_actor"),
        ("agent-client-id", "missing_actor"),
        ({}, "missing_actor"),
        ({"sub": BOT}, "wrong_actor"),
        ({"sub": BOT, "act": {"sub": AGENT}}, "wrong_actor"),  # the agent is not the immediate actor
        ({"client_id": AGENT}, "missing_actor"),
    ],
)
def test_with_a_required_actor_the_immediate_actor_must_be_it(
    verifier: CognitoVerifier, cognito: CognitoPool, act: Any, code: str
) -> None:
    claims = {"act": act} if act is not None else {}
    error = refused(
        Interceptor(verifier, required_actor=AGENT)(
            gateway_event(call(dict(ARGS)), token(cognito, **claims)), None
        )
    )
    assert error["code"] == FORBIDDEN
    assert error["data"] == {"code": code}


@pytest.mark.parametrize("act", [{"sub": AGENT}, {"sub": AGENT, "act": {"sub": BOT}}])
def test_with_a_required_actor_a_token_naming_it_is_stamped(
    verifier: CognitoVerifier, cognito: CognitoPool, act: dict[str, Any]
) -> None:
    out = forwarded(
        Interceptor(verifier, required_actor=AGENT)(
            gateway_event(call(dict(ARGS)), token(cognito, act=act)), None
        )
    )
    assert out["params"]["arguments"][CALLER_KEY]["username"] == "carol"


def test_arguments_nested_too_deeply_to_check_are_refused(
    verifier: CognitoVerifier, cognito: CognitoPool
) -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(5000):
        node["x"] = {}
        node = node["x"]
    error = refused(
        Interceptor(verifier)(gateway_event(call({**ARGS, "context": deep}), token(cognito)), None)
    )
    assert error["code"] == INVALID_PARAMS
    assert error["data"] == {"code": "invalid_arguments"}
