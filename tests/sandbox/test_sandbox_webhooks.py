"""Webhook delivery: signed with the secret, retried on a schedule, visible, FAILED after 10."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import uvicorn
from _waiting import wait_for
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentmail_tools import verify_webhook
from agentmail_tools.sandbox import Sandbox, SandboxLimits


class Receiver:
    """A real HTTP receiver on loopback that fails its first ``fail_first`` requests."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()

        async def hook(request: Request) -> Response:
            body = await request.body()
            with self._lock:
                self.requests.append((dict(request.headers), body))
                n = len(self.requests)
            return Response("no", status_code=500) if n <= self.fail_first else Response("ok")

        app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/hook"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def __enter__(self) -> Receiver:
        self._thread.start()
        wait_for(lambda: self._server.started, what="receiver start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def count(self) -> int:
        with self._lock:
            return len(self.requests)


@pytest.fixture
def fast_sandbox() -> Iterator[Sandbox]:
    sb = Sandbox(
        limits=SandboxLimits(webhook_retry_schedule=(0.02, 0.05, 0.1, 0.1, 0.1), webhook_timeout_seconds=5)
    )
    yield sb
    sb.close()


@pytest.mark.integration
def test_signed_delivery_retried_until_success(fast_sandbox):
    sb = fast_sandbox
    with Receiver(fail_first=2) as receiver, sb.client() as client:
        mb = client.mailboxes.create("hooked")
        hook = client.webhooks.create(
            receiver.url, events=["message.received"], mailbox_id=mb.id, headers={"X-Custom-Auth": "token-1"}
        )
        sb.inject({"from": "dana@example.com", "to": mb.full_address, "subject": "Hi", "bodyText": "Hello"})
        wait_for(lambda: receiver.count() >= 3, what="three attempts")
        wait_for(lambda: client.webhooks.deliveries(hook.id)[0].status == "DELIVERED", what="DELIVERED")
        headers = [h for h, _ in receiver.requests]
        bodies = [b for _, b in receiver.requests]
        assert len(set(bodies)) == 1, "every attempt carries the same bytes"
        assert len({h["x-robotomail-delivery-id"] for h in headers}) == 1
        for h, body in receiver.requests:
            assert verify_webhook(body, h["x-robotomail-signature"], hook.secret)
            assert not verify_webhook(body, h["x-robotomail-signature"], "whsec_wrong")
            assert h["x-custom-auth"] == "token-1"
            assert h["content-type"] == "application/json"
        envelope = json.loads(bodies[0])
        assert envelope["event"] == "message.received"
        assert envelope["data"]["subject"] == "Hi" and envelope["data"]["from"] == "dana@example.com"
        (delivery,) = client.webhooks.deliveries(hook.id)
        assert delivery.attempts == 3 and delivery.response_status == 200 and delivery.next_retry_at is None
        assert delivery.id == headers[0]["x-robotomail-delivery-id"]
        got = client.webhooks.get(hook.id)
        assert got.failure_count == 0 and got.last_triggered_at is not None


@pytest.mark.integration
def test_ten_consecutive_failures_set_webhook_failed(fast_sandbox):
    sb = fast_sandbox
    with Receiver(fail_first=10_000) as receiver, sb.client() as client:
        mb = client.mailboxes.create("broken")
        hook = client.webhooks.create(
            receiver.url, events=["message.received", "message.sent"], mailbox_id=mb.id
        )
        sb.inject({"from": "a@example.com", "to": mb.full_address, "subject": "one", "bodyText": "b"})
        sb.inject({"from": "a@example.com", "to": mb.full_address, "subject": "two", "bodyText": "b"})
        wait_for(lambda: client.webhooks.get(hook.id).status == "FAILED", what="webhook FAILED")
        got = client.webhooks.get(hook.id)
        assert got.failure_count == 10
        deliveries = client.webhooks.deliveries(hook.id)
        assert {d.status for d in deliveries} == {"FAILED"}
        assert sum(d.attempts for d in deliveries) == 10 == receiver.count()
        assert all(d.response_status == 500 for d in deliveries)
        # A FAILED webhook gets nothing more until it is re-activated.
        sb.inject({"from": "a@example.com", "to": mb.full_address, "subject": "three", "bodyText": "b"})
        assert receiver.count() == 10
        receiver.fail_first = 0
        client.webhooks.update(hook.id, status="ACTIVE")
        sb.inject({"from": "a@example.com", "to": mb.full_address, "subject": "four", "bodyText": "b"})
        wait_for(lambda: receiver.count() == 11, what="delivery after re-activation")
        assert json.loads(receiver.requests[-1][1])["data"]["subject"] == "four"


def test_default_schedule_first_retry_after_one_minute():
    """Unit (no socket): the dispatcher's real schedule, observed through deliveries."""
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503)

    with Sandbox(webhook_transport=httpx.MockTransport(handler)) as sb, sb.client() as client:
        mb = client.mailboxes.create("sched")
        hook = client.webhooks.create("https://hooks.example.com/h", events=["message.received"])
        before = datetime.now(UTC)
        sb.inject({"from": "a@example.com", "to": mb.full_address, "subject": "s", "bodyText": "b"})
        wait_for(lambda: client.webhooks.deliveries(hook.id)[0].attempts == 1, what="first attempt")
        (delivery,) = client.webhooks.deliveries(hook.id)
        assert delivery.status == "PENDING" and delivery.response_status == 503
        wait = (delivery.next_retry_at - before).total_seconds()
        assert 59 <= wait <= 61
        assert len(calls) == 1
        assert calls[0].headers["X-Robotomail-Delivery-Id"] == delivery.id


def test_retry_delays_follow_the_schedule_and_scale():
    limits = SandboxLimits()
    assert [limits.retry_delay(n) for n in range(1, 7)] == [60, 300, 1800, 7200, 43200, None]
    scaled = SandboxLimits(webhook_retry_scale=0.001)
    assert scaled.retry_delay(1) == pytest.approx(0.06)
    assert limits.retry_delay(0) is None


def test_paused_webhook_receives_nothing_and_filters_apply():
    calls: list[bytes] = []
    transport = httpx.MockTransport(lambda r: calls.append(r.content) or httpx.Response(200))
    with Sandbox(webhook_transport=transport) as sb, sb.client() as client:
        a = client.mailboxes.create("wa")
        b = client.mailboxes.create("wb")
        only_a = client.webhooks.create(
            "https://h.example.com/a", events=["message.received"], mailbox_id=a.id
        )
        paused = client.webhooks.create("https://h.example.com/p", events=["message.received"])
        client.webhooks.update(paused.id, status="PAUSED")
        sb.inject({"from": "x@example.com", "to": b.full_address, "subject": "to b", "bodyText": "b"})
        sb.inject({"from": "x@example.com", "to": a.full_address, "subject": "to a", "bodyText": "b"})
        wait_for(lambda: len(calls) >= 1, what="delivery")
        assert [json.loads(c)["data"]["subject"] for c in calls] == ["to a"]
        assert client.webhooks.deliveries(paused.id) == []
        assert len(client.webhooks.deliveries(only_a.id)) == 1


def test_a_hanging_receiver_does_not_hold_up_other_webhooks():
    release = threading.Event()
    fast_calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "slow.example.com":
            release.wait(10)
        else:
            fast_calls.append(request.headers["X-Robotomail-Delivery-Id"])
        return httpx.Response(200)

    with Sandbox(webhook_transport=httpx.MockTransport(handler)) as sb, sb.client() as client:
        mb = client.mailboxes.create("two-hooks")
        slow = client.webhooks.create("https://slow.example.com/h", events=["message.received"])
        client.webhooks.create("https://fast.example.com/h", events=["message.received"])
        for n in range(3):
            sb.inject({"from": "a@example.com", "to": mb.full_address, "subject": f"s{n}", "bodyText": "b"})
        try:
            wait_for(lambda: len(fast_calls) == 3, what="fast deliveries while the slow one hangs")
            assert {d.status for d in client.webhooks.deliveries(slow.id)} == {"PENDING"}
        finally:
            release.set()
        wait_for(
            lambda: {d.status for d in client.webhooks.deliveries(slow.id)} == {"DELIVERED"}, what="slow"
        )


def test_close_does_not_wait_for_a_hanging_receiver(caplog: pytest.LogCaptureFixture):
    release = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        release.wait(20)
        return httpx.Response(200)

    sb = Sandbox(webhook_transport=httpx.MockTransport(handler))
    try:
        with sb.client() as client:
            mb = client.mailboxes.create("hang")
            hook = client.webhooks.create("https://hang.example.com/h", events=["message.received"])
            sb.inject({"from": "a@example.com", "to": mb.full_address, "subject": "s", "bodyText": "b"})
            wait_for(lambda: sb._dispatcher._inflight == {hook.id}, what="attempt in flight")
        started = time.monotonic()
        sb.close()
        assert time.monotonic() - started < 5
    finally:
        release.set()
    # The attempt ends after the store closed: quietly, and it closes the HTTP client.
    wait_for(lambda: not sb._dispatcher._inflight, what="the attempt in flight to end")
    assert sb._dispatcher._close_when_idle is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
