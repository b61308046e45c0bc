"""EmailAgent: one mailbox's dependencies, and ``process(event)`` running the flow on an event.

The agent owns what outlives a run (client, guard, decision log, review queue, index,
summaries, model); :class:`~crews.EmailAgentFlow` is built fresh for every event.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ._config import MailboxConfig
from ._models import PolicyDecision, ReplyDraft, ReviewResult, RunStats, TriageResult
from ._offline import offline_triage
from ._prompts import Source, render_categories, render_email

__all__ = ["EmailAgent", "FlowResult", "guard_policy_for"]

logger = logging.getLogger("crews")

# Guard refusals that mean "not now" rather than "never": the worker retries the event.
_RETRYABLE_CODES = frozenset({"rate_limited", "in_flight"})
_ID_LINE = re.compile(r"^\[((?:doc|note|msg):[^\]\n]+)\]", re.MULTILINE)


class FlowResult(BaseModel):
    """What the flow did with one event, and what it cost."""

    event_id: str
    mailbox_id: str
    message_id: str = ""
    thread_id: str | None = None
    sender: str = ""
    subject: str = ""
    outcome: str = Field(description="replied, held, blocked, ignored, failed, duplicate or skipped.")
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
    offline_model: bool = False

    @property
    def llm_calls(self) -> int:
        return self.stats.llm_calls

    @property
    def prompt_tokens(self) -> int:
        return self.stats.prompt_tokens


def guard_policy_for(config: MailboxConfig) -> Any:
    """The :class:`~agentmail_tools.guards.GuardPolicy` a mailbox's YAML asks for."""
    from agentmail_tools.guards import GuardPolicy

    return GuardPolicy(
        allowed_addresses=frozenset(a.lower() for a in config.allowed_addresses),
        allowed_domains=frozenset(d.lower() for d in config.allowed_domains),
        allow_new_conversations=config.allow_new_conversations,
        max_replies_per_thread=config.max_replies_per_thread,
        rate_per_minute=float(config.rate_per_minute),
    )


def _split_sources(section_text: str) -> list[Source]:
    """Cut a labelled section (``[id] text`` items) back into citable sources."""
    matches = list(_ID_LINE.finditer(section_text))
    out: list[Source] = []
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(section_text)
        text = section_text[match.end() : end].strip()
        # The builder prefixes a "(Document > Section)" path: context for a model, not a fact to quote.
        text = re.sub(r"^\([^)\n]*\)\s*", "", text)
        out.append(Source(match.group(1), text))
    return out


class EmailAgent:
    """The support agent of one mailbox: runs :class:`~crews.EmailAgentFlow` per inbound event.

    Setup (everything but the client has a default; ``state_dir`` makes it durable)::

        from agentmail_tools.sandbox import Sandbox
        from crews import EmailAgent, load_config

        client = Sandbox().client()
        mailbox = client.mailboxes.create("support")
        agent = EmailAgent(client, mailbox.id, config=load_config("crews/config/support.yaml"),
                           state_dir=".agentmail")
        agent.index_docs("crews/demo/data/helpcentre")

    Use::

        result = agent.process(event)          # an InboundEvent, its dict, or a Message
        result.outcome, result.reason, result.stats.llm_calls

    Args:
        client: A :class:`~agentmail_tools.MailClient` (hosted API or sandbox).
        mailbox_id: The mailbox this agent answers for.
        config: The mailbox's :class:`MailboxConfig` (persona, rules, allow-lists).
        llm: Any CrewAI LLM; default :func:`~crews.default_llm` (offline without a key).
        guard: A :class:`~agentmail_tools.guards.MailGuard`; default one built from ``config``.
        decisions: A :class:`~agentmail_tools.guards.DecisionLog`.
        reviews: A :class:`~crews.ReviewQueue` for held drafts.
        index: A :class:`~retrieval.MailIndex`; default an embedded one under ``state_dir``.
        summaries: :class:`~retrieval.ThreadSummaries`; default under ``state_dir``.
        state_dir: Folder for ``guards.db``, ``decisions.db``, ``review.db``, ``summaries.db``,
            ``chroma/``; ``None`` keeps everything in memory.
        retrieval: ``False`` runs without an index (no sources: replies can only ask questions).
    """

    def __init__(
        self,
        client: Any,
        mailbox_id: str,
        *,
        config: MailboxConfig | None = None,
        llm: Any | None = None,
        guard: Any | None = None,
        decisions: Any | None = None,
        reviews: Any | None = None,
        index: Any | None = None,
        summaries: Any | None = None,
        context_builder: Any | None = None,
        state_dir: str | Path | None = None,
        retrieval: bool = True,
    ) -> None:
        from agentmail_tools.guards import DecisionLog, MailGuard

        from ._llm import default_llm
        from ._review import ReviewQueue

        state = None if state_dir is None else Path(state_dir)
        if state is not None:
            state.mkdir(parents=True, exist_ok=True)

        def file(name: str) -> Path | None:
            return None if state is None else state / name

        self.client = client
        self.mailbox_id = mailbox_id
        self.config = config or MailboxConfig()
        self.llm = llm if llm is not None else default_llm()
        # What the agent builds it closes; what the caller passes in stays the caller's.
        self._owned: list[Any] = []
        if guard is None:
            guard = MailGuard(client, policy=guard_policy_for(self.config), state_path=file("guards.db"))
            self._owned.append(guard)
        self.guard = guard
        if decisions is None:
            decisions = DecisionLog(file("decisions.db"))
            self._owned.append(decisions)
        self.decisions = decisions
        self.reviews = reviews or ReviewQueue(
            file("review.db"), client=client, guard=self.guard, decisions=self.decisions
        )
        if not retrieval:
            # No index, no summaries, no sources: replies can only ask clarifying questions.
            index = summaries = context_builder = None
        elif index is None:
            from retrieval import MailIndex

            index = MailIndex(path=file("chroma"))
            self._owned.append(index)
        self.index = index
        if summaries is None and retrieval:
            from retrieval import ThreadSummaries

            summaries = ThreadSummaries(file("summaries.db"))
            self._owned.append(summaries)
        self.summaries = summaries
        if context_builder is None and index is not None:
            from retrieval import ContextBuilder

            context_builder = ContextBuilder(
                index,
                summaries=self.summaries,
                budget_tokens=self.config.context_budget_tokens,
                # The inbound email is rendered by the flow (marked untrusted); not twice.
                shares={"summary": 0.15, "recent": 0.3, "policy": 0.45, "notes": 0.1},
            )
        self.context_builder = context_builder

    def close(self) -> None:
        """Close the stores this agent opened (guard state, decision log, index, summaries).

        Objects passed to the constructor are left open: they belong to the caller. The
        client is never closed here.
        """
        failures: list[BaseException] = []
        while self._owned:
            try:
                self._owned.pop().close()
            except Exception as err:  # noqa: BLE001 - close the rest, then report
                failures.append(err)
        if failures:
            msg = f"{len(failures)} store(s) failed to close: {failures}"
            raise RuntimeError(msg) from failures[0]

    def __enter__(self) -> EmailAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- setup helpers ----------------------------------------------------------------------

    def index_docs(self, folder: str | Path, *, shared: bool = False) -> int:
        """Index a folder of help-centre documents (``.md``, ``.txt``, ``.html``); returns files indexed."""
        if self.index is None:
            msg = "this agent runs without retrieval (retrieval=False); there is no index to add documents to"
            raise ValueError(msg)
        count = 0
        for path in sorted(Path(folder).iterdir()):
            if path.suffix.lower() in (".md", ".markdown", ".txt", ".html", ".htm") and path.is_file():
                self.index.add_document(
                    path.read_text(encoding="utf-8"),
                    source=path.name,
                    mailbox_id=None if shared else self.mailbox_id,
                )
                count += 1
        return count

    # -- the run ----------------------------------------------------------------------------

    def process(self, event: Any) -> FlowResult:
        """Run the flow on one inbound event and return what happened.

        ``event`` is an :class:`~agentmail_tools.inbound.InboundEvent`, its dict, or a
        ``Message`` (the event is then derived from it). Events other than
        ``message.received`` are skipped. Transport errors and retryable guard refusals
        (rate limit, a send still in flight) propagate, so a worker retries the event.
        """
        from ._flow import EmailAgentFlow
        from ._llm import is_offline

        event_id, kind, mailbox_id, message_id, payload = self._event_fields(event)
        if kind != "message.received":
            return FlowResult(
                event_id=event_id, mailbox_id=mailbox_id, outcome="skipped", reason=f"event {kind}"
            )
        if mailbox_id != self.mailbox_id:
            msg = f"event {event_id} is for mailbox {mailbox_id}, this agent answers for {self.mailbox_id}"
            raise ValueError(msg)
        flow = EmailAgentFlow(self, self.llm, payload)
        try:
            flow.kickoff(inputs={"event_id": event_id, "mailbox_id": mailbox_id, "message_id": message_id})
        except Exception as err:
            self._record(flow, "failed", f"{type(err).__name__}: {err}")
            raise
        state = flow.state
        data = state.model_dump(exclude={"id", "stats"})
        return FlowResult(**data, stats=flow.stats, offline_model=is_offline(self.llm))

    @staticmethod
    def _event_fields(event: Any) -> tuple[str, str, str, str, dict[str, Any]]:
        if hasattr(event, "direction") and hasattr(event, "from_address"):  # a Message
            from agentmail_tools.inbound import InboundEvent

            event = InboundEvent.from_message(event)
        if isinstance(event, dict):
            from agentmail_tools.inbound import InboundEvent

            event = InboundEvent.model_validate(event)
        if not event.mailbox_id or not event.message_id:
            msg = f"event {event.event_id} names no mailbox or message; nothing to answer"
            raise ValueError(msg)
        return event.event_id, event.event, event.mailbox_id, event.message_id, dict(event.payload)

    # -- steps the flow calls ---------------------------------------------------------------

    def fetch_message(self, mailbox_id: str, message_id: str, payload: dict[str, Any]) -> Any:
        """The inbound message as stored by the server (headers included)."""
        return self.client.messages.get(mailbox_id, message_id)

    def load_thread(self, mailbox_id: str, message: Any) -> tuple[Any, str]:
        """The thread (``ThreadDetail`` or ``None``) and its stored rolling summary."""
        if not message.thread_id:
            return None, ""
        thread = self.client.threads.get(mailbox_id, message.thread_id)
        summary = ""
        if self.summaries is not None:
            stored = self.summaries.get(mailbox_id, message.thread_id)
            summary = stored.text if stored is not None else ""
        return thread, summary

    def rule_triage(self, message: Any, verdict: Any) -> TriageResult:
        """A triage record for mail the loop rules stopped (no model call)."""
        prompt = f"{render_categories(self.config.categories)}\n{render_email(message)}"
        result = TriageResult.model_validate(offline_triage(prompt))
        if getattr(verdict, "rule", None) in ("own-address", "direction", "reply_cap"):
            result = result.model_copy(
                update={"category": "other", "intent": "our own mail or a capped thread"}
            )
        return result.model_copy(update={"needs_reply": False, "reasoning": f"Loop rules: {verdict.reason}"})

    def build_context(
        self, mailbox_id: str, message: Any, thread: Any, summary: str
    ) -> tuple[str, list[Source], int]:
        """Labelled context (summary, recent messages) and the citable sources (docs, notes)."""
        if self.context_builder is None:
            return "", [], 0
        built = self.context_builder.build(
            mailbox_id, message, thread_id=message.thread_id, task="answer the customer"
        )
        sources: list[Source] = []
        context_parts: list[str] = []
        for section in built.sections:
            if section.name in ("policy", "notes"):
                sources.extend(_split_sources(section.text))
            elif section.name != "inbound":
                context_parts.append(section.text)
        return "\n\n".join(context_parts), sources, int(built.tokens)

    def send_reply(
        self, event_id: str, mailbox_id: str, message: Any, draft: ReplyDraft
    ) -> tuple[str, str, str | None]:
        """Send in the same thread through the guards, exactly once per event."""
        from agentmail_tools.guards import GuardRefusal, idempotency_key

        try:
            sent = self.guard.reply(
                mailbox_id,
                message,
                body_text=draft.body_text,
                idempotency_key=idempotency_key(event_id, "reply"),
            )
        except GuardRefusal as err:
            if err.code in _RETRYABLE_CODES:
                raise
            return "blocked", f"send guard refused ({err.code}): {err.reason}", None
        cited = ", ".join(draft.citations) or "a clarifying question"
        return "replied", f"answered in the thread from {cited}", sent.id

    def hold(self, state: Any, message: Any) -> Any:
        """Put the draft (possibly empty) in the review queue for a person."""
        draft = state.draft
        subject = message.subject if message.subject.lower().startswith("re:") else f"Re: {message.subject}"
        reasons = [state.reason] if state.reason else []
        if state.policy is not None:
            # The flow's reason often quotes a policy reason already: list each sentence once.
            reasons += [r for r in state.policy.reasons if not any(r in kept for kept in reasons)]
        return self.reviews.add(
            event_id=state.event_id,
            mailbox_id=state.mailbox_id,
            message_id=message.id,
            thread_id=message.thread_id,
            sender=message.from_address,
            subject=subject,
            body_text=draft.body_text if draft is not None else "",
            citations=list(draft.citations) if draft is not None else [],
            reasons=reasons,
            escalation=state.escalation,
        )

    def finish(self, flow: Any, message: Any) -> None:
        """Record the decision, then bring the summary and the index up to date."""
        state = flow.state
        self._record(flow, state.outcome, state.reason)
        if message is None or self.index is None:
            return
        try:
            self.index.index_message(message, mailbox_id=state.mailbox_id)
            if state.reply_message_id:
                self.index.index_message(
                    self.client.messages.get(state.mailbox_id, state.reply_message_id),
                    mailbox_id=state.mailbox_id,
                )
            if self.summaries is not None and message.thread_id:
                self.summaries.update_from_index(self.index, state.mailbox_id, message.thread_id)
        except Exception as err:  # the decision is recorded; a stale index heals on the next sync
            logger.warning("could not update the index/summary for %s: %s", state.event_id, err)

    def _record(self, flow: Any, outcome: str, reason: str) -> None:
        if self.decisions is None:
            return
        state = flow.state
        stats = flow.stats
        details = {
            "triage": state.triage.model_dump() if state.triage else None,
            "policy": state.policy.model_dump() if state.policy else None,
            "review": state.review.model_dump() if state.review else None,
            "citations": state.draft.citations if state.draft else [],
            "review_id": state.review_id,
            "escalation": state.escalation,
            "steps": list(state.steps),
            "llm_calls": stats.llm_calls,
            "prompt_tokens": stats.prompt_tokens,
        }
        self.decisions.record(
            state.event_id or "unknown",
            state.mailbox_id or self.mailbox_id,
            outcome,
            reason or outcome,
            message_id=state.message_id or None,
            thread_id=state.thread_id,
            reply_message_id=state.reply_message_id,
            details=details,
        )
