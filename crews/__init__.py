"""CrewAI crews (triage, policy, reply, review), the flow that wires them to the mail
transport, the worker that runs it over the durable queue, human review and evals.

Public names are imported lazily: ``import crews`` is fast and does not import CrewAI
(about 4 s) until a crew, the flow or a model is used. CrewAI telemetry is off unless
the environment turns it on.

Quick start::

    from crews import EmailAgent, load_config
    agent = EmailAgent(client, mailbox_id, config=load_config("crews/config/support.yaml"))
    agent.index_docs("crews/demo/data/helpcentre")
    result = agent.process(event)      # replied / held / ignored / blocked, and why
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

# Before anything imports CrewAI: no telemetry or tracing unless the user asked for it.
for _name, _value in {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "OTEL_SDK_DISABLED": "true",
}.items():
    os.environ.setdefault(_name, _value)

if TYPE_CHECKING:
    from ._agent import EmailAgent, FlowResult, guard_policy_for
    from ._config import (
        ConfigError,
        EscalationRule,
        MailboxConfig,
        Persona,
        PolicyRules,
        TopicRule,
        load_config,
    )
    from ._flow import EmailAgentFlow, EmailFlowState
    from ._llm import MeteredLLM, OfflineLLM, ScriptedLLM, default_llm, is_offline
    from ._models import PolicyDecision, ReplyDraft, ReviewResult, RunStats, TriageResult
    from ._review import ReviewError, ReviewItem, ReviewQueue
    from ._run import InboxRun, run_inbox
    from ._runner import CrewFailed, ModelUnavailable, kickoff_crew
    from ._worker import Worker, WorkerStats
    from .evals import EvalReport, run_eval
    from .policy import PolicyCrew
    from .reply import ReplyCrew
    from .review import ReviewCrew
    from .triage import TriageCrew

_EXPORTS: dict[str, str] = {
    "ConfigError": "._config",
    "CrewFailed": "._runner",
    "EmailAgent": "._agent",
    "EmailAgentFlow": "._flow",
    "EmailFlowState": "._flow",
    "EscalationRule": "._config",
    "EvalReport": ".evals",
    "FlowResult": "._agent",
    "InboxRun": "._run",
    "MailboxConfig": "._config",
    "MeteredLLM": "._llm",
    "ModelUnavailable": "._runner",
    "OfflineLLM": "._llm",
    "Persona": "._config",
    "PolicyCrew": ".policy",
    "PolicyDecision": "._models",
    "PolicyRules": "._config",
    "ReplyCrew": ".reply",
    "ReplyDraft": "._models",
    "ReviewCrew": ".review",
    "ReviewError": "._review",
    "ReviewItem": "._review",
    "ReviewQueue": "._review",
    "ReviewResult": "._models",
    "RunStats": "._models",
    "ScriptedLLM": "._llm",
    "TopicRule": "._config",
    "TriageCrew": ".triage",
    "TriageResult": "._models",
    "Worker": "._worker",
    "WorkerStats": "._worker",
    "default_llm": "._llm",
    "guard_policy_for": "._agent",
    "is_offline": "._llm",
    "kickoff_crew": "._runner",
    "load_config": "._config",
    "run_eval": ".evals",
    "run_inbox": "._run",
}

__all__ = [
    "ConfigError",
    "CrewFailed",
    "EmailAgent",
    "EmailAgentFlow",
    "EmailFlowState",
    "EscalationRule",
    "EvalReport",
    "FlowResult",
    "InboxRun",
    "MailboxConfig",
    "MeteredLLM",
    "ModelUnavailable",
    "OfflineLLM",
    "Persona",
    "PolicyCrew",
    "PolicyDecision",
    "PolicyRules",
    "ReplyCrew",
    "ReplyDraft",
    "ReviewCrew",
    "ReviewError",
    "ReviewItem",
    "ReviewQueue",
    "ReviewResult",
    "RunStats",
    "ScriptedLLM",
    "TopicRule",
    "TriageCrew",
    "TriageResult",
    "Worker",
    "WorkerStats",
    "default_llm",
    "guard_policy_for",
    "is_offline",
    "kickoff_crew",
    "load_config",
    "run_eval",
    "run_inbox",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        msg = f"module 'crews' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
