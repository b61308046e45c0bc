"""Per-mailbox configuration: persona, tone, categories, policy rules, escalation, allow-lists.

Loaded from YAML (see ``crews/config/support.yaml``); everything has a safe default so an
empty file gives an agent that answers nothing it is unsure about.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "DEFAULT_CATEGORIES",
    "ConfigError",
    "EscalationRule",
    "MailboxConfig",
    "Persona",
    "PolicyRules",
    "TopicRule",
    "load_config",
]

DEFAULT_CATEGORIES: dict[str, list[str]] = {
    "support": [
        "help",
        "not working",
        "broken",
        "password",
        "sign in",
        "log in",
        "reset",
        "order",
        "tracking",
        "delivery",
        "shipping",
        "parcel",
        "setup",
        "install",
        "device",
        "hub",
        "camera",
        "app",
        "error",
        "lost",
        "damaged",
        "return",
        "warranty",
    ],
    "billing": [
        "invoice",
        "charge",
        "charged",
        "payment",
        "refund",
        "plan",
        "subscription",
        "price",
        "billing",
        "receipt",
        "vat",
        "yearly",
        "monthly",
        "renew",
        "cancel",
        "card",
    ],
    "scheduling": [
        "schedule",
        "reschedule",
        "appointment",
        "meeting",
        "call",
        "calendar",
        "availability",
        "available",
        "slot",
        "book a",
        "time works",
        "tuesday",
        "thursday",
    ],
    "sales": [
        "quote",
        "pricing for",
        "bulk",
        "wholesale",
        "partnership",
        "reseller",
        "demo",
        "business account",
        "volume",
        "distributor",
        "units for",
    ],
    "spam": [
        "lottery",
        "winner",
        "crypto",
        "bitcoin",
        "seo services",
        "guaranteed",
        "casino",
        "viagra",
        "investment opportunity",
        "wire transfer",
        "inheritance",
        "click here",
    ],
    "newsletter": ["unsubscribe", "newsletter", "this week", "weekly digest", "read more"],
    "auto_reply": [
        "out of office",
        "out of the office",
        "automatic reply",
        "auto-reply",
        "on vacation",
        "limited access to email",
    ],
    "bounce": [
        "undelivered",
        "delivery status notification",
        "returned to sender",
        "mailbox unavailable",
        "user unknown",
        "delivery failure",
    ],
    "security": [
        "ignore your previous instructions",
        "ignore your instructions",
        "admin mode",
        "system notice",
        "customer list",
        "every customer",
        "new payment link",
    ],
    "other": [],
}


class ConfigError(ValueError):
    """A mailbox configuration file is missing, unreadable or invalid."""


class Persona(BaseModel):
    """Who the agent speaks as."""

    model_config = ConfigDict(extra="forbid")

    name: str = "Support"
    role: str = "a careful customer support agent"
    signature: str = "— Support"
    company: str = ""


class TopicRule(BaseModel):
    """A topic the agent must not handle alone: matching mail goes to a person."""

    model_config = ConfigDict(extra="forbid")

    name: str
    patterns: list[str]
    action: str = "escalate"  # "escalate" (no draft) or "draft" (draft for a person)
    contact: str | None = None
    reason: str = ""

    @field_validator("action")
    @classmethod
    def _action(cls, value: str) -> str:
        if value not in ("escalate", "draft", "ignore"):
            msg = f"topic action must be escalate, draft or ignore, not {value!r}"
            raise ValueError(msg)
        return value

    def matches(self, text: str) -> str | None:
        for pattern in self.patterns:
            if re.search(pattern, text, flags=re.IGNORECASE):
                return pattern
        return None


class EscalationRule(BaseModel):
    """Escalate when a category (optional), a pattern (optional) and an amount threshold hold."""

    model_config = ConfigDict(extra="forbid")

    name: str
    categories: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    amount_over: float | None = None
    action: str = "draft"
    contact: str | None = None
    reason: str = ""

    def matches(self, category: str, text: str) -> bool:
        if self.categories and category not in self.categories:
            return False
        if self.patterns and not any(re.search(p, text, flags=re.IGNORECASE) for p in self.patterns):
            return False
        if self.amount_over is not None:
            amounts = [float(a.replace(",", "")) for a in re.findall(r"[$€£]\s?(\d[\d,]*(?:\.\d+)?)", text)]
            if not any(a > self.amount_over for a in amounts):
                return False
        return True


class PolicyRules(BaseModel):
    """Deterministic rules evaluated before any model is asked."""

    model_config = ConfigDict(extra="forbid")

    # Categories the agent may answer on its own; anything else is drafted for a person.
    auto_reply_categories: list[str] = Field(default_factory=list)
    # Categories that are never answered (newsletters, bounces...).
    ignore_categories: list[str] = Field(
        default_factory=lambda: ["spam", "newsletter", "auto_reply", "bounce"]
    )
    forbidden_topics: list[TopicRule] = Field(default_factory=list)
    escalation_rules: list[EscalationRule] = Field(default_factory=list)
    # Phrases that mark an email as an attempt to instruct the agent (prompt injection).
    injection_patterns: list[str] = Field(
        default_factory=lambda: [
            r"ignore (all |your |any )?(previous |prior )?instructions",
            r"disregard (all |your )?(previous |prior )?(instructions|rules)",
            r"\b(admin|developer|god) mode\b",
            r"you are now",
            r"system (notice|prompt|override)",
            r"(email|send|forward)[^.]{0,40}\b(every|all) (customers?|users?|contacts?)",
            r"customer (list|database)",
            r"new instructions",
            r"system prompt",
            r"forward (this|the) (conversation|thread|email) to",
        ]
    )
    injection_contact: str | None = "security"
    # Languages the agent answers on its own (empty: any); other languages go to a person.
    auto_reply_languages: list[str] = Field(default_factory=list)
    # Whether the policy model may allow automatic replies for cases no rule covers.
    model_may_auto_reply: bool = False
    min_confidence: float = Field(default=0.45, ge=0.0, le=1.0)
    max_revisions: int = Field(default=1, ge=0, le=5)
    hold_urgent: bool = False


class MailboxConfig(BaseModel):
    """Everything the crews need to know about one mailbox.

    Example::

        config = load_config("crews/config/support.yaml")
        config.escalation_address("billing")  # 'billing-escalations@brightpath.example'
    """

    model_config = ConfigDict(extra="forbid")

    mailbox: str | None = Field(default=None, description="Mailbox id or address this config is for.")
    persona: Persona = Field(default_factory=Persona)
    tone: str = "friendly, concise and precise; plain English; no promises the sources do not support"
    language: str = "en"
    categories: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_CATEGORIES))
    policy: PolicyRules = Field(default_factory=PolicyRules)
    escalation_contacts: dict[str, str] = Field(default_factory=dict)
    allowed_addresses: list[str] = Field(default_factory=list)
    allowed_domains: list[str] = Field(default_factory=list)
    allow_new_conversations: bool = False
    max_replies_per_thread: int = Field(default=3, ge=1)
    rate_per_minute: int = Field(default=20, ge=1)
    context_budget_tokens: int = Field(default=1800, ge=200)

    @field_validator("categories", mode="before")
    @classmethod
    def _categories(cls, value: Any) -> Any:
        # A plain list of names is accepted; keywords then come from the defaults.
        if isinstance(value, list):
            return {str(name): list(DEFAULT_CATEGORIES.get(str(name), [])) for name in value}
        return value

    @model_validator(mode="after")
    def _other_category(self) -> MailboxConfig:
        # "When unsure, prefer a person": there is always a catch-all category.
        self.categories.setdefault("other", [])
        return self

    def escalation_address(self, contact: str | None) -> str | None:
        """Resolve a contact name (``billing``) to an address; addresses pass through."""
        if contact is None:
            return None
        return self.escalation_contacts.get(contact, contact if "@" in contact else None)

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<string>") -> MailboxConfig:
        """Parse YAML text; errors name the file and the field."""
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as err:
            msg = f"{source}: not valid YAML: {err}"
            raise ConfigError(msg) from err
        if not isinstance(data, dict):
            msg = f"{source}: expected a mapping at the top level, got {type(data).__name__}"
            raise ConfigError(msg)
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            msg = f"{source}: invalid mailbox configuration:\n{err}"
            raise ConfigError(msg) from err


def load_config(path: str | Path) -> MailboxConfig:
    """Load a :class:`MailboxConfig` from a YAML file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as err:
        msg = f"cannot read mailbox configuration {file}: {err.strerror or err}"
        raise ConfigError(msg) from err
    return MailboxConfig.from_yaml(text, source=str(file))
