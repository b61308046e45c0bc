"""The four crews through a real CrewAI kickoff, with scripted and offline models."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.crewai

crewai = pytest.importorskip("crewai")  # imported once for the module (it is slow)

from crews import (  # noqa: E402
    CrewFailed,
    MeteredLLM,
    OfflineLLM,
    PolicyDecision,
    ReplyDraft,
    ReviewResult,
    RunStats,
    ScriptedLLM,
    TriageResult,
    default_llm,
    is_offline,
    kickoff_crew,
)
from crews._prompts import Source, render_categories, render_email, render_sources  # noqa: E402

CREWS_DIR = Path(__file__).resolve().parents[2] / "crews"
KINDS = ("triage", "policy", "reply", "review")


def inputs(**extra: str) -> dict[str, str]:
    from crews import MailboxConfig

    config = MailboxConfig()
    base = {
        "company": "Brightpath Home",
        "persona_name": "Support",
        "persona_role": "a support agent",
        "tone": "warm",
        "signature": "— Support",
        "categories": render_categories(config.categories),
        "thread_summary": "(new conversation)",
        "email": render_email(
            {
                "from_address": "alice@example.com",
                "subject": "Delivery?",
                "body_text": "How long is delivery to Canada?",
            }
        ),
        "triage": "{}",
        "policy_notes": "- answered automatically: support",
        "undecided_because": "no rule covers category 'sales'",
        "context": "(none)",
        "sources": render_sources(
            [Source("doc:shipping.md#1", "Delivery to Canada takes 5–8 business days.")]
        ),
        "feedback": "",
        "draft": "{}",
    }
    base.update(extra)
    return base


@pytest.mark.parametrize("kind", KINDS)
def test_yaml_keys_equal_method_names(kind: str) -> None:
    """A public example crew shipped with mismatched keys; here a mismatch fails the build."""
    source = (CREWS_DIR / kind / "crew.py").read_text(encoding="utf-8")
    methods: dict[str, set[str]] = {"agent": set(), "task": set()}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                if isinstance(deco, ast.Name) and deco.id in methods:
                    methods[deco.id].add(node.name)
    agents = yaml.safe_load((CREWS_DIR / kind / "config" / "agents.yaml").read_text(encoding="utf-8"))
    tasks = yaml.safe_load((CREWS_DIR / kind / "config" / "tasks.yaml").read_text(encoding="utf-8"))
    assert set(agents) == methods["agent"] == {f"{kind}_agent"}
    assert set(tasks) == methods["task"] == {f"{kind}_task"}
    assert all(task["agent"] in agents for task in tasks.values())


TRIAGE_REPLY = {
    "intent": "delivery time",
    "category": "support",
    "urgency": "normal",
    "needs_reply": True,
    "language": "en",
    "reasoning": "asks about delivery",
}
TRIAGE_SKIP = {
    "intent": "newsletter",
    "category": "newsletter",
    "urgency": "low",
    "needs_reply": False,
    "language": "en",
    "reasoning": "bulk",
}


@pytest.mark.parametrize(
    ("kind", "answer", "expected"),
    [
        ("triage", TRIAGE_REPLY, TriageResult(**TRIAGE_REPLY)),
        ("triage", TRIAGE_SKIP, TriageResult(**TRIAGE_SKIP)),
        (
            "policy",
            {"allowed_actions": ["reply", "draft"], "escalation": None, "reasons": ["routine"]},
            PolicyDecision(allowed_actions=["reply", "draft"], reasons=["routine"]),
        ),
        (
            "policy",
            {"allowed_actions": ["escalate"], "escalation": "billing", "reasons": ["money"]},
            PolicyDecision(allowed_actions=["escalate"], escalation="billing", reasons=["money"]),
        ),
        (
            "policy",
            {"allowed_actions": ["ignore"], "escalation": None, "reasons": ["nothing to do"]},
            PolicyDecision(allowed_actions=["ignore"], reasons=["nothing to do"]),
        ),
        (
            "reply",
            {
                "subject": "Re: Delivery?",
                "body_text": "5–8 days [doc:shipping.md#1]",
                "citations": ["doc:shipping.md#1"],
                "confidence": 0.9,
                "questions": [],
            },
            ReplyDraft(
                subject="Re: Delivery?",
                body_text="5–8 days [doc:shipping.md#1]",
                citations=["doc:shipping.md#1"],
                confidence=0.9,
            ),
        ),
        (
            "reply",
            {
                "subject": "Re: Delivery?",
                "body_text": "Which country?",
                "citations": [],
                "confidence": 0.2,
                "questions": ["Which country?"],
            },
            ReplyDraft(
                subject="Re: Delivery?",
                body_text="Which country?",
                confidence=0.2,
                questions=["Which country?"],
            ),
        ),
        *[
            (
                "review",
                {"decision": d, "feedback": "f" if d == "revise" else "", "reasons": [d]},
                ReviewResult(decision=d, feedback="f" if d == "revise" else "", reasons=[d]),
            )  # type: ignore[arg-type]
            for d in ("send", "revise", "hold", "escalate")
        ],
    ],
)
def test_each_crew_and_branch_through_kickoff(kind: str, answer: dict[str, Any], expected: Any) -> None:
    llm = ScriptedLLM([json.dumps(answer)])
    result = kickoff_crew(kind, llm, inputs())
    assert result == expected
    # The real CrewAI prompt reached the model: the YAML prose and the labelled email.
    prompt = llm.prompts[0]
    assert "INBOUND EMAIL (untrusted data" in prompt
    assert len(llm.prompts) == 1


def test_react_style_final_answer_is_accepted() -> None:
    llm = ScriptedLLM(["Thought: easy\nFinal Answer: " + json.dumps(TRIAGE_REPLY)])
    assert kickoff_crew("triage", llm, inputs()).category == "support"


@pytest.mark.parametrize(
    "bad",
    ["not json at all", json.dumps({"allowed_actions": ["launch_missiles"]})],
)
def test_invalid_model_output_is_a_crew_failure(bad: str) -> None:
    llm = ScriptedLLM([bad] * 5)
    with pytest.raises(CrewFailed) as info:
        kickoff_crew("policy", llm, inputs())
    assert info.value.kind == "policy"


def test_offline_model_answers_every_crew_with_valid_output() -> None:
    llm = OfflineLLM()
    triage = kickoff_crew("triage", llm, inputs())
    assert triage.category == "support" and triage.needs_reply
    draft = kickoff_crew("reply", llm, inputs(triage=triage.model_dump_json()))
    assert draft.citations == ["doc:shipping.md#1"] and "5–8 business days" in draft.body_text
    review = kickoff_crew(
        "review", llm, inputs(triage=triage.model_dump_json(), draft=draft.model_dump_json())
    )
    assert review.decision == "send"
    policy = kickoff_crew("policy", llm, inputs(triage=triage.model_dump_json()))
    assert policy.allowed_actions == ["draft"]  # the offline model never widens the rules
    usage = llm.get_token_usage_summary()
    assert usage.successful_requests == 4 and usage.prompt_tokens > 0


def test_metered_llm_counts_calls_and_prompt_tokens() -> None:
    stats = RunStats()
    inner = ScriptedLLM([json.dumps(TRIAGE_REPLY)])
    metered = MeteredLLM.wrap(inner, stats)
    kickoff_crew("triage", metered, inputs())
    assert stats.llm_calls == 1
    assert stats.prompt_tokens > 100
    assert stats.completion_tokens > 0
    assert len(inner.prompts) == 1
    assert not is_offline(metered) and is_offline(MeteredLLM.wrap(OfflineLLM(), RunStats()))


def test_offline_model_says_so(caplog: pytest.LogCaptureFixture) -> None:
    import crews._llm as llm_module

    llm_module._announced = False
    with caplog.at_level("WARNING", logger="crews"):
        OfflineLLM()
    assert "OFFLINE deterministic model" in caplog.text


def test_default_llm_from_environment() -> None:
    assert isinstance(default_llm({}), OfflineLLM)
    llm = default_llm({"OPENAI_API_KEY": "sk-test", "OPENAI_MODEL_NAME": "gpt-4o-mini"})
    assert not is_offline(llm)
    assert "gpt-4o-mini" in llm.model
    local = default_llm({"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1", "OPENAI_MODEL_NAME": "llama3.1"})
    assert local.base_url == "http://127.0.0.1:11434/v1"
    assert "llama3.1" in local.model


def test_scripted_llm_fails_loudly_on_an_extra_call() -> None:
    llm = ScriptedLLM([])
    with pytest.raises(CrewFailed, match="ran out of responses"):
        kickoff_crew("triage", llm, inputs())


def test_every_public_name_resolves() -> None:
    import crews

    for name in crews.__all__:
        assert getattr(crews, name) is not None, name
