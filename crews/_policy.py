"""Deterministic policy: the mailbox's written rules decide first; the model only fills gaps.

Rules run in a fixed order, most protective first: attempts to instruct the agent, forbidden
topics, escalation rules, categories never answered, categories answered on their own, the
catch-all. What none of them settles is handed to the policy crew.
"""

from __future__ import annotations

import re
from typing import Any

from ._config import MailboxConfig
from ._models import PolicyDecision, TriageResult

__all__ = ["detect_injection", "evaluate_rules", "policy_notes"]


def _text(message: Any) -> str:
    get = message.get if isinstance(message, dict) else lambda k, d=None: getattr(message, k, d)
    return f"{get('subject', '') or ''}\n{get('body_text', '') or ''}"


def detect_injection(text: str, config: MailboxConfig) -> str | None:
    """The first injection pattern found in ``text``, if any."""
    for pattern in config.policy.injection_patterns:
        match = re.search(pattern, text, flags=re.IGNORECASE)
        if match:
            return match.group(0)
    return None


def evaluate_rules(
    message: Any, triage: TriageResult, config: MailboxConfig
) -> tuple[PolicyDecision | None, str]:
    """Return ``(decision, "")`` when a rule decides, else ``(None, why the rules could not)``."""
    rules = config.policy
    text = _text(message)

    def decided(actions: list[str], reasons: list[str], contact: str | None = None) -> PolicyDecision:
        return PolicyDecision(
            allowed_actions=actions, escalation=contact, reasons=reasons, decided_by="rules"
        )

    phrase = detect_injection(text, config)
    if phrase or triage.category == "security":
        why = (
            f"the email tries to instruct the agent ({phrase!r})"
            if phrase
            else "triaged as a security matter"
        )
        return decided(["escalate"], [f"{why}; a person must handle it"], rules.injection_contact), ""
    for topic in rules.forbidden_topics:
        hit = topic.matches(text)
        if hit:
            reason = topic.reason or f"forbidden topic {topic.name!r} (matched {hit!r})"
            actions = (
                ["ignore"]
                if topic.action == "ignore"
                else [topic.action, "escalate"]
                if topic.action == "draft"
                else ["escalate"]
            )
            return decided(actions, [reason], topic.contact), ""
    for rule in rules.escalation_rules:
        if rule.matches(triage.category, text):
            reason = rule.reason or f"escalation rule {rule.name!r}"
            actions = [rule.action, "escalate"] if rule.action == "draft" else ["escalate"]
            return decided(actions, [reason], rule.contact), ""
    if not triage.needs_reply or triage.category in rules.ignore_categories:
        return decided(["ignore"], [f"category {triage.category!r} is never answered"]), ""
    if triage.category in rules.auto_reply_categories:
        if rules.auto_reply_languages and triage.language not in rules.auto_reply_languages:
            return decided(
                ["draft"], [f"mail in {triage.language!r} is answered by a person in this mailbox"]
            ), ""
        if rules.hold_urgent and triage.urgency == "high":
            return decided(["draft"], ["urgent mail is answered by a person in this mailbox"]), ""
        return decided(
            ["reply", "draft"], [f"category {triage.category!r} may be answered automatically"]
        ), ""
    if triage.category == "other":
        return decided(["draft"], ["the category is unclear, so a person approves the answer"]), ""
    return None, f"no rule covers category {triage.category!r}"


def policy_notes(config: MailboxConfig) -> str:
    """The mailbox's rules in a few lines, for the policy crew's prompt."""
    rules = config.policy
    lines = [
        f"- answered automatically: {', '.join(rules.auto_reply_categories) or 'nothing'}",
        f"- never answered: {', '.join(rules.ignore_categories) or 'nothing'}",
    ]
    lines += [
        f"- forbidden topic {t.name}: {t.reason or ', '.join(t.patterns)} -> {t.action} ({t.contact})"
        for t in rules.forbidden_topics
    ]
    lines += [f"- escalation {r.name}: {r.reason or r.name} -> {r.contact}" for r in rules.escalation_rules]
    if config.escalation_contacts:
        lines.append("- escalation contacts: " + ", ".join(sorted(config.escalation_contacts)))
    return "\n".join(lines)
