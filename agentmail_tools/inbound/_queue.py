"""The durable inbound queue: de-duplicated, leased with a visibility timeout, retried, dead-lettered.

:class:`InboundQueue` is the small interface every source writes to and every worker reads
from, so that a distributed broker can stand behind it later. :class:`SQLiteQueue` is the
default: one SQLite file in WAL mode, safe for many threads *and* many processes sharing the
file, because every state change is one ``BEGIN IMMEDIATE`` transaction (SQLite's write lock
is the mutex; there is no in-memory state to disagree with the file).

Life of an item::

    put ──► queued ──lease──► leased ──ack──► done
              ▲                 │ │
              │   fail (backoff)│ ├─ defer (attempt refunded): rate limited, try later
              ├─────────────────┘ └─ lease expires (worker died) ─► leasable again
              │
              └── requeue_dead ◄── dead ◄── fail with attempts >= max_attempts (or permanent)

Attempts are counted when an item is leased, so a worker that crashes on a poison event
every time still moves it to the dead letters after ``max_attempts`` leases.
"""

from __future__ import annotations

import builtins
import logging
import os
import random
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from ._event import InboundEvent

__all__ = ["DeadLetter", "InboundQueue", "ItemState", "Lease", "QueueItem", "QueueStats", "SQLiteQueue"]

logger = logging.getLogger("agentmail_tools")

ItemState = Literal["ready", "scheduled", "leased", "done", "dead"]
_STATES: frozenset[str] = frozenset({"ready", "scheduled", "leased", "done", "dead"})
_MAX_ERROR_CHARS = 4000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbound_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    event TEXT NOT NULL,
    mailbox_id TEXT,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    attempts INTEGER NOT NULL DEFAULT 0,
    available_at REAL NOT NULL,
    lease_token TEXT,
    leased_by TEXT,
    last_error TEXT,
    enqueued_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS inbound_items_ready ON inbound_items (status, available_at, id);
CREATE INDEX IF NOT EXISTS inbound_items_event ON inbound_items (event_id);
CREATE TABLE IF NOT EXISTS inbound_dedup (
    key TEXT PRIMARY KEY,
    item_id INTEGER NOT NULL,
    created_at REAL NOT NULL
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class Lease:
    """A worker's exclusive, time-limited claim on one queued event.

    Attributes:
        item_id: the queue's id for the item.
        token: proves the claim; a stale lease (expired and re-leased) no longer matches.
        worker_id: who holds it.
        event: the event to process.
        attempt: 1 on first delivery, 2 on the first retry, ...
        expires_at: epoch seconds after which another worker may lease the item.
    """

    item_id: int
    token: str
    worker_id: str
    event: InboundEvent
    attempt: int
    expires_at: float


@dataclass(frozen=True)
class QueueStats:
    """Counts per state; ``ready`` can be leased now, ``scheduled`` waits for its retry time."""

    ready: int
    scheduled: int
    leased: int
    done: int
    dead: int
    oldest_ready_age: float | None

    @property
    def pending(self) -> int:
        """Items not finished yet and not leased (ready plus scheduled)."""
        return self.ready + self.scheduled

    @property
    def total(self) -> int:
        """All items the queue still holds."""
        return self.ready + self.scheduled + self.leased + self.done + self.dead


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One item as :meth:`SQLiteQueue.list` shows it."""

    item_id: int
    event: InboundEvent
    state: ItemState
    attempts: int
    available_at: float
    leased_by: str | None
    last_error: str | None
    enqueued_at: float
    finished_at: float | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event that failed ``max_attempts`` times (or was failed permanently)."""

    item_id: int
    event: InboundEvent
    attempts: int
    error: str | None
    dead_at: float


def put_batch(queue: InboundQueue, events: Sequence[InboundEvent]) -> builtins.list[bool]:
    """``put`` each event, in one transaction when the queue offers ``put_many``."""
    put_many = getattr(queue, "put_many", None)
    if callable(put_many):
        return builtins.list(put_many(events))
    return [queue.put(event) for event in events]


@runtime_checkable
class InboundQueue(Protocol):
    """What sources and workers need from a queue; a broker can implement it later."""

    def put(self, event: InboundEvent) -> bool:
        """Enqueue ``event`` durably; False if it (or the same fact) was enqueued before."""
        ...

    def lease(self, worker_id: str, *, visibility_timeout: float = 60.0) -> Lease | None:
        """Claim the next ready event for ``visibility_timeout`` seconds, or None if none is ready."""
        ...

    def ack(self, lease: Lease) -> bool:
        """Mark the leased event done; False if the lease was lost to another worker."""
        ...

    def fail(
        self,
        lease: Lease,
        error: str | BaseException,
        *,
        retry_in: float | None = None,
        permanent: bool = False,
    ) -> bool:
        """Give the event back for a retry after a backoff, or dead-letter it."""
        ...

    def defer(self, lease: Lease, delay: float, *, reason: str | None = None) -> bool:
        """Give the event back for later without spending an attempt."""
        ...

    def extend(self, lease: Lease, *, visibility_timeout: float | None = None) -> Lease | None:
        """Push the lease's expiry out; None if the lease was lost."""
        ...

    def stats(self) -> QueueStats:
        """Counts per state."""
        ...

    def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        """Dead-lettered events, most recent first."""
        ...

    def requeue_dead(self, item: int | str) -> bool:
        """Give a dead-lettered event (by item id or event id) a fresh set of attempts."""
        ...


class SQLiteQueue:
    """Durable inbound queue in one SQLite file (WAL), shared safely by threads and processes.

    Setup::

        from agentmail_tools.inbound import SQLiteQueue, WebhookReceiver

        queue = SQLiteQueue("inbound.db")            # or SQLiteQueue() in memory, for tests

    Feed it (the receiver, SSE listener and poller all call ``put``)::

        queue.put(event)                             # False: already seen, nothing enqueued

    Work it::

        while (lease := queue.lease("worker-1", visibility_timeout=120)) is not None:
            try:
                handle(lease.event)
            except Exception as err:
                queue.fail(lease, err)               # retried with backoff, dead after 5 tries
            else:
                queue.ack(lease)

    Args:
        path: database file; None keeps everything in memory (one process only).
        max_attempts: leases before an item is dead-lettered.
        backoff_base: seconds before the first retry; doubles per attempt, with jitter.
        backoff_max: cap on the retry delay.
        durable: ``synchronous=FULL`` (an acknowledged ``put`` survives power loss) when
            True; ``NORMAL`` (survives a process crash, not power loss) when False.
        busy_timeout: seconds to wait for another process's write lock.
        clock: epoch-seconds clock; replace it in tests to expire leases without sleeping.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        max_attempts: int = 5,
        backoff_base: float = 5.0,
        backoff_max: float = 600.0,
        durable: bool = True,
        busy_timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_attempts < 1:
            msg = "max_attempts must be at least 1"
            raise ValueError(msg)
        self.path = None if path is None else Path(path)
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._durable = durable
        self._busy_timeout = busy_timeout
        self._clock = clock
        self._random = random.Random()
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._connect()

    # -- connection ---------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        target = ":memory:" if self.path is None else str(self.path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            target, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
        if self.path is not None:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {'FULL' if self._durable else 'NORMAL'}")
        with self._tx(conn):
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
        self._conn = conn
        self._pid = os.getpid()
        return conn

    def _db(self) -> sqlite3.Connection:
        # A connection must never cross fork(): a child reopens the file instead.
        if self._conn is None or self._pid != os.getpid():
            return self._connect()
        return self._conn

    @contextmanager
    def _tx(self, conn: sqlite3.Connection | None = None) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = conn if conn is not None else self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def close(self) -> None:
        """Close the database connection (idempotent)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __enter__(self) -> SQLiteQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteQueue({str(self.path) if self.path else None!r}, max_attempts={self.max_attempts})"

    # -- producer side ------------------------------------------------------------------

    def put(self, event: InboundEvent) -> bool:
        """Enqueue ``event`` durably unless it was seen before.

        Returns:
            True if enqueued; False if any of its de-duplication keys (canonical event id,
            transport delivery id) is already known: a redelivery, or the same message
            arriving by another transport.
        """
        return self.put_many([event])[0]

    def put_many(self, events: Sequence[InboundEvent]) -> builtins.list[bool]:
        """Enqueue several events in one transaction (one disk sync): :meth:`put` for each.

        A duplicate inside the batch counts as a duplicate, like a later ``put`` would.
        """
        rows = []
        for event in events:
            if not isinstance(event, InboundEvent):
                msg = f"put() takes an InboundEvent, got {type(event).__name__}"
                raise TypeError(msg)
            rows.append((event, event.dedup_keys(), event.model_dump_json()))
        results: builtins.list[bool] = []
        now = self._clock()
        with self._tx() as db:
            for event, keys, payload in rows:
                marks = ",".join("?" * len(keys))
                if db.execute(f"SELECT 1 FROM inbound_dedup WHERE key IN ({marks}) LIMIT 1", keys).fetchone():
                    results.append(False)
                    continue
                cur = db.execute(
                    "INSERT INTO inbound_items (event_id, event, mailbox_id, payload, available_at, enqueued_at,"
                    " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (event.event_id, event.event, event.mailbox_id, payload, now, now, now),
                )
                db.executemany(
                    "INSERT OR IGNORE INTO inbound_dedup (key, item_id, created_at) VALUES (?, ?, ?)",
                    [(key, cur.lastrowid, now) for key in keys],
                )
                results.append(True)
        return results

    def seen(self, event: InboundEvent) -> bool:
        """True if ``event`` (or the same fact by another transport) was enqueued before."""
        keys = event.dedup_keys()
        marks = ",".join("?" * len(keys))
        with self._lock:
            row = (
                self._db()
                .execute(f"SELECT 1 FROM inbound_dedup WHERE key IN ({marks}) LIMIT 1", keys)
                .fetchone()
            )
        return row is not None

    # -- consumer side ------------------------------------------------------------------

    def lease(self, worker_id: str, *, visibility_timeout: float = 60.0) -> Lease | None:
        """Atomically claim the oldest ready event for ``visibility_timeout`` seconds.

        An item whose previous lease expired (its worker died or hung) is ready again; if it
        has already used ``max_attempts`` it is dead-lettered instead of handed out.
        """
        if visibility_timeout <= 0:
            msg = "visibility_timeout must be positive"
            raise ValueError(msg)
        while True:
            now = self._clock()
            with self._tx() as db:
                row = db.execute(
                    "SELECT id, attempts, lease_token, payload FROM inbound_items"
                    " WHERE status = 'queued' AND available_at <= ? ORDER BY available_at, id LIMIT 1",
                    (now,),
                ).fetchone()
                if row is None:
                    return None
                item_id, attempts, old_token, payload = row
                if old_token is not None and attempts >= self.max_attempts:
                    error = f"lease expired on attempt {attempts} of {self.max_attempts} (worker died or timed out)"
                    db.execute(
                        "UPDATE inbound_items SET status = 'dead', lease_token = NULL, last_error ="
                        " COALESCE(last_error || ' | ', '') || ?, updated_at = ?, finished_at = ? WHERE id = ?",
                        (error, now, now, item_id),
                    )
                    logger.warning("inbound item %s dead-lettered: %s", item_id, error)
                    continue
                if old_token is not None:
                    logger.info(
                        "inbound item %s: lease expired, leasing again (attempt %s)", item_id, attempts + 1
                    )
                token = secrets.token_hex(16)
                expires = now + visibility_timeout
                db.execute(
                    "UPDATE inbound_items SET attempts = attempts + 1, lease_token = ?, leased_by = ?,"
                    " available_at = ?, updated_at = ? WHERE id = ?",
                    (token, worker_id, expires, now, item_id),
                )
            return Lease(
                item_id=item_id,
                token=token,
                worker_id=worker_id,
                event=InboundEvent.model_validate_json(payload),
                attempt=attempts + 1,
                expires_at=expires,
            )

    def ack(self, lease: Lease) -> bool:
        """Mark the event done. False (and a warning) if the lease was lost to another worker."""
        now = self._clock()
        with self._tx() as db:
            cur = db.execute(
                "UPDATE inbound_items SET status = 'done', lease_token = NULL, updated_at = ?, finished_at = ?"
                " WHERE id = ? AND lease_token = ? AND status = 'queued'",
                (now, now, lease.item_id, lease.token),
            )
        if cur.rowcount == 0:
            logger.warning(
                "ack of inbound item %s ignored: lease lost (expired and re-leased)", lease.item_id
            )
            return False
        return True

    def retry_delay(self, attempt: int) -> float:
        """Backoff before retry number ``attempt``: doubling from ``backoff_base``, capped, jittered."""
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** max(0, attempt - 1)))
        # "Equal jitter": never zero (a thundering retry), never above the cap.
        return float(ceiling / 2 + self._random.uniform(0, ceiling / 2))

    def fail(
        self,
        lease: Lease,
        error: str | BaseException,
        *,
        retry_in: float | None = None,
        permanent: bool = False,
    ) -> bool:
        """Record a failed attempt: retry after a backoff, or dead-letter.

        Args:
            lease: the lease being given back.
            error: what went wrong (kept as the item's ``last_error``).
            retry_in: seconds before the retry, overriding the backoff (e.g. a rate
                limit's ``retry_after``).
            permanent: dead-letter now; retrying cannot help.

        Returns:
            False if the lease was lost (nothing changed), True otherwise.
        """
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        text = text[:_MAX_ERROR_CHARS]
        now = self._clock()
        with self._tx() as db:
            row = db.execute(
                "SELECT attempts FROM inbound_items WHERE id = ? AND lease_token = ? AND status = 'queued'",
                (lease.item_id, lease.token),
            ).fetchone()
            if row is None:
                logger.warning("fail of inbound item %s ignored: lease lost", lease.item_id)
                return False
            attempts = row[0]
            if permanent or attempts >= self.max_attempts:
                db.execute(
                    "UPDATE inbound_items SET status = 'dead', lease_token = NULL, last_error = ?, updated_at = ?,"
                    " finished_at = ? WHERE id = ?",
                    (text, now, now, lease.item_id),
                )
                logger.warning(
                    "inbound item %s dead-lettered after %s attempt(s): %s", lease.item_id, attempts, text
                )
                return True
            delay = self.retry_delay(attempts) if retry_in is None else max(0.0, retry_in)
            db.execute(
                "UPDATE inbound_items SET lease_token = NULL, leased_by = NULL, available_at = ?, last_error = ?,"
                " updated_at = ? WHERE id = ?",
                (now + delay, text, now, lease.item_id),
            )
        logger.info(
            "inbound item %s failed (attempt %s), retry in %.1fs: %s", lease.item_id, attempts, delay, text
        )
        return True

    def defer(self, lease: Lease, delay: float, *, reason: str | None = None) -> bool:
        """Give the event back untouched, to be leased again after ``delay`` seconds.

        Unlike :meth:`fail`, the attempt is refunded: use it when the event is fine but
        cannot be handled *now* (a send rate limit, a mailbox paused for a while), so
        waiting never dead-letters it. Returns False if the lease was lost.
        """
        now = self._clock()
        with self._tx() as db:
            cur = db.execute(
                "UPDATE inbound_items SET lease_token = NULL, leased_by = NULL, attempts = MAX(0, attempts - 1),"
                " available_at = ?, last_error = COALESCE(?, last_error), updated_at = ?"
                " WHERE id = ? AND lease_token = ? AND status = 'queued'",
                (
                    now + max(0.0, delay),
                    None if reason is None else reason[:_MAX_ERROR_CHARS],
                    now,
                    lease.item_id,
                    lease.token,
                ),
            )
        if cur.rowcount == 0:
            logger.warning("defer of inbound item %s ignored: lease lost", lease.item_id)
            return False
        return True

    def extend(self, lease: Lease, *, visibility_timeout: float | None = None) -> Lease | None:
        """Keep a long-running lease alive; returns the renewed lease, or None if it was lost."""
        timeout = (
            visibility_timeout
            if visibility_timeout is not None
            else max(1.0, lease.expires_at - self._clock())
        )
        now = self._clock()
        expires = now + timeout
        with self._tx() as db:
            cur = db.execute(
                "UPDATE inbound_items SET available_at = ?, updated_at = ? WHERE id = ? AND lease_token = ?"
                " AND status = 'queued'",
                (expires, now, lease.item_id, lease.token),
            )
        if cur.rowcount == 0:
            return None
        return Lease(lease.item_id, lease.token, lease.worker_id, lease.event, lease.attempt, expires)

    # -- inspection ---------------------------------------------------------------------

    def stats(self) -> QueueStats:
        """Counts per state and the age of the oldest ready item."""
        now = self._clock()
        with self._lock:
            rows = (
                self._db()
                .execute(
                    "SELECT CASE WHEN status != 'queued' THEN status"
                    " WHEN available_at <= ? THEN 'ready'"
                    " WHEN lease_token IS NOT NULL THEN 'leased' ELSE 'scheduled' END AS st, COUNT(*),"
                    " MIN(CASE WHEN status = 'queued' AND available_at <= ? THEN enqueued_at END)"
                    " FROM inbound_items GROUP BY st",
                    (now, now),
                )
                .fetchall()
            )
        counts = {state: 0 for state in _STATES}
        oldest: float | None = None
        for state, count, first in rows:
            counts[state] = count
            if state == "ready" and first is not None:
                oldest = max(0.0, now - first)
        return QueueStats(
            ready=counts["ready"],
            scheduled=counts["scheduled"],
            leased=counts["leased"],
            done=counts["done"],
            dead=counts["dead"],
            oldest_ready_age=oldest,
        )

    def __len__(self) -> int:
        """Items not finished yet (ready, scheduled or leased)."""
        with self._lock:
            row = self._db().execute("SELECT COUNT(*) FROM inbound_items WHERE status = 'queued'").fetchone()
        return int(row[0])

    _ITEM_SQL = (
        "SELECT id, payload, CASE WHEN status != 'queued' THEN status WHEN available_at <= :now THEN 'ready'"
        " WHEN lease_token IS NOT NULL THEN 'leased' ELSE 'scheduled' END AS st, attempts, available_at,"
        " leased_by, last_error, enqueued_at, finished_at FROM inbound_items"
    )

    def _items(self, where: str, params: dict[str, object]) -> list[QueueItem]:
        with self._lock:
            rows = (
                self._db().execute(f"{self._ITEM_SQL} {where}", {"now": self._clock(), **params}).fetchall()
            )
        return [
            QueueItem(
                item_id=r[0],
                event=InboundEvent.model_validate_json(r[1]),
                state=r[2],
                attempts=r[3],
                available_at=r[4],
                leased_by=r[5] if r[2] == "leased" else None,
                last_error=r[6],
                enqueued_at=r[7],
                finished_at=r[8],
            )
            for r in rows
        ]

    def list(
        self, state: ItemState | None = None, *, mailbox_id: str | None = None, limit: int = 100
    ) -> list[QueueItem]:
        """Items in ``state`` (all states when None), oldest first, at most ``limit``."""
        if state is not None and state not in _STATES:
            msg = f"state must be one of {sorted(_STATES)}, not {state!r}"
            raise ValueError(msg)
        return self._items(
            "WHERE (:state IS NULL OR st = :state) AND (:mailbox IS NULL OR mailbox_id = :mailbox)"
            " ORDER BY id LIMIT :limit",
            {"state": state, "mailbox": mailbox_id, "limit": limit},
        )

    def get(self, item_id: int) -> QueueItem | None:
        """One item by its queue id, or None."""
        items = self._items("WHERE id = :id", {"id": item_id})
        return items[0] if items else None

    def dead_letters(self, *, limit: int = 100) -> builtins.list[DeadLetter]:
        """Dead-lettered events, most recently dead first."""
        with self._lock:
            rows = (
                self._db()
                .execute(
                    "SELECT id, payload, attempts, last_error, finished_at FROM inbound_items WHERE status = 'dead'"
                    " ORDER BY finished_at DESC, id DESC LIMIT ?",
                    (limit,),
                )
                .fetchall()
            )
        return [
            DeadLetter(
                item_id=r[0],
                event=InboundEvent.model_validate_json(r[1]),
                attempts=r[2],
                error=r[3],
                dead_at=r[4],
            )
            for r in rows
        ]

    def requeue_dead(self, item: int | str) -> bool:
        """Move a dead-lettered item back to ready with a fresh set of attempts.

        Args:
            item: the queue's item id, or the event's ``event_id`` (as the CLI shows it).

        Returns:
            False if no dead-lettered item matches.
        """
        now = self._clock()
        where = "id = ?" if isinstance(item, int) else "event_id = ?"
        with self._tx() as db:
            cur = db.execute(
                "UPDATE inbound_items SET status = 'queued', attempts = 0, available_at = ?, lease_token = NULL,"
                f" leased_by = NULL, updated_at = ?, finished_at = NULL WHERE {where} AND status = 'dead'",
                (now, now, item),
            )
        return cur.rowcount > 0

    def purge(self, *, older_than: float, forget_keys: bool = False) -> int:
        """Delete done items finished more than ``older_than`` seconds ago.

        Their de-duplication keys are kept (a late redelivery is still recognised) unless
        ``forget_keys`` is True. Returns the number of items deleted.
        """
        cutoff = self._clock() - older_than
        with self._tx() as db:
            if forget_keys:
                db.execute(
                    "DELETE FROM inbound_dedup WHERE item_id IN (SELECT id FROM inbound_items"
                    " WHERE status = 'done' AND finished_at < ?)",
                    (cutoff,),
                )
            cur = db.execute("DELETE FROM inbound_items WHERE status = 'done' AND finished_at < ?", (cutoff,))
        return cur.rowcount
