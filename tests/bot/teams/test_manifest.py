"""The Teams app package: the manifest against Microsoft's published schema, the icons Teams requires."""

import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = ROOT.parent / "shared" / "schemas" / "teams-app-manifest.schema.json"
MANIFEST = ROOT / "teams" / "manifest.json"


def _schema() -> dict[str, Any]:
    if not SCHEMA.exists():
        pytest.skip(
            f"{SCHEMA} is absent (a clone outside the workspace): the Teams manifest schema cannot be checked"
        )
    schema: dict[str, Any] = json.loads(SCHEMA.read_text())
    return schema


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_the_manifest_is_valid_against_the_published_teams_schema() -> None:
    manifest = json.loads(MANIFEST.read_text())

    jsonschema.Draft4Validator(_schema()).validate(manifest)

    assert manifest["manifestVersion"] == "1.29"
    [bot] = manifest["bots"]
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    listed = {scope for command_list in bot["commandLists"] for scope in command_list["scopes"]}
    assert listed == {"personal", "team", "groupChat"}
    titles = {c["title"] for c in bot["commandLists"][0]["commands"]}
    assert {"help", "login", "logout", "whoami", "accounts", "run"} <= titles
    # Replies to an alert card need no @mention: the team's owner consents to channel messages.
    assert {"name": "ChannelMessage.Read.Group", "type": "Application"} in manifest["authorization"][
        "permissions"
    ]["resourceSpecific"]
    assert manifest["webApplicationInfo"]["id"] == bot["botId"]


def test_the_schema_rejects_a_broken_manifest() -> None:
    manifest = json.loads(MANIFEST.read_text())
    manifest["bots"][0]["botId"] = "not-a-guid"

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(_schema()).validate(manifest)


def test_the_icons_have_the_sizes_teams_requires() -> None:
    assert _png_size(ROOT / "teams" / "color.png") == (192, 192)
    assert _png_size(ROOT / "teams" / "outline.png") == (32, 32)


def test_the_package_script_zips_a_valid_manifest_with_the_configured_bot_id(tmp_path: Path) -> None:
    out = tmp_path / "centralops-teams.zip"
    app_id = "12345678-1234-4234-8234-123456789abc"

    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "teams-package"), "--out", str(out)],
        check=True,
        env={"CENTRALOPS_TEAMS_APP_ID": app_id, "CENTRALOPS_PUBLIC_URL": "https://ops.acme.example"},
        cwd=ROOT,
    )

    with zipfile.ZipFile(out) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(package.read("manifest.json"))
    assert manifest["bots"][0]["botId"] == app_id
    assert manifest["webApplicationInfo"]["id"] == app_id
    assert "ops.acme.example" in manifest["validDomains"]
    jsonschema.Draft4Validator(_schema()).validate(manifest)
