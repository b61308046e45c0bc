"""Worker: runs the flow over the durable inbound queue, for one or many mailboxes.

Idempotent across crashes: an event is acknowledged only after its decision is recorded;
a worker that dies mid-flow leaves its lease to expire, another worker (or the restarted
one) runs the flow again, and the decision log plus the send's idempotency key make sure
the customer gets exactly one reply. Several threads (``concurrency``) and several
processes may share one queue file; every lease is exclusive.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Worker", "WorkerStats"]

logger = logging.getLogger("crews")

_RETRYABLE_CODES = frozenset({"rate_limited", "in_flight"})


@dataclass
class WorkerStats:
    """What a worker did since it started."""

    processed: int = 0
    failed: int = 0
    dead_lettered: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    llm_calls: int = 0
    prompt_tokens: int = 0
    results: list[Any] = field(default_factory=list)


class Worker:
    """Leases inbound events, runs :class:`~crews.EmailAgent` on each, acks or retries.

    Setup::

        from agentmail_tools.inbound import SQLiteQueue
        from crews import Worker, load_config

        queue = SQLiteQueue(".agentmail/queue.db")
        worker = Worker.build(queue, client, {mailbox_id: load_config("support.yaml")},
                              state_dir=".agentmail", concurrency=4)

    Use::

        worker.drain()                       # everything currently due, then return
        stop = threading.Event()
        worker.run(stop)                     # until stop.set(); in-flight events finish first

    Args:
        queue: An :class:`~agentmail_tools.inbound.InboundQueue` (``SQLiteQueue``).
        agents: One :class:`~crews.EmailAgent`, a list of them, or ``{mailbox_id: agent}``.
        concurrency: Events processed at once (threads).
        worker_id: Lease owner name; default host, pid and a random suffix.
        visibility_timeout: Seconds a lease lasts; it is extended while the flow runs.
        poll_interval: Seconds to wait when the queue has nothing due.
        on_result: Called with each :class:`~crews.FlowResult` (from worker threads).
        keep_results: How many recent results :attr:`stats` keeps.
    """

    def __init__(
        self,
        queue: Any,
        agents: Any,
        *,
        concurrency: int = 1,
        worker_id: str | None = None,
        visibility_timeout: float = 300.0,
        poll_interval: float = 0.25,
        on_result: Callable[[Any], None] | None = None,
        keep_results: int = 1000,
    ) -> None:
        if concurrency < 1:
            msg = "concurrency must be at least 1"
            raise ValueError(msg)
        self.queue = queue
        self.agents = self._agents_by_mailbox(agents)
        self.concurrency = concurrency
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.visibility_timeout = visibility_timeout
        self.poll_interval = poll_interval
        self.on_result = on_result
        self.keep_results = keep_results
        self.stats = WorkerStats()
        self._lock = threading.Lock()
        self._active: dict[int, Any] = {}

    @staticmethod
    def _agents_by_mailbox(agents: Any) -> dict[str, Any]:
        if isinstance(agents, Mapping):
            return dict(agents)
        items = [agents] if hasattr(agents, "process") else list(agents)
        return {agent.mailbox_id: agent for agent in items}

    @classmethod
    def build(
        cls,
        queue: Any,
        client: Any,
        configs: Mapping[str, Any] | Iterable[str],
        *,
        llm: Any | None = None,
        state_dir: str | Path | None = None,
        docs: str | Path | None = None,
        **kwargs: Any,
    ) -> Worker:
        """A worker with one :class:`~crews.EmailAgent` per mailbox sharing one model and state folder.

        ``configs`` maps mailbox ids to a :class:`~crews.MailboxConfig`, a YAML path, or
        ``None`` (defaults); a plain list of mailbox ids uses the defaults for each.
        """
        from agentmail_tools.guards import DecisionLog

        from ._agent import EmailAgent
        from ._config import MailboxConfig, load_config
        from ._llm import default_llm

        mapping = dict(configs) if isinstance(configs, Mapping) else dict.fromkeys(configs)
        llm = llm if llm is not None else default_llm()
        root = None if state_dir is None else Path(state_dir)
        decisions = DecisionLog(None if root is None else root / "decisions.db")
        from retrieval import MailIndex

        # One index for every mailbox: tenant isolation is enforced per query by mailbox id.
        index = MailIndex(path=None if root is None else root / "chroma")
        agents = []
        for mailbox_id, config in mapping.items():
            if config is None:
                config = MailboxConfig()
            elif not isinstance(config, MailboxConfig):
                config = load_config(config)
            agent = EmailAgent(
                client,
                mailbox_id,
                config=config,
                llm=llm,
                decisions=decisions,
                index=index,
                state_dir=None if root is None else root / "mailboxes" / mailbox_id,
            )
            if docs is not None:
                agent.index_docs(docs)
            agents.append(agent)
        return cls(queue, agents, **kwargs)

    # -- one event ----------------------------------------------------------------------

    def _handle(self, lease: Any) -> None:
        from agentmail_tools.guards import GuardRefusal

        event = lease.event
        agent = self.agents.get(event.mailbox_id or "")
        if agent is None:
            # Workers sharing a queue must serve the same mailboxes; keep the event visible.
            error = f"no agent configured for mailbox {event.mailbox_id!r} (event {event.event_id})"
            logger.error(error)
            self.queue.fail(lease, error, permanent=True)
            with self._lock:
                self.stats.dead_lettered += 1
            return
        try:
            result = agent.process(event)
        except GuardRefusal as err:
            retry_in = err.retry_after if err.code in _RETRYABLE_CODES else None
            logger.warning("event %s: guard refused (%s), retrying later", event.event_id, err.code)
            self.queue.fail(lease, err, retry_in=retry_in)
            with self._lock:
                self.stats.failed += 1
            return
        except ValueError as err:  # a malformed event never gets better by retrying
            logger.error("event %s is not processable: %s", event.event_id, err)
            self.queue.fail(lease, err, permanent=True)
            with self._lock:
                self.stats.dead_lettered += 1
            return
        except Exception as err:  # transport, model or store failure: retry with backoff
            logger.warning("event %s failed (attempt %s): %s", event.event_id, lease.attempt, err)
            self.queue.fail(lease, err)
            with self._lock:
                self.stats.failed += 1
            return
        self.queue.ack(lease)
        with self._lock:
            self.stats.processed += 1
            self.stats.outcomes[result.outcome] += 1
            self.stats.llm_calls += result.stats.llm_calls
            self.stats.prompt_tokens += result.stats.prompt_tokens
            self.stats.results.append(result)
            del self.stats.results[: -self.keep_results]
        logger.info("event %s: %s (%s)", event.event_id, result.outcome, result.reason)
        if self.on_result is not None:
            try:
                self.on_result(result)
            except Exception:  # a display callback must never lose an acknowledged event
                logger.exception("on_result callback failed")

    def _lease(self) -> Any:
        lease = self.queue.lease(self.worker_id, visibility_timeout=self.visibility_timeout)
        if lease is not None:
            with self._lock:
                self._active[lease.item_id] = lease
        return lease

    def _release(self, lease: Any) -> None:
        with self._lock:
            self._active.pop(lease.item_id, None)

    def _process(self, lease: Any) -> None:
        try:
            self._handle(lease)
        finally:
            self._release(lease)

    def _heartbeat(self, stop: threading.Event) -> None:
        """Extend active leases so a slow model does not let another worker take the event."""
        interval = max(1.0, self.visibility_timeout / 3)
        while not stop.wait(interval):
            with self._lock:
                active = list(self._active.values())
            for lease in active:
                try:
                    renewed = self.queue.extend(lease, visibility_timeout=self.visibility_timeout)
                except Exception as err:
                    logger.warning("could not extend lease %s: %s", lease.item_id, err)
                    continue
                if renewed is not None:
                    with self._lock:
                        if lease.item_id in self._active:
                            self._active[lease.item_id] = renewed

    # -- loops --------------------------------------------------------------------------

    def run_once(self) -> int:
        """Lease up to ``concurrency`` due events, process them, return how many were leased."""
        leases = []
        for _ in range(self.concurrency):
            lease = self._lease()
            if lease is None:
                break
            leases.append(lease)
        if not leases:
            return 0
        if len(leases) == 1:
            self._process(leases[0])
        else:
            with ThreadPoolExecutor(max_workers=len(leases), thread_name_prefix="crews-worker") as pool:
                list(pool.map(self._process, leases))
        return len(leases)

    def drain(self, *, timeout: float | None = None) -> WorkerStats:
        """Process until no event is due (events waiting for a retry backoff are left)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(stop,), daemon=True)
        beat.start()
        try:
            while self.run_once():
                if deadline is not None and time.monotonic() > deadline:
                    break
        finally:
            stop.set()
        return self.stats

    def run(self, stop_event: threading.Event | None = None) -> WorkerStats:
        """Process events until ``stop_event`` is set; events in flight finish first.

        ``concurrency`` threads each lease, process and ack in a loop; when the queue has
        nothing due they wait ``poll_interval`` (returning at once when stopped).
        """
        stop_event = stop_event or threading.Event()
        beat_stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(beat_stop,), daemon=True)
        beat.start()

        def loop() -> None:
            while not stop_event.is_set():
                try:
                    lease = self._lease()
                except Exception as err:  # the queue file is busy or gone: back off, keep going
                    logger.warning("lease failed: %s", err)
                    stop_event.wait(self.poll_interval)
                    continue
                if lease is None:
                    stop_event.wait(self.poll_interval)
                    continue
                self._process(lease)

        threads = [
            threading.Thread(target=loop, name=f"crews-worker-{i}", daemon=True)
            for i in range(self.concurrency)
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(timeout=0.5)
        except KeyboardInterrupt:
            stop_event.set()
            for thread in threads:
                thread.join()
        finally:
            beat_stop.set()
        return self.stats
