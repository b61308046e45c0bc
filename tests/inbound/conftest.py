"""Fixtures for the inbound pipeline tests: a controllable clock and event factories."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest

from agentmail_tools._webhooks import sign_webhook
from agentmail_tools.inbound import InboundEvent, SQLiteQueue

SECRET = "whsec_test_secret"


class FakeClock:
    """Epoch seconds that only move when a test says so (lease expiry without sleeping)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


_counter = itertools.count(1)


def envelope(
    message_id: str | None = None, *, event: str = "message.received", mailbox_id: str = "mbx_1", **extra: Any
) -> dict[str, Any]:
    """A contract-shaped webhook/SSE body ({event, timestamp, data})."""
    message_id = message_id or f"msg_{next(_counter)}"
    data = {
        "message_id": message_id,
        "mailbox_id": mailbox_id,
        "mailbox_address": "agent@sandbox.robotomail.test",
        "from": "ann@example.com",
        "to": ["agent@sandbox.robotomail.test"],
        "cc": [],
        "subject": "Hello",
        "body_text": "Hi there",
        "body_html": None,
        "thread_id": "thr_1",
        "in_reply_to": None,
        "headers": {},
        "attachments": [],
        "received_at": "2026-11-25T00:00:00Z",
    }
    data.update(extra)
    return {"event": event, "timestamp": "2026-11-25T00:00:01Z", "data": data}


def make_event(message_id: str | None = None, **kw: Any) -> InboundEvent:
    delivery = kw.pop("delivery_id", None)
    return InboundEvent.from_webhook(
        envelope(message_id, **kw), delivery_id=delivery or f"dlv_{next(_counter)}"
    )


def signed(
    body: dict[str, Any] | bytes, *, delivery_id: str | None = "dlv_1", secret: str = SECRET
) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"X-Robotomail-Signature": sign_webhook(raw, secret), "Content-Type": "application/json"}
    if delivery_id is not None:
        headers["X-Robotomail-Delivery-Id"] = delivery_id
    return raw, headers


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue_factory(tmp_path: Any, clock: FakeClock) -> Callable[..., SQLiteQueue]:
    opened: list[SQLiteQueue] = []

    def factory(name: str | None = "q.db", **kw: Any) -> SQLiteQueue:
        kw.setdefault("clock", clock)
        q = SQLiteQueue(None if name is None else tmp_path / name, **kw)
        opened.append(q)
        return q

    yield factory
    for q in opened:
        q.close()


@pytest.fixture
def queue(queue_factory: Callable[..., SQLiteQueue]) -> SQLiteQueue:
    return queue_factory()
