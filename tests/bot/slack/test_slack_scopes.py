"""The Slack app manifest asks for exactly the scopes the code uses."""

import re
from pathlib import Path

import yaml

from infra.local.slack_api import MANIFEST, METHOD_SCOPES, manifest_scopes

BOT = Path(__file__).resolve().parents[3] / "bot"
CALL = re.compile(
    r"\.(assistant_threads|auth|chat|conversations|files|reactions|users|views)_([A-Za-z0-9_]+)\("
)
HELPERS = {
    # slack-sdk helpers and the Web API methods they call
    "chat.stream": ["chat.startStream", "chat.appendStream", "chat.stopStream"],
    "files.upload_v2": ["files.getUploadURLExternal", "files.completeUploadExternal"],
}
EVENT_SCOPES = {
    "app_mention": "app_mentions:read",
    "message.im": "im:history",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "app_home_opened": None,
    "assistant_thread_started": "assistant:write",
    "assistant_thread_context_changed": "assistant:write",
}
FEATURE_SCOPES = {
    "commands": "the /aws slash command",
    "users:read.email": "linking compares the Slack profile email (users.info returns it only with this scope)",
    "chat:write.public": "answers in public channels the bot has not joined",
}


def methods_called() -> set[str]:
    """Web API methods called anywhere in ``bot/``."""
    found: set[str] = set()
    for path in BOT.rglob("*.py"):
        for family, name in CALL.findall(path.read_text()):
            method = f"{family.replace('_', '.')}.{name}"
            found.update(HELPERS.get(method, [method]))
    return found


def test_the_manifest_asks_for_exactly_the_scopes_the_code_uses() -> None:
    called = methods_called()
    assert {"chat.postMessage", "chat.startStream", "files.completeUploadExternal", "users.info"} <= called
    unknown = called - set(METHOD_SCOPES)
    assert not unknown, f"add the scope of {unknown} to METHOD_SCOPES (Slack's method reference)"
    manifest = yaml.safe_load(MANIFEST.read_text())
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    needed = {METHOD_SCOPES[m] for m in called} | {EVENT_SCOPES[e] for e in events} | set(FEATURE_SCOPES)
    needed.discard(None)
    assert manifest_scopes() == needed


def test_unused_direct_message_scopes_are_gone() -> None:
    # im:write stays for App Home's "Ask again" (conversations.open); nothing lists DMs.
    assert "conversations.open" in methods_called()
    assert not {"im:read"} & manifest_scopes()
