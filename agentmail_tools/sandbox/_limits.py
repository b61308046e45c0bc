"""The sandbox's configurable limits, defaulting to what the hosted service enforces."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["RateLimiter", "SandboxLimits"]

MB = 1024 * 1024


@dataclass(frozen=True)
class SandboxLimits:
    """Limits the sandbox enforces, like the hosted Robotomail service (all configurable).

    ``None`` or ``0`` turns a rate or cap off. Time-based settings are in seconds; tests
    shrink them (e.g. ``webhook_retry_scale=0.001`` turns 1 min into 60 ms).

    Attributes:
        mailbox_sends_per_minute: sends per mailbox in any 60 s window (429 beyond).
        account_sends_per_minute: sends per account in any 60 s window (429 beyond).
        daily_send_limit: per mailbox per UTC day (429 beyond), shown as ``dailySendLimit``.
        monthly_send_limit: per mailbox per UTC month (402 beyond), 0 = unlimited.
        storage_limit_bytes: bodies plus attachment blobs (413 beyond).
        max_recipients: per field (to, cc, bcc).
        max_send_attachments: attachment ids per send.
        max_send_attachment_bytes: combined size of a send's attachments (413 beyond).
        max_upload_bytes: one uploaded attachment (413 beyond).
        inbound_max_attachments: more are dropped (message kept, ``attachmentsDropped``).
        inbound_max_attachment_bytes: any one bigger drops the attachments.
        smtp_max_message_bytes: SMTP DATA larger than this gets 552.
        max_mailboxes: plan limit on mailboxes (403 beyond), None = unlimited.
        monthly_inbound_limit: shown in quota headers, 0 = unlimited (never refuses mail).
        max_event_streams: concurrent SSE streams per account (429 beyond).
        sse_heartbeat_seconds: a ``: heartbeat`` comment after this much silence.
        sse_reconnect_seconds: then ``event: reconnect`` and the stream closes.
        webhook_retry_schedule: delays between attempts after a failure.
        webhook_retry_scale: multiplies the schedule (tests use a tiny scale).
        webhook_max_failures: consecutive failures before the webhook is set FAILED.
        webhook_timeout_seconds: per delivery attempt.
        attachment_url_ttl_seconds: lifetime of a signed download URL.
    """

    mailbox_sends_per_minute: int | None = 30
    account_sends_per_minute: int | None = 60
    daily_send_limit: int = 1000
    monthly_send_limit: int = 0
    storage_limit_bytes: int | None = 5 * 1024 * MB
    max_recipients: int = 50
    max_send_attachments: int = 10
    max_send_attachment_bytes: int = 25 * MB
    max_upload_bytes: int = 25 * MB
    inbound_max_attachments: int = 20
    inbound_max_attachment_bytes: int = 25 * MB
    smtp_max_message_bytes: int = 40 * MB
    max_mailboxes: int | None = None
    monthly_inbound_limit: int = 0
    max_event_streams: int = 5
    sse_heartbeat_seconds: float = 30.0
    sse_reconnect_seconds: float = 270.0
    webhook_retry_schedule: tuple[float, ...] = (60.0, 300.0, 1800.0, 7200.0, 43200.0)
    webhook_retry_scale: float = 1.0
    webhook_max_failures: int = 10
    webhook_timeout_seconds: float = 10.0
    attachment_url_ttl_seconds: int = 3600

    @classmethod
    def unlimited(cls, **overrides: object) -> SandboxLimits:
        """Limits with every rate and cap off (benchmarks, bulk loads); ``overrides`` win."""
        base: dict[str, object] = {
            "mailbox_sends_per_minute": None,
            "account_sends_per_minute": None,
            "daily_send_limit": 0,
            "monthly_send_limit": 0,
            "storage_limit_bytes": None,
            "max_event_streams": 1000,
        }
        base.update(overrides)
        return cls(**base)  # type: ignore[arg-type]

    def retry_delay(self, failed_attempts: int) -> float | None:
        """Seconds to wait after ``failed_attempts`` failures, or None when retries are spent."""
        if failed_attempts < 1 or failed_attempts > len(self.webhook_retry_schedule):
            return None
        return self.webhook_retry_schedule[failed_attempts - 1] * self.webhook_retry_scale


@dataclass
class RateLimiter:
    """Sliding-window counters: at most ``limit`` hits per key in any ``window`` seconds.

    A sliding log rather than a token bucket because the service's rule reads as "N per
    minute" and a log makes the boundary exact and easy to test.
    """

    window: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _hits: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, checks: list[tuple[str, int | None]]) -> bool:
        """Record one hit on every key if all are under their limit; else record nothing."""
        now = self.clock()
        with self._lock:
            queues = []
            for key, limit in checks:
                if not limit:
                    continue
                q = self._hits.setdefault(key, deque())
                while q and q[0] <= now - self.window:
                    q.popleft()
                if len(q) >= limit:
                    return False
                queues.append(q)
            for q in queues:
                q.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
