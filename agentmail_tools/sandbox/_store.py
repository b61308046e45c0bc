"""SQLite storage for the sandbox: one database (WAL) plus a folder of attachment blobs.

One connection guarded by a re-entrant lock serves every thread (HTTP handlers, the SMTP
worker, the webhook dispatcher). SQLite serialises writers anyway; a single connection
keeps in-memory mode trivially shared and keeps each request's statements atomic.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["Store", "dumps", "loads", "new_id", "now_iso", "to_iso"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY, name TEXT, prefix TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE,
  mailbox_ids TEXT, created_at TEXT NOT NULL, enabled INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS domains (
  id TEXT PRIMARY KEY, domain TEXT NOT NULL UNIQUE, status TEXT NOT NULL,
  mx_verified INTEGER NOT NULL DEFAULT 0, spf_verified INTEGER NOT NULL DEFAULT 0,
  dkim_verified INTEGER NOT NULL DEFAULT 0, dmarc_verified INTEGER NOT NULL DEFAULT 0,
  dkim_public_key TEXT, dkim_private_key TEXT, dkim_selector TEXT, dns_records TEXT,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mailboxes (
  id TEXT PRIMARY KEY, domain_id TEXT, address TEXT NOT NULL, domain TEXT NOT NULL,
  full_address TEXT NOT NULL UNIQUE, display_name TEXT, status TEXT NOT NULL,
  daily_send_count INTEGER NOT NULL DEFAULT 0, daily_send_day TEXT,
  monthly_send_count INTEGER NOT NULL DEFAULT 0, monthly_send_month TEXT,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS threads (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, mailbox_id TEXT NOT NULL,
  subject TEXT NOT NULL, norm_subject TEXT NOT NULL, message_count INTEGER NOT NULL DEFAULT 0,
  last_message_at TEXT NOT NULL, participants TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS threads_by_activity ON threads(mailbox_id, last_message_at);
CREATE INDEX IF NOT EXISTS threads_by_subject ON threads(mailbox_id, norm_subject);
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, mailbox_id TEXT NOT NULL,
  thread_id TEXT, direction TEXT NOT NULL, message_id TEXT NOT NULL, in_reply_to TEXT,
  refs TEXT NOT NULL DEFAULT '[]', from_address TEXT NOT NULL, from_name TEXT,
  to_addresses TEXT NOT NULL, cc_addresses TEXT NOT NULL, bcc_addresses TEXT NOT NULL,
  subject TEXT NOT NULL, body_text TEXT NOT NULL, body_html TEXT, headers TEXT NOT NULL,
  status TEXT NOT NULL, has_attachments INTEGER NOT NULL DEFAULT 0,
  attachments_dropped INTEGER NOT NULL DEFAULT 0, attachments_dropped_reason TEXT,
  event_dispatched_at TEXT, content_hash TEXT, size_bytes INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS messages_by_mailbox ON messages(mailbox_id, seq);
CREATE INDEX IF NOT EXISTS messages_by_thread ON messages(thread_id, seq);
CREATE INDEX IF NOT EXISTS messages_by_rfc_id ON messages(mailbox_id, message_id);
CREATE TABLE IF NOT EXISTS attachments (
  id TEXT PRIMARY KEY, message_id TEXT, filename TEXT NOT NULL, content_type TEXT NOT NULL,
  size_bytes INTEGER NOT NULL, content_id TEXT, inline INTEGER NOT NULL DEFAULT 0,
  blob_key TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS attachments_by_message ON attachments(message_id);
CREATE TABLE IF NOT EXISTS blobs (key TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS webhooks (
  id TEXT PRIMARY KEY, mailbox_id TEXT, url TEXT NOT NULL, events TEXT NOT NULL, headers TEXT,
  secret TEXT NOT NULL, status TEXT NOT NULL, failure_count INTEGER NOT NULL DEFAULT 0,
  last_triggered_at TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL, mailbox_id TEXT,
  created_at TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, webhook_id TEXT NOT NULL,
  event_id INTEGER NOT NULL, event TEXT NOT NULL, status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, response_status INTEGER, last_error TEXT,
  next_retry_at TEXT, next_retry_ts REAL, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(status, next_retry_ts);
CREATE INDEX IF NOT EXISTS deliveries_by_webhook ON deliveries(webhook_id, seq);
CREATE TABLE IF NOT EXISTS suppressions (
  id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, reason TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bounces (email TEXT PRIMARY KEY, kind TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, message_id TEXT NOT NULL,
  mailbox_id TEXT NOT NULL, rfc_message_id TEXT NOT NULL, mail_from TEXT NOT NULL,
  rcpt_tos TEXT NOT NULL, subject TEXT NOT NULL, raw BLOB, relay_status TEXT NOT NULL,
  relay_error TEXT, created_at TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(
  message_id UNINDEXED, mailbox_id UNINDEXED, subject, body, sender,
  tokenize = 'unicode61 remove_diacritics 2');
"""


def now_iso() -> str:
    """UTC now as ISO 8601 with milliseconds and ``Z`` (sortable as text)."""
    return to_iso(datetime.now(UTC))


def to_iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return str(uuid.uuid4())


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(value: str | None) -> Any:
    return None if value is None else json.loads(value)


class Store:
    """The sandbox database. ``path=None`` keeps everything (blobs included) in memory.

    Args:
        path: a data directory (created if missing) holding ``sandbox.db`` and ``blobs/``.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.lock = threading.RLock()
        if self.path is None:
            self._blob_dir: Path | None = None
            db = ":memory:"
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            self._blob_dir = self.path / "blobs"
            self._blob_dir.mkdir(exist_ok=True)
            db = str(self.path / "sandbox.db")
        self.conn = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        with self.lock:
            if self.path is not None:
                self.conn.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode is durable across application crashes (not power loss),
                # which is the right trade for a development server.
                self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA foreign_keys=OFF")
            self.conn.executescript(_SCHEMA)
            if self.get_meta("schema_version") is None:
                self.set_meta("schema_version", str(SCHEMA_VERSION))
        self._closed = False

    # -- transactions and queries -------------------------------------------------------

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and run the block as one transaction (nested blocks join it)."""
        with self.lock:
            if self.conn.in_transaction:
                yield self.conn
                return
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")

    def one(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> sqlite3.Row | None:
        with self.lock:
            row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
            return row

    def all(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return list(self.conn.execute(sql, params).fetchall())

    def run(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> sqlite3.Cursor:
        with self.lock:
            return self.conn.execute(sql, params)

    def get_meta(self, key: str) -> str | None:
        row = self.one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        self.run(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- blobs ---------------------------------------------------------------------------

    def put_blob(self, key: str, data: bytes) -> None:
        if self._blob_dir is None:
            self.run("INSERT OR REPLACE INTO blobs(key, data) VALUES (?, ?)", (key, data))
            return
        target = self._blob_dir / key
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)  # atomic: a crash never leaves a half-written blob under its name

    def get_blob(self, key: str) -> bytes | None:
        if self._blob_dir is None:
            row = self.one("SELECT data FROM blobs WHERE key = ?", (key,))
            return None if row is None else bytes(row["data"])
        try:
            return (self._blob_dir / key).read_bytes()
        except FileNotFoundError:
            return None

    def delete_blob(self, key: str) -> None:
        if self._blob_dir is None:
            self.run("DELETE FROM blobs WHERE key = ?", (key,))
            return
        with contextlib.suppress(FileNotFoundError):
            (self._blob_dir / key).unlink()

    def close(self) -> None:
        with self.lock:
            if not self._closed:
                self._closed = True
                self.conn.close()
