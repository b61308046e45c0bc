"""MailboxConfig: the shipped example, defaults, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from crews._config import ConfigError, EscalationRule, MailboxConfig, TopicRule, load_config

SUPPORT_YAML = Path(__file__).resolve().parents[2] / "crews" / "config" / "support.yaml"


def test_shipped_support_config_loads() -> None:
    config = load_config(SUPPORT_YAML)
    assert config.persona.company == "Brightpath Home"
    assert {"support", "billing", "spam", "newsletter", "auto_reply", "bounce", "security", "other"} <= set(
        config.categories
    )
    assert config.policy.auto_reply_categories == ["support", "billing"]
    assert config.escalation_address("billing") == "billing-escalations@brightpath.example"
    assert config.escalation_address("someone@example.com") == "someone@example.com"
    assert config.escalation_address("nobody") is None


def test_defaults_are_safe() -> None:
    config = MailboxConfig()
    assert config.policy.auto_reply_categories == []  # answers nothing on its own
    assert "other" in config.categories
    assert config.allow_new_conversations is False


def test_category_list_form_gets_default_hints() -> None:
    config = MailboxConfig.from_yaml("categories: [billing, spam]")
    assert "invoice" in config.categories["billing"]
    assert set(config.categories) == {"billing", "spam", "other"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("persona: [unclosed", "not valid YAML"),
        ("- just\n- a list", "expected a mapping"),
        ("tone: ok\nunknown_key: 1", "unknown_key"),
        ("policy:\n  min_confidence: 2", "min_confidence"),
        ("policy:\n  forbidden_topics:\n    - {name: x, patterns: [a], action: shout}", "action"),
    ],
)
def test_bad_config_is_a_clear_error(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        MailboxConfig.from_yaml(text, source="bad.yaml")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


def test_escalation_rule_amounts() -> None:
    rule = EscalationRule(name="big", categories=["billing"], patterns=["refund"], amount_over=100)
    assert rule.matches("billing", "Please refund the $180 bundle")
    assert not rule.matches("billing", "Please refund the $80 plug")
    assert not rule.matches("support", "Please refund the $180 bundle")
    assert not rule.matches("billing", "The $180 bundle is great")
    assert rule.matches("billing", "refund of $1,250.00 please")


def test_topic_rule_matches_case_insensitively() -> None:
    rule = TopicRule(name="legal", patterns=["lawyer", "charge ?back"])
    assert rule.matches("My LAWYER will call") == "lawyer"
    assert rule.matches("I'll file a chargeback") == "charge ?back"
    assert rule.matches("all good") is None
