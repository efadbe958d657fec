"""The checks the Slack and Teams stand-ins run on every payload find what they should."""

from pathlib import Path

import pytest

from infra.local.payload_checks import check_blocks, check_slack, check_teams


def test_block_kit_models_and_the_limits_they_leave_out() -> None:
    assert check_blocks([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}])
    assert check_blocks([{"type": "divider"}] * 51)
    table = {"type": "table", "rows": [[{"type": "raw_text", "text": "a"}]] * 101}
    assert any("101 rows" in p for p in check_blocks([table]))
    two = {"type": "table", "rows": [[{"type": "raw_text", "text": "a"}]]}
    assert any("one allowed" in p for p in check_blocks([two, two]))
    assert any("12000" in p for p in check_blocks([{"type": "markdown", "text": "x" * 12_001}]))
    assert check_blocks([two, {"type": "markdown", "text": "fine"}]) == []


def test_data_that_could_become_a_slack_control_sequence_or_link() -> None:
    assert check_slack("chat.postMessage", {"channel": "C", "text": "hi <!channel>"})
    assert check_slack("chat.postMessage", {"channel": "C", "text": "<@U0ALICE> asked"}) == []
    assert check_slack("chat.postMessage", {"channel": "C", "text": "<#C0OPS> gets alarms"}) == []
    assert check_slack("chat.postMessage", {"channel": "C", "text": "<#C0OPS|evil> gets alarms"})
    assert check_slack("chat.appendStream", {"markdown_text": "see [x](https://evil.example)"})
    assert check_slack("chat.appendStream", {"markdown_text": "mail mallory@evil.example"})
    assert check_slack("chat.appendStream", {"markdown_text": "run `aws s3 ls s3://b`"}) == []


def test_teams_cards_against_the_schema_size_and_markdown_in_text_blocks() -> None:
    def card(body: list[dict[str, object]]) -> dict[str, object]:
        content = {"type": "AdaptiveCard", "version": "1.5", "body": body}
        return {
            "type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": content}],
        }

    assert check_teams(card([{"type": "TextBlock", "text": "Approval needed"}])) == []
    assert check_teams(card([{"type": "TextBlock", "text": "[x](https://evil.example)"}]))
    assert (
        check_teams(card([{"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": "*x* [y](z)"}]}]))
        == []
    )
    assert check_teams(card([{"type": "TextBlock"}])), "schema: a TextBlock needs text"
    assert check_teams({"type": "message", "text": "é" * 21_000})


def test_a_clone_without_the_card_schema_still_checks_size_and_markdown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from infra.local import payload_checks

    monkeypatch.setenv(payload_checks.SCHEMA_ENV, str(tmp_path / "absent.json"))
    payload_checks._card_validator.cache_clear()
    try:
        body = [{"type": "TextBlock", "text": "[x](https://evil.example)"}]
        content = {"type": "AdaptiveCard", "version": "1.5", "body": body}
        activity = {
            "type": "message",
            "attachments": [{"contentType": payload_checks.CARD, "content": content}],
        }
        assert payload_checks._card_validator() is None
        assert any("markdown" in p for p in check_teams(activity))
        assert check_teams({"type": "message", "text": "é" * 21_000})
    finally:
        payload_checks._card_validator.cache_clear()


def test_task_cards_are_checked_like_markdown_text() -> None:
    def chunk(**fields: str) -> dict[str, object]:
        return {"chunks": [{"type": "task_update", "id": "call-0", "status": "complete", **fields}]}

    assert check_slack("chat.startStream", chunk(title="<!channel>", details="aws s3 ls"))
    assert check_slack("chat.appendStream", chunk(title="staging", details="see https://evil.example"))
    assert any("256" in p for p in check_slack("chat.appendStream", chunk(title="s", details="x" * 257)))
    assert check_slack("chat.appendStream", chunk(title="staging", details="aws s3 ls", output="done")) == []


def test_teams_ai_label_and_citations_as_teams_documents_them() -> None:
    def cited(text: str, name: str = "staging", position: int = 1) -> dict[str, object]:
        citation = {
            "@type": "Claim",
            "position": position,
            "appearance": {"@type": "DigitalDocument", "name": name, "abstract": "aws s3 ls"},
        }
        entity = {
            "type": "https://schema.org/Message",
            "@type": "Message",
            "@context": "https://schema.org",
            "additionalType": ["AIGeneratedContent"],
            "citation": [citation],
        }
        return {"type": "message", "text": text, "entities": [entity]}

    assert check_teams(cited("3 buckets.\n\nSources: [1]")) == []
    assert any("not referred to" in p for p in check_teams(cited("3 buckets.")))
    assert any("80" in p for p in check_teams(cited("Sources: [1]", name="x" * 81)))
    both = {"type": "message", "text": "x", "channelData": {"feedbackLoop": {}, "feedbackLoopEnabled": True}}
    assert any("both" in p for p in check_teams(both))
