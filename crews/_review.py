"""Human review: drafts held for a person, listed, edited, approved (sent in-thread) or rejected.

SQLite (WAL) so the worker, the CLI and a notebook can share one file. One item per inbound
event: holding the same event twice (a redelivered event, a restarted worker) is a no-op.
Approval sends through the send guards with the event's reply idempotency key, so an
approved draft is sent at most once, and never in addition to an automatic reply.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["ReviewError", "ReviewItem", "ReviewQueue"]

STATUSES = ("pending", "sent", "rejected", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reviews (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    mailbox_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    thread_id TEXT,
    sender TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',
    body_text TEXT NOT NULL DEFAULT '',
    citations TEXT NOT NULL DEFAULT '[]',
    reasons TEXT NOT NULL DEFAULT '[]',
    escalation TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    note TEXT NOT NULL DEFAULT '',
    reply_message_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reviews_status ON reviews (status, mailbox_id, created_at);
"""


class ReviewError(Exception):
    """A review action is not possible (unknown item, wrong state, missing guard)."""


class ReviewItem(BaseModel):
    """A draft waiting for (or past) a person's decision."""

    id: str
    event_id: str
    mailbox_id: str
    message_id: str = Field(description="API id of the inbound message the draft answers.")
    thread_id: str | None = None
    sender: str = ""
    subject: str = ""
    body_text: str = ""
    citations: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    escalation: str | None = None
    status: str = "pending"
    note: str = ""
    reply_message_id: str | None = None
    created_at: datetime
    updated_at: datetime


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ReviewQueue:
    """Held drafts in SQLite (``path=None``: in memory, for tests and notebooks).

    Example::

        reviews = ReviewQueue("review.db", guard=guard, client=client)
        for item in reviews.list():
            reviews.edit(item.id, body_text=item.body_text + "\\nSee you soon.")
            reviews.approve(item.id)          # sent in the same thread through the guards
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        client: Any | None = None,
        guard: Any | None = None,
        decisions: Any | None = None,
    ) -> None:
        self.path = None if path is None else Path(path)
        self.client = client
        self.guard = guard
        self.decisions = decisions
        self._lock = threading.Lock()
        self._memory: sqlite3.Connection | None = None
        if self.path is None:
            self._memory = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            if self.path is not None:
                db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._memory is not None:
                yield self._memory
                return
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)  # type: ignore[arg-type]
            try:
                db.execute("PRAGMA busy_timeout=30000")
                yield db
            finally:
                db.close()

    @staticmethod
    def _row(row: sqlite3.Row | tuple[Any, ...], cursor: sqlite3.Cursor) -> ReviewItem:
        data = {d[0]: row[i] for i, d in enumerate(cursor.description)}
        data["citations"] = json.loads(data["citations"])
        data["reasons"] = json.loads(data["reasons"])
        return ReviewItem.model_validate(data)

    def add(
        self,
        *,
        event_id: str,
        mailbox_id: str,
        message_id: str,
        thread_id: str | None = None,
        sender: str = "",
        subject: str = "",
        body_text: str = "",
        citations: list[str] | None = None,
        reasons: list[str] | None = None,
        escalation: str | None = None,
    ) -> ReviewItem:
        """Hold a draft for a person; the same ``event_id`` twice returns the first item."""
        now = _now()
        with self._connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO reviews (id, event_id, mailbox_id, message_id, thread_id, sender,"
                " subject, body_text, citations, reasons, escalation, status, created_at, updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,'pending',?,?)",
                (
                    f"rev_{uuid.uuid4().hex[:16]}",
                    event_id,
                    mailbox_id,
                    message_id,
                    thread_id,
                    sender,
                    subject,
                    body_text,
                    json.dumps(citations or []),
                    json.dumps(reasons or []),
                    escalation,
                    now,
                    now,
                ),
            )
            cur = db.execute("SELECT * FROM reviews WHERE event_id = ?", (event_id,))
            return self._row(cur.fetchone(), cur)

    def get(self, item_id: str) -> ReviewItem:
        """One item by id (raises :class:`ReviewError` if unknown)."""
        with self._connect() as db:
            cur = db.execute("SELECT * FROM reviews WHERE id = ?", (item_id,))
            row = cur.fetchone()
            if row is None:
                msg = f"no review item {item_id!r}; list them with ReviewQueue.list()"
                raise ReviewError(msg)
            return self._row(row, cur)

    def get_by_event(self, event_id: str) -> ReviewItem | None:
        """The item held for an inbound event, if any."""
        with self._connect() as db:
            cur = db.execute("SELECT * FROM reviews WHERE event_id = ?", (event_id,))
            row = cur.fetchone()
            return None if row is None else self._row(row, cur)

    def list(
        self, mailbox_id: str | None = None, status: str | None = "pending", limit: int = 100
    ) -> list[ReviewItem]:
        """Items, oldest first (``status=None`` for every state)."""
        if status is not None and status not in STATUSES:
            msg = f"unknown status {status!r}; use one of {', '.join(STATUSES)} or None"
            raise ReviewError(msg)
        sql, args = "SELECT * FROM reviews WHERE 1=1", list[str | int]()
        if mailbox_id is not None:
            sql += " AND mailbox_id = ?"
            args.append(mailbox_id)
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        sql += " ORDER BY created_at, id LIMIT ?"
        args.append(int(limit))
        with self._connect() as db:
            cur = db.execute(sql, args)
            return [self._row(row, cur) for row in cur.fetchall()]

    def _pending(self, item_id: str) -> ReviewItem:
        item = self.get(item_id)
        if item.status != "pending":
            msg = f"review item {item_id} is {item.status}, not pending"
            raise ReviewError(msg)
        return item

    def edit(self, item_id: str, *, body_text: str | None = None, subject: str | None = None) -> ReviewItem:
        """Change a pending draft's text before approving it."""
        self._pending(item_id)
        if body_text is not None and not body_text.strip():
            msg = "body_text must not be empty; reject the item instead"
            raise ReviewError(msg)
        with self._connect() as db:
            db.execute(
                "UPDATE reviews SET body_text = COALESCE(?, body_text), subject = COALESCE(?, subject),"
                " updated_at = ? WHERE id = ?",
                (body_text, subject, _now(), item_id),
            )
        return self.get(item_id)

    def reject(self, item_id: str, *, note: str = "") -> ReviewItem:
        """Close a pending item without sending anything."""
        item = self._pending(item_id)
        with self._connect() as db:
            db.execute(
                "UPDATE reviews SET status='rejected', note=?, updated_at=? WHERE id=?",
                (note, _now(), item_id),
            )
        if self.decisions is not None:
            self.decisions.record(
                item.event_id,
                item.mailbox_id,
                "ignored",
                f"draft rejected by a person{': ' + note if note else ''}",
                message_id=item.message_id,
                thread_id=item.thread_id,
            )
        return self.get(item_id)

    def approve(
        self,
        item_id: str,
        *,
        body_text: str | None = None,
        guard: Any | None = None,
        client: Any | None = None,
    ) -> Any:
        """Send the (optionally edited) draft in the same thread through the send guards.

        Uses the event's reply idempotency key: approving twice, or approving an event the
        agent already answered, never sends a second email. Returns the sent ``Message``.
        A guard refusal leaves the item pending and is re-raised for the caller to act on.
        """
        from agentmail_tools.guards import idempotency_key

        if body_text is not None:
            self.edit(item_id, body_text=body_text)
        item = self._pending(item_id)
        guard = guard or self.guard
        client = client or self.client or getattr(guard, "client", None)
        if guard is None or client is None:
            msg = "approving needs a MailGuard and a client: ReviewQueue(path, client=..., guard=...)"
            raise ReviewError(msg)
        if not item.body_text.strip():
            msg = f"review item {item_id} has no draft; edit(body_text=...) before approving"
            raise ReviewError(msg)
        inbound = client.messages.get(item.mailbox_id, item.message_id)
        sent = guard.reply(
            item.mailbox_id,
            inbound,
            body_text=item.body_text,
            idempotency_key=idempotency_key(item.event_id, "reply"),
        )
        with self._connect() as db:
            db.execute(
                "UPDATE reviews SET status='sent', reply_message_id=?, updated_at=? WHERE id=?",
                (getattr(sent, "id", None), _now(), item_id),
            )
        if self.decisions is not None:
            self.decisions.record(
                item.event_id,
                item.mailbox_id,
                "replied",
                "draft approved by a person",
                message_id=item.message_id,
                thread_id=item.thread_id,
                reply_message_id=getattr(sent, "id", None),
            )
        return sent
