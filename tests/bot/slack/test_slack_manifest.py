"""manifest.yml against Slack's published manifest schema, and against what the bot listens to."""

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
SCHEMAS = ROOT.parent / "shared" / "schemas"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    path = SCHEMAS / "slack-app-manifest.v1.schema.json"
    if not path.exists():
        pytest.skip(f"Slack's manifest schema is not at {path} (a clone outside the workspace)")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "manifest.yml").read_text())
    return loaded


def test_the_validator_tells_valid_from_invalid(schema: dict[str, Any]) -> None:
    jsonschema.validate(
        json.loads((SCHEMAS / "slack-app-manifest.v1.example-valid.json").read_text()), schema
    )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            json.loads((SCHEMAS / "slack-app-manifest.v1.example-invalid.json").read_text()), schema
        )


def test_manifest_is_valid(schema: dict[str, Any], manifest: dict[str, Any]) -> None:
    jsonschema.validate(manifest, schema)


def test_manifest_declares_what_the_bot_uses(manifest: dict[str, Any]) -> None:
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {
        "commands",
        "chat:write",
        "app_mentions:read",
        "im:history",
        "channels:history",
        "groups:history",
        "files:write",
        "users:read.email",
    } <= scopes
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert events == {
        "app_mention",
        "message.channels",
        "message.groups",
        "message.im",
        "app_home_opened",
        "assistant_thread_started",
        "assistant_thread_context_changed",
    }
    assert "assistant:write" in scopes and manifest["features"]["assistant_view"]["assistant_description"]
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/aws"
    urls = {command["url"], manifest["settings"]["interactivity"]["request_url"]}
    urls.add(manifest["settings"]["event_subscriptions"]["request_url"])
    assert {u.rsplit("/", 2)[-2] + "/" + u.rsplit("/", 1)[-1] for u in urls} == {"slack/events"}
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
