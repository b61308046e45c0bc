"""Kick off one of the four crews and return its validated pydantic output."""

from __future__ import annotations

import importlib
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from ._models import PolicyDecision, ReplyDraft, ReviewResult, TriageResult

__all__ = ["CREW_KINDS", "CrewFailed", "ModelUnavailable", "kickoff_crew"]

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


class ModelUnavailable(RuntimeError):
    """The model could not be reached (network, timeout, rate limit, 5xx): retry later, do not hold."""


# Provider SDKs name their transient errors like this (openai, httpx, litellm, anthropic...).
_TRANSIENT = re.compile(r"Connection|Timeout|RateLimit|ServiceUnavailable|InternalServerError|Overloaded")


def _transient(err: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (ConnectionError, TimeoutError)) or any(
            _TRANSIENT.search(cls.__name__) for cls in type(current).__mro__
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def kickoff_crew(kind: str, llm: Any, inputs: dict[str, Any]) -> Any:
    """Run the ``kind`` crew through a real ``Crew.kickoff`` and return its pydantic output.

    Raises:
        CrewFailed: the model answered, but not with a valid output (the flow holds for a person).
        ModelUnavailable: the model could not be reached (the worker retries the event later).
    """
    module_name, class_name, output_type = CREW_KINDS[kind]
    crew_cls = getattr(importlib.import_module(module_name), class_name)
    try:
        output = crew_cls(llm).crew().kickoff(inputs=inputs)
    except Exception as err:  # the model, the network or CrewAI's conversion failed
        if _transient(err):
            msg = f"{kind} crew: the model is unreachable ({type(err).__name__}: {err})"
            raise ModelUnavailable(msg) from err
        raise CrewFailed(kind, f"{type(err).__name__}: {err}") from err
    result = output.pydantic
    if isinstance(result, output_type):
        return result
    try:
        return output_type.model_validate_json(output.raw)
    except ValidationError as err:
        raise CrewFailed(kind, f"invalid {output_type.__name__}: {err}") from err
