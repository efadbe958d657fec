"""Settings from the environment and models by configuration."""

import importlib.util
import uuid

import boto3
import pytest

from agent.config import AgentSettings
from agent.grammar import parse
from agent.models import build_model
from agent.planner import OfflinePlanner
from centralops.errors import ConfigurationError
from tests.fixtures.aws import CognitoPool
from tests.fixtures.exchange import Exchange

BASE = {
    "CENTRALOPS_GATEWAY_URL": "http://127.0.0.1:5102/mcp",
    "CENTRALOPS_COGNITO_CLIENT_ID": "client-1",
    "CENTRALOPS_COGNITO_USER_POOL_ID": "eu-west-1_abc",
    "AWS_REGION": "eu-west-1",
    "CENTRALOPS_RUNTIME_AUDIENCE": "centralops-runtime",
    "CENTRALOPS_BOT_CLIENT_ID": "bot-client",
    "CENTRALOPS_GATEWAY_AUDIENCE": "centralops-gateway",
    "CENTRALOPS_AGENT_CLIENT_ID": "agent-client",
    "CENTRALOPS_AGENT_CLIENT_SECRET": "agent-secret",
    "CENTRALOPS_COGNITO_DOMAIN_URL": "https://centralops.auth.eu-west-1.amazoncognito.com/",
}


def test_issuer_is_derived_from_region_and_pool() -> None:
    s = AgentSettings.from_env(BASE)
    assert s.cognito_issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc"
    assert s.model_provider == "bedrock"
    assert s.model_region == "eu-west-1"
    assert s.port == 8080


def test_missing_gateway_names_the_variable() -> None:
    env = {k: v for k, v in BASE.items() if k != "CENTRALOPS_GATEWAY_URL"}
    with pytest.raises(ConfigurationError, match="CENTRALOPS_GATEWAY_URL"):
        AgentSettings.from_env(env)


def test_token_exchange_settings_bind_each_hop() -> None:
    s = AgentSettings.from_env(BASE)
    verifier = s.verifier()
    assert (verifier.audience, verifier.required_actor, verifier.token_use) == (
        "centralops-runtime",
        "bot-client",
        frozenset({"access"}),
    )
    exchanger = s.exchanger()
    assert exchanger.audience == "centralops-gateway"
    assert exchanger.token_url == "https://centralops.auth.eu-west-1.amazoncognito.com/oauth2/token"
    assert "agent-secret" not in repr(s) and "agent-secret" not in repr(exchanger)


def test_without_a_configured_secret_the_agent_reads_its_own_from_secrets_manager(
    exchange: Exchange, cognito: CognitoPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    agent = exchange.clients.agent
    sm = boto3.client("secretsmanager", endpoint_url=cognito.moto_url, region_name="us-east-1")
    arn = sm.create_secret(Name=f"agent-{uuid.uuid4().hex[:8]}", SecretString=agent.client_secret)["ARN"]
    env = {k: v for k, v in BASE.items() if k != "CENTRALOPS_AGENT_CLIENT_SECRET"}
    env |= {"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": cognito.moto_url}
    with pytest.raises(ConfigurationError, match="CENTRALOPS_AGENT_CLIENT_SECRET_ARN is not set"):
        AgentSettings.from_env(env)
    env["CENTRALOPS_AGENT_CLIENT_SECRET_ARN"] = arn
    assert AgentSettings.from_env(env).agent_client_secret == agent.client_secret
    env["CENTRALOPS_AGENT_CLIENT_SECRET_ARN"] = arn.replace(arn.rsplit(":", 1)[1], "gone-abcdef")
    with pytest.raises(ConfigurationError, match="allow secretsmanager:GetSecretValue on that secret"):
        AgentSettings.from_env(env)


def test_offline_provider_is_the_planner() -> None:
    settings = AgentSettings.from_env({**BASE, "CENTRALOPS_MODEL_PROVIDER": "offline"})
    assert isinstance(build_model(settings), OfflinePlanner)


def test_bedrock_provider_uses_the_configured_model_and_region() -> None:
    env = {**BASE, "CENTRALOPS_MODEL_ID": "anthropic.claude-x", "CENTRALOPS_MODEL_REGION": "us-west-2"}
    model = build_model(AgentSettings.from_env(env))
    assert type(model).__name__ == "BedrockModel"
    assert model.get_config()["model_id"] == "anthropic.claude-x"
    assert model.client.meta.region_name == "us-west-2"  # type: ignore[attr-defined]


def test_unknown_provider_lists_the_known_ones() -> None:
    settings = AgentSettings.from_env({**BASE, "CENTRALOPS_MODEL_PROVIDER": "gpt-magic"})
    with pytest.raises(ConfigurationError, match="offline, bedrock, anthropic, openai, ollama"):
        build_model(settings)


@pytest.mark.parametrize("provider", ["anthropic", "openai", "ollama"])
def test_provider_without_its_package_says_what_to_install(provider: str) -> None:
    if importlib.util.find_spec(provider) is not None:
        pytest.skip(f"the {provider} package is installed here")
    settings = AgentSettings.from_env({**BASE, "CENTRALOPS_MODEL_PROVIDER": provider})
    with pytest.raises(ConfigurationError, match=rf"strands-agents\[{provider}\]"):
        build_model(settings)


def test_slack_mention_is_ignored() -> None:
    intent = parse("<@U0CENTRAL> how many lambda functions in production?")
    assert intent is not None
    assert (intent.action, intent.targets) == ("count", "production")
