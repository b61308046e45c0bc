"""The decision log: what the agent did with every inbound event, and why.

Append-only SQLite: each call to :meth:`DecisionLog.record` adds a row, so a held
draft later approved shows both decisions; :meth:`DecisionLog.get` returns the latest.
"""

from __future__ import annotations

import builtins
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from .._errors import InvalidRequestError
from ._sqlite import SQLiteDB

__all__ = ["OUTCOMES", "Decision", "DecisionLog"]

OUTCOMES: Final = ("replied", "held", "blocked", "ignored", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    mailbox_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    message_id TEXT,
    thread_id TEXT,
    reply_message_id TEXT,
    details TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_event ON decisions (event_id, id);
CREATE INDEX IF NOT EXISTS decisions_mailbox ON decisions (mailbox_id, id);
CREATE INDEX IF NOT EXISTS decisions_outcome ON decisions (outcome, id);
"""


class Decision(BaseModel):
    """One recorded decision about an inbound event.

    Attributes:
        outcome: ``replied``, ``held`` (for a person to review), ``blocked`` (a guard or
            policy refused), ``ignored`` (no answer needed) or ``failed``.
        reason: Why, in one sentence.
        message_id: The inbound message's id; ``reply_message_id`` the reply's, if any.
    """

    model_config = ConfigDict(frozen=True)

    id: int
    event_id: str
    mailbox_id: str
    outcome: str
    reason: str
    message_id: str | None = None
    thread_id: str | None = None
    reply_message_id: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime


class DecisionLog:
    """Durable, queryable record of every decision (SQLite; in memory when ``path`` is None).

    Safe to share between threads, and between processes when ``path`` is a file.

    Example:
        >>> log = DecisionLog()
        >>> _ = log.record("evt_1", "mbx_1", "ignored", "newsletter (List-Id)")
        >>> log.get("evt_1").outcome
        'ignored'
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self._db = SQLiteDB(path, _SCHEMA)
        self.path = self._db.path

    def record(
        self,
        event_id: str,
        mailbox_id: str,
        outcome: str,
        reason: str,
        *,
        message_id: str | None = None,
        thread_id: str | None = None,
        reply_message_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Decision:
        """Append a decision and return it.

        Raises:
            InvalidRequestError: unknown outcome, empty ids, or details that are not JSON.
        """
        if outcome not in OUTCOMES:
            msg = f"outcome must be one of {', '.join(OUTCOMES)}; got {outcome!r}"
            raise InvalidRequestError(msg)
        for value, what in ((event_id, "event_id"), (mailbox_id, "mailbox_id")):
            if not isinstance(value, str) or not value:
                msg = f"{what} must be a non-empty string"
                raise InvalidRequestError(msg)
        if not isinstance(reason, str):
            msg = "reason must be a string"
            raise InvalidRequestError(msg)
        try:
            details_json = json.dumps(details or {}, default=str)
        except (TypeError, ValueError) as err:
            msg = f"details must be JSON-serialisable: {err}"
            raise InvalidRequestError(msg) from err
        now = time.time()
        with self._db.transaction() as db:
            cur = db.execute(
                "INSERT INTO decisions (event_id, mailbox_id, outcome, reason, message_id, thread_id, "
                "reply_message_id, details, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event_id,
                    mailbox_id,
                    outcome,
                    reason,
                    message_id,
                    thread_id,
                    reply_message_id,
                    details_json,
                    now,
                ),
            )
            row_id = cur.lastrowid
        return Decision(
            id=int(row_id or 0),
            event_id=event_id,
            mailbox_id=mailbox_id,
            outcome=outcome,
            reason=reason,
            message_id=message_id,
            thread_id=thread_id,
            reply_message_id=reply_message_id,
            details=json.loads(details_json),
            created_at=datetime.fromtimestamp(now, UTC),
        )

    @staticmethod
    def _decision(row: Any) -> Decision:
        return Decision(
            id=row["id"],
            event_id=row["event_id"],
            mailbox_id=row["mailbox_id"],
            outcome=row["outcome"],
            reason=row["reason"],
            message_id=row["message_id"],
            thread_id=row["thread_id"],
            reply_message_id=row["reply_message_id"],
            details=json.loads(row["details"] or "{}"),
            created_at=datetime.fromtimestamp(row["created_at"], UTC),
        )

    def list(
        self,
        mailbox_id: str | None = None,
        outcome: str | None = None,
        limit: int = 100,
        *,
        event_id: str | None = None,
        thread_id: str | None = None,
        since: datetime | None = None,
    ) -> builtins.list[Decision]:
        """Decisions, newest first, optionally filtered."""
        if outcome is not None and outcome not in OUTCOMES:
            msg = f"outcome must be one of {', '.join(OUTCOMES)}; got {outcome!r}"
            raise InvalidRequestError(msg)
        if not isinstance(limit, int) or limit < 1:
            msg = "limit must be a positive integer"
            raise InvalidRequestError(msg)
        clauses: builtins.list[str] = []
        params: builtins.list[Any] = []
        for column, value in (
            ("mailbox_id", mailbox_id),
            ("outcome", outcome),
            ("event_id", event_id),
            ("thread_id", thread_id),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(since.timestamp())
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._db.reading() as db:
            rows = db.execute(
                f"SELECT * FROM decisions {where} ORDER BY id DESC LIMIT ?",  # noqa: S608 - fixed columns
                (*params, limit),
            ).fetchall()
        return [self._decision(r) for r in rows]

    def get(self, event_id: str) -> Decision | None:
        """The latest decision for ``event_id``, or None."""
        found = self.list(event_id=event_id, limit=1)
        return found[0] if found else None

    def history(self, event_id: str) -> builtins.list[Decision]:
        """Every decision for ``event_id``, oldest first."""
        return builtins.list(reversed(self.list(event_id=event_id, limit=10_000)))

    def counts(self, mailbox_id: str | None = None) -> dict[str, int]:
        """Number of events per latest outcome (each event counted once)."""
        query = (
            "SELECT outcome, COUNT(*) FROM decisions d WHERE id = "
            "(SELECT MAX(id) FROM decisions e WHERE e.event_id = d.event_id)"
        )
        params: tuple[Any, ...] = ()
        if mailbox_id is not None:
            query += " AND mailbox_id = ?"
            params = (mailbox_id,)
        with self._db.reading() as db:
            rows = db.execute(query + " GROUP BY outcome", params).fetchall()
        return {outcome: 0 for outcome in OUTCOMES} | {r[0]: r[1] for r in rows}

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
