"""Full-text search over a mailbox's messages (SQLite FTS5, BM25 ranking, snippets).

A sandbox extension beyond the contract: ``GET /v1/mailboxes/{id}/search?q=&limit=&offset=``.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from ._store import Store

__all__ = ["fts_query", "index_message", "search_mailbox", "unindex_mailbox"]

_TOKEN_RE = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str, *, any_term: bool = False) -> str | None:
    """Turn free text into a safe FTS5 query: every word quoted (no operator injection).

    The last word also matches as a prefix so "invoi" finds "invoice" while typing.
    """
    words = _TOKEN_RE.findall(text or "")
    if not words:
        return None
    terms = [f'"{w}"' for w in words[:32]]
    terms[-1] += "*"
    return (" OR " if any_term else " ").join(terms)


def index_message(
    conn: sqlite3.Connection, *, message_id: str, mailbox_id: str, subject: str, body: str, sender: str
) -> None:
    conn.execute(
        "INSERT INTO messages_fts(message_id, mailbox_id, subject, body, sender) VALUES (?,?,?,?,?)",
        (message_id, mailbox_id, subject, body, sender),
    )


def unindex_mailbox(conn: sqlite3.Connection, mailbox_id: str) -> None:
    conn.execute("DELETE FROM messages_fts WHERE mailbox_id = ?", (mailbox_id,))


def search_mailbox(store: Store, mailbox_id: str, q: str, *, limit: int, offset: int) -> dict[str, Any]:
    """Ranked hits ``{hits: [...], total}``; all words must match, else any word does."""
    for any_term in (False, True):
        match = fts_query(q, any_term=any_term)
        if match is None:
            return {"hits": [], "total": 0}
        with store.lock:
            total_row = store.conn.execute(
                "SELECT COUNT(*) AS n FROM messages_fts WHERE messages_fts MATCH ? AND mailbox_id = ?",
                (match, mailbox_id),
            ).fetchone()
            total = int(total_row["n"])
            if total == 0:
                continue
            rows = store.conn.execute(
                "SELECT messages_fts.message_id, bm25(messages_fts, 0, 0, 3.0, 1.0, 1.5) AS rank,"
                " snippet(messages_fts, -1, '[', ']', '…', 16) AS snip,"
                " m.thread_id, m.subject, m.from_address, m.created_at"
                " FROM messages_fts JOIN messages m ON m.id = messages_fts.message_id"
                " WHERE messages_fts MATCH ? AND messages_fts.mailbox_id = ?"
                " ORDER BY rank, m.seq DESC LIMIT ? OFFSET ?",
                (match, mailbox_id, limit, offset),
            ).fetchall()
        hits = [
            {
                "messageId": r["message_id"],
                "threadId": r["thread_id"],
                # bm25() is "lower is better" and negative; expose "higher is better".
                "score": round(-float(r["rank"]), 6),
                "snippet": r["snip"],
                "subject": r["subject"],
                "from": r["from_address"],
                "createdAt": r["created_at"],
            }
            for r in rows
        ]
        return {"hits": hits, "total": total}
    return {"hits": [], "total": 0}
