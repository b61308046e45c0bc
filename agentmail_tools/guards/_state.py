"""Durable guard state: token buckets, reply counters, idempotency records, local suppressions.

Everything the guards must remember across restarts lives here, in one SQLite file
(``state_path``) or in memory. Times are UNIX seconds passed in by the caller, so the
rules can be tested with a fake clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._sqlite import SQLiteDB

__all__ = ["GuardState", "Reservation", "SendRecord"]

_PRUNE_AFTER = 30 * 24 * 3600.0  # reply rows older than this are dropped whatever the window

_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    mailbox_id TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS replies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    key TEXT NOT NULL,
    sent_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS replies_thread ON replies (mailbox_id, thread_id, sent_at);
CREATE INDEX IF NOT EXISTS replies_key ON replies (key);
CREATE TABLE IF NOT EXISTS sends (
    key TEXT PRIMARY KEY,
    mailbox_id TEXT NOT NULL,
    thread_id TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent')),
    fingerprint TEXT NOT NULL,
    message_json TEXT,
    attempts INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL,
    claimed_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS suppressions (
    address TEXT PRIMARY KEY,
    reason TEXT,
    created_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class SendRecord:
    """What the guard remembers about one idempotency key."""

    key: str
    mailbox_id: str
    thread_id: str | None
    state: str  # "pending" (intent recorded, outcome unknown) or "sent"
    fingerprint: str
    message: dict[str, Any] | None
    attempts: int
    created_at: float
    claimed_at: float


@dataclass(frozen=True)
class Reservation:
    """Outcome of :meth:`GuardState.reserve`: either granted or refused with a wait."""

    granted: bool
    rule: str | None = None  # "rate_limited" | "reply_cap"
    retry_after: float | None = None
    count: int = 0


class GuardState:
    """SQLite-backed state of the send guards (in memory when ``path`` is None)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self._db = SQLiteDB(path, _SCHEMA)
        self.path = self._db.path

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    # -- rate limit and reply cap -------------------------------------------------

    def reserve(
        self,
        mailbox_id: str,
        thread_id: str | None,
        key: str,
        *,
        now: float,
        rate_per_second: float,
        burst: int,
        max_replies: int,
        window: float,
    ) -> Reservation:
        """Atomically check the reply cap and take one token from the mailbox's bucket.

        Both are granted or neither is, so a refused send never spends budget. The
        reply slot is recorded under ``key`` and can be released if the send fails.
        """
        with self._db.transaction() as db:
            if thread_id is not None:
                # Prune only this thread by this policy's window: guards with other windows
                # may share the file. Everything else is pruned after _PRUNE_AFTER.
                db.execute(
                    "DELETE FROM replies WHERE (mailbox_id = ? AND thread_id = ? AND sent_at <= ?) OR sent_at <= ?",
                    (mailbox_id, thread_id, now - window, now - max(window, _PRUNE_AFTER)),
                )
                rows = db.execute(
                    "SELECT sent_at FROM replies WHERE mailbox_id = ? AND thread_id = ? AND key != ? "
                    "ORDER BY sent_at",
                    (mailbox_id, thread_id, key),
                ).fetchall()
                if len(rows) >= max_replies:
                    oldest = rows[len(rows) - max_replies][0] if max_replies > 0 else now
                    wait = oldest + window - now if max_replies > 0 else None
                    return Reservation(False, "reply_cap", wait, len(rows))
            row = db.execute(
                "SELECT tokens, updated_at FROM buckets WHERE mailbox_id = ?", (mailbox_id,)
            ).fetchone()
            if row is None:
                tokens = float(burst)
            else:
                elapsed = max(0.0, now - row["updated_at"])
                tokens = min(float(burst), row["tokens"] + elapsed * rate_per_second)
            if tokens < 1.0:
                db.execute(
                    "INSERT INTO buckets (mailbox_id, tokens, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (mailbox_id) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at",
                    (mailbox_id, tokens, now),
                )
                return Reservation(False, "rate_limited", (1.0 - tokens) / rate_per_second)
            db.execute(
                "INSERT INTO buckets (mailbox_id, tokens, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (mailbox_id) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at",
                (mailbox_id, tokens - 1.0, now),
            )
            if thread_id is not None:
                db.execute("DELETE FROM replies WHERE key = ?", (key,))
                db.execute(
                    "INSERT INTO replies (mailbox_id, thread_id, key, sent_at) VALUES (?, ?, ?, ?)",
                    (mailbox_id, thread_id, key, now),
                )
            return Reservation(True)

    def reply_count(
        self, mailbox_id: str, thread_id: str, *, now: float, window: float
    ) -> tuple[int, float | None]:
        """Replies in the window for a thread, and when the oldest of them leaves it."""
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT sent_at FROM replies WHERE mailbox_id = ? AND thread_id = ? AND sent_at > ? ORDER BY sent_at",
                (mailbox_id, thread_id, now - window),
            ).fetchall()
        return len(rows), (rows[0][0] + window if rows else None)

    def record_reply(self, mailbox_id: str, thread_id: str, key: str, *, now: float) -> None:
        """Count a send in a thread learnt only from the server's answer (new conversations)."""
        with self._db.transaction() as db:
            exists = db.execute(
                "SELECT 1 FROM replies WHERE key = ? AND thread_id = ?", (key, thread_id)
            ).fetchone()
            if exists is None:
                db.execute("DELETE FROM replies WHERE key = ?", (key,))
                db.execute(
                    "INSERT INTO replies (mailbox_id, thread_id, key, sent_at) VALUES (?, ?, ?, ?)",
                    (mailbox_id, thread_id, key, now),
                )

    def release_reply(self, key: str) -> None:
        """Give back the reply slot of a send that definitely did not happen."""
        with self._db.transaction() as db:
            db.execute("DELETE FROM replies WHERE key = ?", (key,))

    # -- idempotency records -----------------------------------------------------

    @staticmethod
    def _record(row: Any) -> SendRecord:
        return SendRecord(
            key=row["key"],
            mailbox_id=row["mailbox_id"],
            thread_id=row["thread_id"],
            state=row["state"],
            fingerprint=row["fingerprint"],
            message=json.loads(row["message_json"]) if row["message_json"] else None,
            attempts=row["attempts"],
            created_at=row["created_at"],
            claimed_at=row["claimed_at"],
        )

    def get_send(self, key: str) -> SendRecord | None:
        """The record for ``key``, if any."""
        with self._db.reading() as db:
            row = db.execute("SELECT * FROM sends WHERE key = ?", (key,)).fetchone()
        return None if row is None else self._record(row)

    def begin_send(
        self, key: str, mailbox_id: str, thread_id: str | None, fingerprint: str, *, now: float
    ) -> SendRecord | None:
        """Record the intent to send under ``key`` before sending.

        Returns ``None`` when the intent was recorded (go ahead and send), or the
        existing record when the key is already known (sent, or pending elsewhere).
        """
        with self._db.transaction() as db:
            row = db.execute("SELECT * FROM sends WHERE key = ?", (key,)).fetchone()
            if row is not None:
                return self._record(row)
            db.execute(
                "INSERT INTO sends (key, mailbox_id, thread_id, state, fingerprint, created_at, claimed_at, updated_at) "
                "VALUES (?, ?, ?, 'pending', ?, ?, ?, ?)",
                (key, mailbox_id, thread_id, fingerprint, now, now, now),
            )
            return None

    def reclaim_send(self, key: str, *, now: float, stale_before: float) -> bool:
        """Take over a pending record whose last attempt is older than ``stale_before``."""
        with self._db.transaction() as db:
            cur = db.execute(
                "UPDATE sends SET claimed_at = ?, updated_at = ?, attempts = attempts + 1 "
                "WHERE key = ? AND state = 'pending' AND claimed_at <= ?",
                (now, now, key, stale_before),
            )
            return cur.rowcount == 1

    def complete_send(self, key: str, message: dict[str, Any], thread_id: str | None, *, now: float) -> None:
        """Mark ``key`` as sent and keep the server's message for repeats."""
        with self._db.transaction() as db:
            db.execute(
                "UPDATE sends SET state = 'sent', message_json = ?, thread_id = COALESCE(?, thread_id), "
                "updated_at = ? WHERE key = ?",
                (json.dumps(message, default=str), thread_id, now, key),
            )

    def abandon_send(self, key: str) -> None:
        """Forget a pending key after a definite failure (nothing was sent; a retry may send)."""
        with self._db.transaction() as db:
            db.execute("DELETE FROM sends WHERE key = ? AND state = 'pending'", (key,))
            db.execute("DELETE FROM replies WHERE key = ?", (key,))

    def prune(self, *, now: float, keep_seconds: float) -> int:
        """Forget completed keys older than ``keep_seconds`` (pending ones are kept); returns how many."""
        with self._db.transaction() as db:
            cur = db.execute(
                "DELETE FROM sends WHERE state = 'sent' AND updated_at <= ?", (now - keep_seconds,)
            )
            db.execute("DELETE FROM replies WHERE sent_at <= ?", (now - max(keep_seconds, _PRUNE_AFTER),))
            return cur.rowcount

    def pending_sends(self) -> list[SendRecord]:
        """Every key whose outcome is still unknown (for inspection after a crash)."""
        with self._db.reading() as db:
            rows = db.execute("SELECT * FROM sends WHERE state = 'pending' ORDER BY created_at").fetchall()
        return [self._record(r) for r in rows]

    # -- local suppressions ------------------------------------------------------

    def suppress(self, address: str, reason: str | None, *, now: float) -> None:
        """Add a local suppression entry (lowercased)."""
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO suppressions (address, reason, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (address) DO UPDATE SET reason = excluded.reason",
                (address.lower(), reason, now),
            )

    def unsuppress(self, address: str) -> bool:
        """Remove a local suppression entry; True if it existed."""
        with self._db.transaction() as db:
            return db.execute("DELETE FROM suppressions WHERE address = ?", (address.lower(),)).rowcount == 1

    def suppressed(self) -> frozenset[str]:
        """Every locally suppressed address."""
        with self._db.reading() as db:
            return frozenset(r[0] for r in db.execute("SELECT address FROM suppressions"))
