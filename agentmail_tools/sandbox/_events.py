"""The append-only event log and what reads it: SSE streams and the webhook dispatcher.

Every state change that the API announces (message.received, .sent, .delivered, .bounced,
.complaint) is one row with a monotonic integer id. SSE streams replay from that log after
``Last-Event-ID`` and then wait for new rows; webhook deliveries are rows created in the same
transaction as their event and attempted by one background thread with a retry schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx

from .._webhooks import DELIVERY_ID_HEADER, SIGNATURE_HEADER, sign_webhook
from ._limits import SandboxLimits
from ._store import Store, dumps, loads, new_id, now_iso, to_iso

__all__ = ["EVENT_TYPES", "EventHub", "EventLog", "WebhookDispatcher", "sse_frames"]

logger = logging.getLogger("agentmail_tools")

_WORKERS = 4

EVENT_TYPES = (
    "message.received",
    "message.sent",
    "message.delivered",
    "message.bounced",
    "message.complaint",
)


class EventHub:
    """Wakes waiting SSE streams, whichever event loop (or thread) they run on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[asyncio.Event, asyncio.AbstractEventLoop] = {}
        self.closing = False

    def subscribe(self) -> asyncio.Event:
        event = asyncio.Event()
        with self._lock:
            self._waiters[event] = asyncio.get_running_loop()
        return event

    def unsubscribe(self, event: asyncio.Event) -> None:
        with self._lock:
            self._waiters.pop(event, None)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._waiters)

    def notify(self) -> None:
        with self._lock:
            waiters = list(self._waiters.items())
        for event, loop in waiters:
            # The loop may be gone (a finished asyncio.run in a test); nothing to wake then.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

    def close(self) -> None:
        self.closing = True
        self.notify()


class EventLog:
    """Appends events (and their webhook deliveries) and reads them back in id order."""

    def __init__(self, store: Store, hub: EventHub) -> None:
        self.store = store
        self.hub = hub
        self.on_delivery: Callable[[], None] | None = None

    def append(self, event: str, mailbox_id: str | None, data: dict[str, Any]) -> int:
        """Record one event; returns its id. Joins the caller's transaction if one is open."""
        created = now_iso()
        body = dumps({"event": event, "timestamp": created, "data": data})
        with self.store.tx() as conn:
            cur = conn.execute(
                "INSERT INTO events(event, mailbox_id, created_at, body) VALUES (?,?,?,?)",
                (event, mailbox_id, created, body),
            )
            event_id = int(cur.lastrowid or 0)
            hooks = conn.execute(
                "SELECT id, mailbox_id, events FROM webhooks WHERE status = 'ACTIVE'"
            ).fetchall()
            queued = False
            for hook in hooks:
                if hook["mailbox_id"] is not None and hook["mailbox_id"] != mailbox_id:
                    continue
                if event not in loads(hook["events"]):
                    continue
                conn.execute(
                    "INSERT INTO deliveries(id, webhook_id, event_id, event, status, attempts, next_retry_at,"
                    " next_retry_ts, created_at) VALUES (?,?,?,?, 'PENDING', 0, ?, ?, ?)",
                    (new_id(), hook["id"], event_id, event, created, time.time(), created),
                )
                queued = True
        self.hub.notify()
        if queued and self.on_delivery is not None:
            self.on_delivery()
        return event_id

    def last_id(self) -> int:
        row = self.store.one("SELECT COALESCE(MAX(id), 0) AS m FROM events")
        return int(row["m"]) if row else 0

    def read_after(
        self,
        after: int,
        *,
        mailbox_ids: Iterable[str] | None = None,
        events: Iterable[str] | None = None,
        limit: int = 500,
    ) -> list[tuple[int, str, str]]:
        """Events with id > ``after`` matching the filters: ``(id, event, body)``, oldest first."""
        sql = "SELECT id, event, body FROM events WHERE id > ?"
        params: list[Any] = [after]
        if mailbox_ids is not None:
            ids = list(mailbox_ids)
            sql += f" AND mailbox_id IN ({','.join('?' * len(ids))})" if ids else " AND 0"
            params += ids
        if events is not None:
            types = list(events)
            sql += f" AND event IN ({','.join('?' * len(types))})" if types else " AND 0"
            params += types
        sql += " ORDER BY id LIMIT ?"
        params.append(limit)
        return [(int(r["id"]), str(r["event"]), str(r["body"])) for r in self.store.all(sql, params)]


async def sse_frames(
    log: EventLog,
    *,
    after: int,
    mailbox_ids: list[str] | None,
    events: list[str] | None,
    heartbeat: float,
    reconnect_after: float,
    on_close: Callable[[], None] | None = None,
    stopping: threading.Event | None = None,
    poll: float | None = None,
) -> AsyncIterator[bytes]:
    """Yield SSE frames: replay after ``after``, then live events, heartbeats, a reconnect.

    ``poll`` re-reads the log at least that often, for events appended by another process
    sharing the data directory (this process's hub only hears its own writes).
    """
    wake = log.hub.subscribe()
    started = last_sent = time.monotonic()
    try:
        while True:
            wake.clear()
            rows = log.read_after(after, mailbox_ids=mailbox_ids, events=events)
            for event_id, event, body in rows:
                yield f"id: {event_id}\nevent: {event}\ndata: {body}\n\n".encode()
                after = event_id
            if rows:
                last_sent = time.monotonic()
                continue  # drain fully before waiting
            if log.hub.closing or (stopping is not None and stopping.is_set()):
                return
            now = time.monotonic()
            until_reconnect = started + reconnect_after - now
            if until_reconnect <= 0:
                yield b"event: reconnect\ndata: {}\n\n"
                return
            until_heartbeat = last_sent + heartbeat - now
            if until_heartbeat <= 0:
                yield b": heartbeat\n\n"
                last_sent = now
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    wake.wait(), min(until_heartbeat, until_reconnect, poll or until_reconnect)
                )
    finally:
        log.hub.unsubscribe(wake)
        if on_close is not None:
            on_close()


class WebhookDispatcher:
    """Delivers pending webhook deliveries from one background thread.

    Each attempt POSTs the event's stored JSON bytes unchanged (so the signature a receiver
    checks is over exactly what was logged), signed with the webhook's secret. After a
    non-2xx or a transport error the next attempt waits per ``limits.webhook_retry_schedule``
    (times ``webhook_retry_scale``); when the schedule is spent the delivery is FAILED. A
    webhook with ``webhook_max_failures`` consecutive failed attempts is set FAILED.
    """

    def __init__(
        self,
        store: Store,
        limits: SandboxLimits,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.store = store
        self.limits = limits
        self._transport = transport
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Another process on the same data directory may add deliveries; look now and then.
        self._poll = 2.0 if store.path is not None else 3600.0
        self._inflight: set[str] = set()
        self._inflight_lock = threading.Lock()
        #: The HTTP client to close when the last attempt still in flight at shutdown ends.
        self._close_when_idle: httpx.Client | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        # A few workers so one slow or dead receiver cannot hold up every other webhook;
        # deliveries of one webhook still go out one at a time, in order.
        http = httpx.Client(
            timeout=self.limits.webhook_timeout_seconds, transport=self._transport, follow_redirects=False
        )
        pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="sandbox-webhook")
        try:
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    wait = self.run_due(http, pool)
                except Exception:  # keep delivering whatever one bad row did
                    logger.exception("webhook dispatcher pass failed")
                    wait = 1.0
                self._wake.wait(wait)
        finally:
            # Closing must not wait for a hanging receiver: an attempt still in flight keeps
            # its lease and is retried by whoever opens the data next.
            pool.shutdown(wait=False, cancel_futures=True)
            with self._inflight_lock:
                idle = not self._inflight
                if not idle:
                    self._close_when_idle = http  # the last batch in flight closes it
            if idle:
                http.close()

    def run_due(self, http: httpx.Client, pool: ThreadPoolExecutor | None = None) -> float:
        """Start every due delivery (one batch per webhook); return seconds until the next is due."""
        now = time.time()
        due = self.store.all(
            "SELECT d.id, d.event_id, d.event, d.attempts, w.id AS webhook_id, w.url, w.secret, w.headers,"
            " e.body FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id"
            " JOIN events e ON e.id = d.event_id"
            " WHERE d.status = 'PENDING' AND w.status = 'ACTIVE' AND d.next_retry_ts <= ?"
            " ORDER BY d.next_retry_ts, d.seq LIMIT 200",
            (now,),
        )
        batches: dict[str, list[Any]] = {}
        with self._inflight_lock:
            for row in due:
                if row["webhook_id"] not in self._inflight:
                    batches.setdefault(row["webhook_id"], []).append(row)
            self._inflight.update(batches)
        for webhook_id, rows in batches.items():
            if pool is None:
                self._deliver_batch(http, webhook_id, rows)
            else:
                pool.submit(self._deliver_batch, http, webhook_id, rows)
        nxt = self.store.one(
            "SELECT MIN(d.next_retry_ts) AS t FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id"
            " WHERE d.status = 'PENDING' AND w.status = 'ACTIVE'"
        )
        if nxt is None or nxt["t"] is None:
            return self._poll
        return min(self._poll, max(0.0, float(nxt["t"]) - time.time()))

    def _deliver_batch(self, http: httpx.Client, webhook_id: str, rows: list[Any]) -> None:
        try:
            for row in rows:
                if self._stop.is_set():
                    return
                hook = self.store.one("SELECT status FROM webhooks WHERE id = ?", (webhook_id,))
                if hook is None or hook["status"] != "ACTIVE":
                    return  # paused, FAILED or deleted meanwhile
                # Claim the attempt (a lease past the timeout) so that a second process serving
                # the same data directory cannot deliver it at the same moment.
                now = time.time()
                lease = now + self.limits.webhook_timeout_seconds * 2 + 5
                claimed = self.store.run(
                    "UPDATE deliveries SET next_retry_ts = ? WHERE id = ? AND status = 'PENDING'"
                    " AND next_retry_ts <= ?",
                    (lease, row["id"], now),
                )
                if claimed.rowcount == 1:
                    self._attempt(http, row)
        except Exception:  # logged; the delivery stays PENDING and is retried after its lease
            if self._stop.is_set():
                # The sandbox closed its store while this attempt was in flight: expected.
                logger.debug("webhook delivery for %s ended by shutdown; retried after its lease", webhook_id)
            else:
                logger.exception("webhook delivery batch for %s failed", webhook_id)
        finally:
            with self._inflight_lock:
                self._inflight.discard(webhook_id)
                leftover = self._close_when_idle if not self._inflight else None
                if leftover is not None:
                    self._close_when_idle = None
            if leftover is not None:
                leftover.close()
            self._wake.set()

    def _attempt(self, http: httpx.Client, row: Any) -> None:
        body = str(row["body"]).encode("utf-8")
        headers = {str(k): str(v) for k, v in (loads(row["headers"]) or {}).items()}
        headers.update(
            {
                "Content-Type": "application/json",
                "User-Agent": "agentmail-tools-sandbox",
                SIGNATURE_HEADER: sign_webhook(body, str(row["secret"])),
                DELIVERY_ID_HEADER: str(row["id"]),
                "X-Robotomail-Event": str(row["event"]),
            }
        )
        status: int | None = None
        error: str | None = None
        try:
            response = http.post(str(row["url"]), content=body, headers=headers)
            status = response.status_code
            ok = 200 <= status < 300
            if not ok:
                error = f"HTTP {status}"
        except httpx.HTTPError as err:
            ok = False
            error = f"{type(err).__name__}: {err}"
        attempts = int(row["attempts"]) + 1
        stamp = now_iso()
        with self.store.tx() as conn:
            if ok:
                conn.execute(
                    "UPDATE deliveries SET status='DELIVERED', attempts=?, response_status=?, last_error=NULL,"
                    " next_retry_at=NULL, next_retry_ts=NULL WHERE id=?",
                    (attempts, status, row["id"]),
                )
                conn.execute(
                    "UPDATE webhooks SET failure_count=0, last_triggered_at=? WHERE id=?",
                    (stamp, row["webhook_id"]),
                )
                return
            delay = self.limits.retry_delay(attempts)
            if delay is None:
                conn.execute(
                    "UPDATE deliveries SET status='FAILED', attempts=?, response_status=?, last_error=?,"
                    " next_retry_at=NULL, next_retry_ts=NULL WHERE id=?",
                    (attempts, status, error, row["id"]),
                )
            else:
                retry_ts = time.time() + delay
                conn.execute(
                    "UPDATE deliveries SET attempts=?, response_status=?, last_error=?, next_retry_at=?,"
                    " next_retry_ts=? WHERE id=?",
                    (
                        attempts,
                        status,
                        error,
                        to_iso(datetime.fromtimestamp(retry_ts, UTC)),
                        retry_ts,
                        row["id"],
                    ),
                )
            conn.execute(
                "UPDATE webhooks SET failure_count = failure_count + 1, last_triggered_at=? WHERE id=?",
                (stamp, row["webhook_id"]),
            )
            hook = conn.execute(
                "SELECT failure_count FROM webhooks WHERE id=?", (row["webhook_id"],)
            ).fetchone()
            if hook is not None and int(hook["failure_count"]) >= self.limits.webhook_max_failures:
                logger.warning(
                    "webhook %s set FAILED after %s consecutive failures",
                    row["webhook_id"],
                    hook["failure_count"],
                )
                conn.execute(
                    "UPDATE webhooks SET status='FAILED', updated_at=? WHERE id=?", (stamp, row["webhook_id"])
                )
                conn.execute(
                    "UPDATE deliveries SET status='FAILED', next_retry_at=NULL, next_retry_ts=NULL"
                    " WHERE webhook_id=? AND status='PENDING'",
                    (row["webhook_id"],),
                )
        logger.info("webhook delivery %s failed (%s), attempt %s", row["id"], error, attempts)


def parse_event_types(raw: str | None) -> list[str] | None:
    if raw is None or not raw.strip():
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def envelope_json(body: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(body)
    return value
