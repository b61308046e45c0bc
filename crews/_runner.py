"""Kick off one of the four crews and return its validated pydantic output."""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import BaseModel, ValidationError

from ._models import PolicyDecision, ReplyDraft, ReviewResult, TriageResult

__all__ = ["CREW_KINDS", "CrewFailed", "kickoff_crew"]

CREW_KINDS: dict[str, tuple[str, str, type[BaseModel]]] = {
    "triage": ("crews.triage.crew", "TriageCrew", TriageResult),
    "policy": ("crews.policy.crew", "PolicyCrew", PolicyDecision),
    "reply": ("crews.reply.crew", "ReplyCrew", ReplyDraft),
    "review": ("crews.review.crew", "ReviewCrew", ReviewResult),
}


class CrewFailed(RuntimeError):
    """A crew did not produce a valid output (model error or unparseable answer)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind} crew failed: {reason}")
        self.kind = kind
        self.reason = reason


def kickoff_crew(kind: str, llm: Any, inputs: dict[str, Any]) -> Any:
    """Run the ``kind`` crew through a real ``Crew.kickoff`` and return its pydantic output."""
    module_name, class_name, output_type = CREW_KINDS[kind]
    crew_cls = getattr(importlib.import_module(module_name), class_name)
    try:
        output = crew_cls(llm).crew().kickoff(inputs=inputs)
    except Exception as err:  # the model, the network or CrewAI's conversion failed
        raise CrewFailed(kind, f"{type(err).__name__}: {err}") from err
    result = output.pydantic
    if isinstance(result, output_type):
        return result
    try:
        return output_type.model_validate_json(output.raw)
    except ValidationError as err:
        raise CrewFailed(kind, f"invalid {output_type.__name__}: {err}") from err
