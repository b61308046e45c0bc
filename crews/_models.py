"""Pydantic outputs of the four crews, and the record of one flow run.

These are the contracts between the crews and the flow: a model (real or offline) must
return JSON matching them, and the flow acts only on validated instances.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "ACTIONS",
    "PolicyDecision",
    "ReplyDraft",
    "ReviewResult",
    "RunStats",
    "TriageResult",
]

Urgency = Literal["low", "normal", "high"]
ReviewDecision = Literal["send", "revise", "hold", "escalate"]
# What the flow may do with an email: answer it, draft an answer for a person, hand it to
# an escalation contact, or leave it alone.
ACTIONS: tuple[str, ...] = ("reply", "draft", "escalate", "ignore")


class TriageResult(BaseModel):
    """What an inbound email is and whether it needs an answer."""

    model_config = ConfigDict(extra="ignore")

    intent: str = Field(description="A few words naming what the sender wants, e.g. 'order tracking'.")
    category: str = Field(description="Exactly one of the mailbox's categories.")
    urgency: Urgency = Field(default="normal", description="low, normal or high.")
    needs_reply: bool = Field(description="True when a person or the agent should answer this email.")
    language: str = Field(default="en", description="ISO 639-1 code of the email's language.")
    reasoning: str = Field(default="", description="One or two sentences explaining the classification.")

    @field_validator("category", "language")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class PolicyDecision(BaseModel):
    """Which actions the flow may take, and whether a person must be involved."""

    model_config = ConfigDict(extra="ignore")

    allowed_actions: list[str] = Field(
        description="Subset of: reply (send an answer), draft (draft for a person), escalate, ignore."
    )
    escalation: str | None = Field(
        default=None, description="Escalation contact name or address when a person must handle it."
    )
    reasons: list[str] = Field(default_factory=list, description="Why, one short sentence per rule.")
    decided_by: Literal["rules", "model"] = Field(default="model", description="Set by the flow.")

    @field_validator("allowed_actions")
    @classmethod
    def _known_actions(cls, value: list[str]) -> list[str]:
        cleaned = [a.strip().lower() for a in value]
        unknown = [a for a in cleaned if a not in ACTIONS]
        if unknown:
            msg = f"unknown actions {unknown}; allowed: {', '.join(ACTIONS)}"
            raise ValueError(msg)
        return cleaned


class ReplyDraft(BaseModel):
    """A reply grounded in the labelled context, citing the source ids it used."""

    model_config = ConfigDict(extra="ignore")

    subject: str = Field(description="Subject line, normally 'Re: ' plus the original subject.")
    body_text: str = Field(description="Plain-text body of the reply, signed with the persona.")
    citations: list[str] = Field(default_factory=list, description="Source ids from the context used.")
    confidence: float = Field(default=0.5, ge=0.0, le=1.0, description="0..1: how well the context answers.")
    questions: list[str] = Field(
        default_factory=list, description="Clarifying questions asked because information is missing."
    )


class ReviewResult(BaseModel):
    """The reviewer's verdict on a draft."""

    model_config = ConfigDict(extra="ignore")

    decision: ReviewDecision = Field(description="send, revise, hold (for a person) or escalate.")
    feedback: str = Field(default="", description="What to change when the decision is revise.")
    reasons: list[str] = Field(default_factory=list, description="Why, one short sentence each.")


class RunStats(BaseModel):
    """Cost of one flow run: model calls and prompt tokens, counted as sent."""

    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    crews: list[str] = Field(default_factory=list)
