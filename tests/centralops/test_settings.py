"""Each setting is declared once: its variable, default and reader on the field, read by one ``from_env``."""

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from agent.config import AgentSettings
from bot.config import BotConfig
from bot.identity.cognito import CognitoSettings
from bot.identity.settings import IdentitySettings
from bot.teams.config import TeamsConfig
from bridge.config import BridgeConfig
from centralops import settings as s
from centralops.errors import ConfigurationError

# What each class derives from other variables (never a field default of its own).
DERIVED_INPUTS: dict[type, dict[str, str]] = {
    BotConfig: {
        s.BOT_CLIENT_SECRET: "bot-secret",
        s.COGNITO_DOMAIN_URL: "https://login.example.com/",
        s.IDENTITY_LINKS_TABLE: "links",
        s.OAUTH_STATES_TABLE: "states",
        s.KMS_KEY_ID: "alias/centralops",
        s.PUBLIC_URL: "https://bot.example.com",
        s.COGNITO_USER_POOL_ID: "us-east-1_abc",
        s.COGNITO_CLIENT_ID: "client",
    },
    AgentSettings: {
        s.COGNITO_USER_POOL_ID: "us-east-1_abc",
        s.AGENT_CLIENT_SECRET: "agent-secret",
        s.COGNITO_DOMAIN_URL: "https://login.example.com/",
    },
    IdentitySettings: {
        s.COGNITO_USER_POOL_ID: "us-east-1_abc",
        s.COGNITO_CLIENT_ID: "client",
        s.COGNITO_DOMAIN_URL: "https://login.example.com/",
    },
}
CLASSES: list[tuple[type, Callable[..., Any]]] = [
    (BotConfig, BotConfig.from_env),
    (TeamsConfig, TeamsConfig.from_env),
    (CognitoSettings, CognitoSettings.from_env),
    (IdentitySettings, IdentitySettings.from_env),
    (AgentSettings, AgentSettings.from_env),
    (BridgeConfig, BridgeConfig.from_env),
]
IDS = [cls.__name__ for cls, _ in CLASSES]


def _required(cls: type) -> dict[str, str]:
    """One value for every variable ``from_env`` requires: the declared ones and the derived ones' inputs."""
    environ = dict(DERIVED_INPUTS.get(cls, {}))
    for f in dataclasses.fields(cls):
        spec = f.metadata.get(s.SETTING)
        if spec is not None and spec.reader is not s.env_opt and spec.default is None:
            environ[spec.env] = f"value-of-{f.name}"
    return environ


@pytest.mark.parametrize(("cls", "from_env"), CLASSES, ids=IDS)
def test_every_field_is_declared_as_a_setting_a_derived_value_or_a_fixed_one(
    cls: type, from_env: Callable[..., Any]
) -> None:
    for f in dataclasses.fields(cls):
        kinds = [k for k in (s.SETTING, s.DERIVED, s.FIXED) if k in f.metadata]
        assert len(kinds) == 1, f"{cls.__name__}.{f.name} is declared as {kinds or 'nothing'}"


@pytest.mark.parametrize(("cls", "from_env"), CLASSES, ids=IDS)
def test_an_environment_of_only_the_required_variables_yields_the_field_defaults(
    cls: type, from_env: Callable[..., Any]
) -> None:
    environ = _required(cls)
    config = from_env(environ)
    for f in dataclasses.fields(cls):
        spec = f.metadata.get(s.SETTING)
        if spec is not None and spec.env in environ:
            value = spec.transform(environ[spec.env]) if spec.transform else environ[spec.env]
            assert getattr(config, f.name) == value, f.name
        elif s.DERIVED not in f.metadata:
            assert f.default is not dataclasses.MISSING, f"{cls.__name__}.{f.name} has no default"
            assert getattr(config, f.name) == f.default, f.name
            if spec is not None and spec.reader is not s.env_opt:
                assert spec.default == f.default, f.name


@pytest.mark.parametrize(("cls", "from_env"), CLASSES, ids=IDS)
def test_each_missing_required_variable_is_named(cls: type, from_env: Callable[..., Any]) -> None:
    environ = _required(cls)
    for name in environ:
        if name in (s.BOT_CLIENT_SECRET, s.AGENT_CLIENT_SECRET):
            continue  # read from Secrets Manager when unset (tested with the agent's and the bot's settings)
        with pytest.raises(ConfigurationError, match=name):
            from_env({k: v for k, v in environ.items() if k != name})


@pytest.mark.parametrize(("cls", "from_env"), CLASSES, ids=IDS)
def test_a_malformed_number_or_flag_names_its_variable(cls: type, from_env: Callable[..., Any]) -> None:
    for f in dataclasses.fields(cls):
        spec = f.metadata.get(s.SETTING)
        if spec is not None and spec.reader in (s.env_int, s.env_float, s.env_bool):
            with pytest.raises(ConfigurationError, match=spec.env):
                from_env({**_required(cls), spec.env: "many"})


def test_the_bot_reads_the_identity_settings_with_its_own() -> None:
    config = BotConfig.from_env({**_required(BotConfig), s.AWS_REGION: "eu-west-1"})
    assert config.identity is not None
    assert (config.identity.links_table, config.identity.states_table) == ("links", "states")
    assert config.identity.cognito.domain_url == "https://login.example.com"
    assert config.identity.cognito.region == config.region == "eu-west-1"
    assert config.cognito_token_url == "https://login.example.com/oauth2/token"
    assert "bot-secret" not in repr(config)
