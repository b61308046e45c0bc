"""``run_inbox``: answer everything new in a mailbox, in one call (the demo and notebooks use it)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["InboxRun", "run_inbox"]


@dataclass
class InboxRun:
    """What :func:`run_inbox` did."""

    agent: Any
    queue: Any
    results: list[Any] = field(default_factory=list)
    enqueued: int = 0
    offline_model: bool = False

    @property
    def outcomes(self) -> Counter[str]:
        return Counter(r.outcome for r in self.results)

    @property
    def llm_calls(self) -> int:
        return sum(r.stats.llm_calls for r in self.results)

    @property
    def prompt_tokens(self) -> int:
        return sum(r.stats.prompt_tokens for r in self.results)


def run_inbox(
    client: Any,
    mailbox_id: str,
    *,
    config: Any | None = None,
    docs: str | Path | None = None,
    llm: Any | None = None,
    state_dir: str | Path | None = None,
    agent: Any | None = None,
    queue: Any | None = None,
    poll: bool = True,
    concurrency: int = 1,
    on_result: Any | None = None,
) -> InboxRun:
    """Enqueue the mailbox's new inbound mail and run the agent on every due event.

    Args:
        client: A :class:`~agentmail_tools.MailClient`.
        mailbox_id: The mailbox to answer.
        config: A :class:`~crews.MailboxConfig` or a YAML path (default: safe defaults).
        docs: A folder of help-centre documents to index first (idempotent).
        llm: Any CrewAI LLM (default: :func:`~crews.default_llm`).
        state_dir: Folder for the queue, guards, decisions, reviews, summaries and index;
            ``None`` keeps everything in memory. Re-running with the same folder answers
            only what is new and never answers an email twice.
        agent: A ready :class:`~crews.EmailAgent` (then ``config``/``llm``/``docs`` are ignored
            except ``docs``, which is still indexed).
        queue: An :class:`~agentmail_tools.inbound.InboundQueue` already fed by a webhook
            receiver or SSE listener; default a ``SQLiteQueue`` in ``state_dir``.
        poll: Poll the mailbox into the queue first (new INBOUND messages since the cursor).
        concurrency: Events processed at once.
        on_result: Called with each :class:`~crews.FlowResult` as it completes.

    Returns:
        An :class:`InboxRun` with every result (outcome, reason, triage, stats).
    """
    from agentmail_tools.inbound import Poller, SQLiteQueue

    from ._agent import EmailAgent
    from ._config import MailboxConfig, load_config
    from ._llm import is_offline
    from ._worker import Worker

    root = None if state_dir is None else Path(state_dir)
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
    if agent is None:
        if config is not None and not isinstance(config, MailboxConfig):
            config = load_config(config)
        agent = EmailAgent(client, mailbox_id, config=config, llm=llm, state_dir=root)
    if docs is not None:
        agent.index_docs(docs)
    if queue is None:
        queue = SQLiteQueue(None if root is None else root / "queue.db")
    enqueued = 0
    if poll:
        cursor = None if root is None else root / f"cursor-{mailbox_id}.json"
        enqueued = Poller(client, queue, mailbox_id, cursor_path=cursor, start="beginning").poll_once()
    run = InboxRun(agent=agent, queue=queue, enqueued=enqueued, offline_model=is_offline(agent.llm))

    def collect(result: Any) -> None:
        run.results.append(result)
        if on_result is not None:
            on_result(result)

    Worker(queue, agent, concurrency=concurrency, on_result=collect).drain()
    return run
