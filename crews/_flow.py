"""EmailAgentFlow: one inbound event through triage, policy, reply and review to a guarded send.

The graph (a CrewAI Flow; every arrow is a ``@listen``/``@router`` edge)::

    load ─► screen ─┬─ to_stop ──────────────────────────────────────► stop
                    └─ to_triage ─► triage ─┬─ to_stop                 ► stop
                                            └─ to_policy ─► policy ─┬─ to_stop  ► stop
                                                                    ├─ to_hold  ► hold
                                                                    └─ to_draft ─► draft ─┬─ to_send ► send
                                                                                          └─ to_hold ► hold

``screen`` is the loop check below the model (auto-replies, bounces, lists, our own mail,
the thread's reply cap): no model call. ``triage`` is one model call; when no reply is
needed the flow records why and stops. ``policy`` asks the model only when the mailbox's
rules cannot decide. ``draft`` retrieves the labelled context, drafts and reviews (a
bounded revise loop). ``send`` goes through the send guards with the event's idempotency
key; ``hold`` puts the draft in the :class:`~crews.ReviewQueue`. Every terminal step
records the decision and updates the thread summary and the index.
"""

from __future__ import annotations

import logging
from typing import Any

from crewai.flow.flow import Flow, listen, router, start
from pydantic import BaseModel, Field, PrivateAttr

from ._llm import MeteredLLM
from ._models import PolicyDecision, ReplyDraft, ReviewResult, RunStats, TriageResult
from ._policy import evaluate_rules, policy_notes
from ._prompts import Source, dumps, render_categories, render_email, render_sources
from ._runner import CrewFailed, kickoff_crew

__all__ = ["EmailAgentFlow", "EmailFlowState"]

logger = logging.getLogger("crews")

FINAL_OUTCOMES = ("replied", "held", "ignored", "blocked")


class EmailFlowState(BaseModel):
    """Everything the flow learned about one event (also the run's record)."""

    id: str = ""
    event_id: str = ""
    mailbox_id: str = ""
    message_id: str = ""
    thread_id: str | None = None
    sender: str = ""
    subject: str = ""
    outcome: str = ""
    reason: str = ""
    triage: TriageResult | None = None
    policy: PolicyDecision | None = None
    draft: ReplyDraft | None = None
    review: ReviewResult | None = None
    revisions: int = 0
    source_ids: list[str] = Field(default_factory=list)
    context_tokens: int = 0
    reply_message_id: str | None = None
    review_id: str | None = None
    escalation: str | None = None
    steps: list[str] = Field(default_factory=list)
    stats: RunStats = Field(default_factory=RunStats)


class EmailAgentFlow(Flow[EmailFlowState]):
    """The agent's pipeline for one inbound event; build it through :class:`~crews.EmailAgent`.

    ``kickoff(inputs={"event_id": ..., "mailbox_id": ..., "message_id": ...})`` runs it; the
    dependencies (client, guard, logs, model, retrieval) are given to the constructor.
    """

    # No CrewAI flow memory: state lives in our stores (decisions, reviews, summaries, index),
    # and an auto-created Memory would open a LanceDB store under the user's home per run.
    _skip_auto_memory: bool = True
    _agent: Any = PrivateAttr(default=None)
    _llm: Any = PrivateAttr(default=None)
    _message: Any = PrivateAttr(default=None)
    _thread: Any = PrivateAttr(default=None)
    _summary: str = PrivateAttr(default="")
    _sources: list[Source] = PrivateAttr(default_factory=list)
    _context: str = PrivateAttr(default="")
    _payload: dict[str, Any] = PrivateAttr(default_factory=dict)
    _meter: RunStats = PrivateAttr(default_factory=RunStats)

    def __init__(self, agent: Any, llm: Any, payload: dict[str, Any] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("suppress_flow_events", True)
        super().__init__(**kwargs)
        self._agent = agent
        self._meter = RunStats()
        # One meter per run: concurrent runs sharing one model keep separate figures.
        self._llm = MeteredLLM.wrap(llm, self._meter)
        self._payload = dict(payload or {})

    @property
    def stats(self) -> RunStats:
        """Model calls and prompt tokens of this run so far."""
        return self._meter.model_copy(update={"crews": list(self.state.stats.crews)})

    # -- helpers --------------------------------------------------------------------------

    def _inputs(self, **extra: str) -> dict[str, Any]:
        config = self._agent.config
        state = self.state
        base = {
            "company": config.persona.company or config.persona.name,
            "persona_name": config.persona.name,
            "persona_role": config.persona.role,
            "tone": config.tone,
            "signature": config.persona.signature,
            "categories": render_categories(config.categories),
            "thread_summary": self._summary or "(new conversation)",
            "email": render_email(self._message),
            "triage": dumps(state.triage) if state.triage else "{}",
            "policy_notes": policy_notes(config),
            "undecided_because": "",
            "context": self._context or "(none)",
            "sources": render_sources(self._sources),
            "feedback": "",
            "draft": "{}",
        }
        base.update(extra)
        return base

    def _crew(self, kind: str, **extra: str) -> Any:
        self.state.stats.crews.append(kind)
        return kickoff_crew(kind, self._llm, self._inputs(**extra))

    def _conclude(self, outcome: str, reason: str) -> None:
        self.state.outcome = outcome
        self.state.reason = reason

    # -- the graph ------------------------------------------------------------------------

    @start()
    def load(self) -> None:
        """Fetch the message and its thread; detect an event already decided."""
        state = self.state
        state.steps.append("load")
        agent = self._agent
        prior = agent.decisions.get(state.event_id) if agent.decisions is not None else None
        if prior is not None and prior.outcome in FINAL_OUTCOMES:
            self._conclude("duplicate", f"event already decided: {prior.outcome} ({prior.reason})")
            return
        self._message = agent.fetch_message(state.mailbox_id, state.message_id, self._payload)
        message = self._message
        state.thread_id = message.thread_id
        state.sender = message.from_address
        state.subject = message.subject
        self._thread, self._summary = agent.load_thread(state.mailbox_id, message)

    @router(load)
    def screen(self) -> str:
        """Loop prevention below the model: no model call for mail that must not be answered."""
        state = self.state
        if state.outcome == "duplicate":
            return "to_stop"
        state.steps.append("screen")
        verdict = self._agent.guard.should_answer(self._message)
        if not verdict.answer:
            state.triage = self._agent.rule_triage(self._message, verdict)
            self._conclude("ignored", verdict.reason)
            return "to_stop"
        return "to_triage"

    @listen("to_triage")
    def triage(self) -> None:
        state = self.state
        state.steps.append("triage")
        try:
            state.triage = self._crew("triage")
        except CrewFailed as err:
            logger.warning("triage failed for %s: %s", state.event_id, err)
            self._conclude("held", f"the triage model failed ({err.reason}); a person decides")
            return
        if state.triage.category not in self._agent.config.categories:
            # An answer outside the taxonomy is the model being unsure: prefer a person.
            state.triage = state.triage.model_copy(update={"category": "other"})
        if not state.triage.needs_reply:
            self._conclude("ignored", f"no reply needed: {state.triage.reasoning or state.triage.intent}")

    @router(triage)
    def after_triage(self) -> str:
        if self.state.outcome == "held":
            return "to_hold"
        return "to_stop" if self.state.outcome else "to_policy"

    @listen("to_policy")
    def policy(self) -> None:
        state = self.state
        state.steps.append("policy")
        assert state.triage is not None
        decision, undecided = evaluate_rules(self._message, state.triage, self._agent.config)
        if decision is None:
            try:
                decision = self._crew("policy", undecided_because=undecided)
            except CrewFailed as err:
                decision = PolicyDecision(
                    allowed_actions=["draft"],
                    reasons=[f"policy model failed ({err.reason}); a person decides"],
                )
            decision.decided_by = "model"
            # Unless the mailbox says otherwise, the model cannot let mail leave without a person
            # for a case its rules did not foresee.
            if "reply" in decision.allowed_actions and not self._agent.config.policy.model_may_auto_reply:
                decision.allowed_actions = [a for a in decision.allowed_actions if a != "reply"] or ["draft"]
        state.policy = decision
        state.escalation = self._agent.config.escalation_address(decision.escalation) or decision.escalation
        actions = set(decision.allowed_actions)
        if actions <= {"ignore"}:
            self._conclude("ignored", "; ".join(decision.reasons) or "policy: ignore")
        elif not actions & {"reply", "draft"}:
            self._conclude("held", "; ".join(decision.reasons) or "policy: escalate to a person")

    @router(policy)
    def after_policy(self) -> str:
        outcome = self.state.outcome
        if outcome == "ignored":
            return "to_stop"
        return "to_hold" if outcome == "held" else "to_draft"

    @listen("to_draft")
    def draft(self) -> None:
        """Retrieve, draft, review; revise up to the mailbox's limit."""
        state = self.state
        state.steps.append("draft")
        self._context, self._sources, state.context_tokens = self._agent.build_context(
            state.mailbox_id, self._message, self._thread, self._summary
        )
        state.source_ids = [s.id for s in self._sources]
        feedback = ""
        max_revisions = self._agent.config.policy.max_revisions
        while True:
            try:
                state.draft = self._crew("reply", feedback=feedback)
                state.review = self._crew("review", draft=dumps(state.draft))
            except CrewFailed as err:
                logger.warning("drafting failed for %s: %s", state.event_id, err)
                self._conclude("held", f"the drafting model failed ({err.reason}); a person writes the reply")
                return
            if state.review.decision != "revise" or state.revisions >= max_revisions:
                break
            state.revisions += 1
            feedback = state.review.feedback or "; ".join(state.review.reasons)
        self._decide_after_review()

    def _decide_after_review(self) -> None:
        state = self.state
        assert state.draft is not None and state.review is not None and state.policy is not None
        review, draft = state.review, state.draft
        unknown = [c for c in draft.citations if c not in state.source_ids]
        # Checks below the model: the draft may only cite what was retrieved, and only a
        # policy that allows "reply" lets anything leave without a person.
        if review.decision != "send":
            self._conclude(
                "held", f"review: {review.decision}: " + ("; ".join(review.reasons) or review.feedback)
            )
        elif "reply" not in state.policy.allowed_actions:
            self._conclude(
                "held",
                "policy allows a draft for a person, not an automatic reply: "
                + "; ".join(state.policy.reasons),
            )
        elif unknown:
            self._conclude("held", f"draft cites sources that were not retrieved: {', '.join(unknown)}")
        elif not draft.citations and not draft.questions:
            self._conclude("held", "draft has neither citations nor a clarifying question")
        elif draft.confidence < self._agent.config.policy.min_confidence and not draft.questions:
            self._conclude("held", f"draft confidence {draft.confidence:.2f} is below the mailbox's minimum")
        else:
            state.outcome = "to_send"

    @router(draft)
    def after_draft(self) -> str:
        return "to_send" if self.state.outcome == "to_send" else "to_hold"

    @listen("to_send")
    def send(self) -> None:
        state = self.state
        state.steps.append("send")
        assert state.draft is not None
        outcome, reason, reply_id = self._agent.send_reply(
            state.event_id, state.mailbox_id, self._message, state.draft
        )
        state.reply_message_id = reply_id
        self._conclude(outcome, reason)
        self._agent.finish(self, self._message)

    @listen("to_hold")
    def hold(self) -> None:
        state = self.state
        state.steps.append("hold")
        item = self._agent.hold(state, self._message)
        state.review_id = item.id if item is not None else None
        if state.outcome != "held":
            self._conclude("held", state.reason or "held for a person")
        self._agent.finish(self, self._message)

    @listen("to_stop")
    def stop(self) -> None:
        self.state.steps.append("stop")
        if self.state.outcome != "duplicate":
            self._agent.finish(self, self._message)
