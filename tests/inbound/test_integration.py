"""The inbound pipeline against the real sandbox served on loopback (SSE, webhooks, polling).

A TCP proxy between the listener and the sandbox lets a test cut the stream mid-flight or
make it go silent; the sandbox can also be stopped and started again on the same data
directory. Every test checks the same two things: nothing lost, nothing doubled.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from _waiting import wait_for

from agentmail_tools import MailClient
from agentmail_tools.inbound import Poller, SQLiteQueue, SSEListener, WebhookReceiver
from agentmail_tools.sandbox import Sandbox, SandboxLimits

from ._proxy import TCPProxy

pytestmark = pytest.mark.integration

LIMITS = SandboxLimits(sse_heartbeat_seconds=0.2, webhook_retry_scale=0.0005, webhook_timeout_seconds=5)
FAST = {"backoff_initial": 0.05, "backoff_max": 0.3, "heartbeat_timeout": 2.0}


class Mailroom:
    """A sandbox with one mailbox, and a way to receive mail in it."""

    def __init__(self, sandbox: Sandbox, mailbox: dict[str, Any]) -> None:
        self.sandbox = sandbox
        self.mailbox_id: str = mailbox["id"]
        self.address: str = mailbox["fullAddress"]
        self.sent: list[str] = []

    def receive(self, n: int, sandbox: Sandbox | None = None) -> list[str]:
        ids = []
        for _ in range(n):
            k = len(self.sent) + 1
            stored = (sandbox or self.sandbox).inject(
                {
                    "from": f"customer{k}@example.com",
                    "to": self.address,
                    "subject": f"Question {k}",
                    "bodyText": f"body {k}",
                }
            )
            ids.append(stored[0]["id"])
        self.sent += ids
        return ids


@pytest.fixture
def room(tmp_path: Path) -> Iterator[Mailroom]:
    sandbox = Sandbox(tmp_path / "sandbox", limits=LIMITS)
    mailbox = sandbox.create_mailbox("agent")
    yield Mailroom(sandbox, mailbox)
    sandbox.close()


def queued_ids(queue: SQLiteQueue) -> list[str | None]:
    return [item.event.message_id for item in queue.list(limit=10_000)]


class Running:
    """Run a blocking ``run(stop)`` in a thread; stop and join on exit, re-raising its error."""

    def __init__(self, target: Callable[[threading.Event], None]) -> None:
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

        def body() -> None:
            try:
                target(self.stop)
            except BaseException as err:
                self.errors.append(err)

        self.thread = threading.Thread(target=body, daemon=True)

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "did not stop"
        if self.errors:
            raise self.errors[0]


def test_sse_dropped_mid_stream_resumes_with_nothing_lost_or_doubled(
    room: Mailroom, queue: SQLiteQueue, tmp_path: Path
) -> None:
    with room.sandbox.serve(smtp_port=None) as server:
        proxy = TCPProxy(server.port)
        client = MailClient(server.api_key, proxy.base_url, max_retries=0)
        listener = SSEListener(
            client, queue, mailbox_id=room.mailbox_id, state_path=tmp_path / "sse.json", **FAST
        )
        with Running(listener.run):
            wait_for(lambda: listener.stats.opened >= 1, what="stream open")
            room.receive(5)
            wait_for(lambda: queue.stats().ready == 5, what="first five")
            proxy.drop_all()  # the connection dies mid-stream
            room.receive(5)  # mail keeps arriving while the listener is reconnecting
            wait_for(lambda: queue.stats().ready == 10, what="all ten")
        proxy.close()
        client.close()
    assert queued_ids(queue) == room.sent
    assert listener.stats.connections >= 2 and proxy.accepted >= 2
    assert listener.stats.errors >= 1


def test_sse_survives_a_sandbox_restart_on_the_same_data_dir(tmp_path: Path, queue: SQLiteQueue) -> None:
    data = tmp_path / "sandbox"
    first = Sandbox(data, limits=LIMITS)
    room = Mailroom(first, first.create_mailbox("agent"))
    server = first.serve(smtp_port=None)
    proxy = TCPProxy(server.port)
    client = MailClient(first.api_key, proxy.base_url, max_retries=0)
    listener = SSEListener(
        client, queue, mailbox_id=room.mailbox_id, state_path=tmp_path / "sse.json", **FAST
    )
    with Running(listener.run):
        wait_for(lambda: listener.stats.opened >= 1, what="stream open")
        room.receive(3)
        wait_for(lambda: queue.stats().ready == 3, what="before the restart")
        server.stop()
        first.close()  # the server is gone: the listener backs off and retries
        second = Sandbox(data, limits=LIMITS)
        try:
            room.receive(3, sandbox=second)  # arrives while nobody is serving
            server = second.serve(smtp_port=None)
            proxy.upstream_port = server.port
            wait_for(lambda: queue.stats().ready == 6, what="after the restart")
        finally:
            server.stop()
            proxy.close()
            second.close()
    client.close()
    assert queued_ids(queue) == room.sent
    assert listener.stats.errors >= 1


def test_sse_silent_connection_is_detected_by_heartbeat_timeout(room: Mailroom, queue: SQLiteQueue) -> None:
    with room.sandbox.serve(smtp_port=None) as server:
        proxy = TCPProxy(server.port)
        client = MailClient(server.api_key, proxy.base_url, max_retries=0)
        listener = SSEListener(
            client, queue, mailbox_id=room.mailbox_id, **{**FAST, "heartbeat_timeout": 1.0}
        )
        with Running(listener.run):
            wait_for(lambda: listener.stats.opened >= 1, what="stream open")
            room.receive(2)
            wait_for(lambda: queue.stats().ready == 2)
            proxy.mute_existing()  # half-open: no bytes, no FIN, not even heartbeats
            room.receive(2)
            wait_for(lambda: queue.stats().ready == 4, what="events after the silence")
        proxy.close()
        client.close()
    assert queued_ids(queue) == room.sent
    assert listener.stats.dead_connections >= 1


def test_sse_honours_the_servers_reconnect_request(tmp_path: Path, queue: SQLiteQueue) -> None:
    limits = SandboxLimits(sse_heartbeat_seconds=0.2, sse_reconnect_seconds=0.4)
    with Sandbox(tmp_path / "sb", limits=limits) as sandbox:
        room = Mailroom(sandbox, sandbox.create_mailbox("agent"))
        with sandbox.serve(smtp_port=None) as server:
            client = server.client(max_retries=0)
            listener = SSEListener(client, queue, mailbox_id=room.mailbox_id, **FAST)
            with Running(listener.run):
                wait_for(lambda: listener.stats.opened >= 1, what="stream open")
                room.receive(2)
                wait_for(lambda: listener.stats.reconnect_requests >= 1, what="a reconnect frame")
                room.receive(2)
                wait_for(lambda: queue.stats().ready == 4)
            client.close()
    assert queued_ids(queue) == room.sent
    assert listener.stats.errors == 0


class ServedReceiver:
    """A WebhookReceiver served by uvicorn on a loopback port, in a thread."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hooks/robotomail"
        self.receiver: WebhookReceiver | None = None

    def start(self, secret: str) -> ServedReceiver:
        from starlette.applications import Starlette
        from starlette.routing import Route

        self.receiver = WebhookReceiver(self.queue, secret=secret)
        app = Starlette(routes=[Route("/hooks/robotomail", self.receiver, methods=["POST"])])
        self.server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        wait_for(lambda: self.server.started, what="receiver started")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


class FlakyQueue:
    """Refuses the first ``failures`` writes (a full disk, a locked file), then works."""

    def __init__(self, queue: SQLiteQueue, failures: int) -> None:
        self.queue = queue
        self.failures = failures

    def put_many(self, events: Any) -> list[bool]:
        if self.failures > 0:
            self.failures -= 1
            raise OSError("database is locked")
        return self.queue.put_many(events)

    def put(self, event: Any) -> bool:
        return self.put_many([event])[0]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.queue, name)


def test_receiver_takes_the_sandboxs_real_webhook_deliveries(room: Mailroom, queue: SQLiteQueue) -> None:
    served = ServedReceiver(FlakyQueue(queue, failures=2))
    with room.sandbox.client() as client:
        hook = client.webhooks.create(served.url, events=["message.received"], mailbox_id=room.mailbox_id)
        served.start(hook.secret)
        try:
            room.receive(4)
            wait_for(lambda: queue.stats().ready == 4, what="four webhook deliveries enqueued")
            # A forged delivery straight at the receiver is refused.
            forged = httpx.post(
                served.url,
                content=b'{"event": "message.received"}',
                headers={"X-Robotomail-Signature": "0" * 64},
            )
            assert forged.status_code == 401
            wait_for(lambda: all(d.status == "DELIVERED" for d in client.webhooks.deliveries(hook.id)))
            deliveries = client.webhooks.deliveries(hook.id)
        finally:
            served.stop()
    assert sorted(queued_ids(queue)) == sorted(room.sent)
    assert len(deliveries) == 4 and sum(d.attempts for d in deliveries) >= 5  # 503s were retried
    first = queue.list()[0].event
    assert first.source == "webhook" and first.payload["from"].startswith("customer")


def test_webhook_sse_and_polling_together_enqueue_each_message_once(
    room: Mailroom, queue: SQLiteQueue, tmp_path: Path
) -> None:
    served = ServedReceiver(queue)
    with room.sandbox.serve(smtp_port=None) as server, room.sandbox.client() as client:
        hook = client.webhooks.create(served.url, events=["message.received"], mailbox_id=room.mailbox_id)
        served.start(hook.secret)
        sse_client = server.client(max_retries=0)
        listener = SSEListener(sse_client, queue, mailbox_id=room.mailbox_id, **FAST)
        poller = Poller(client, queue, room.mailbox_id, tmp_path / "cursor.json")
        try:
            with Running(listener.run):
                wait_for(lambda: listener.stats.opened >= 1, what="stream open")
                room.receive(6)
                wait_for(lambda: listener.stats.received >= 6, what="SSE saw all six")
                wait_for(
                    lambda: (
                        all(d.status == "DELIVERED" for d in client.webhooks.deliveries(hook.id))
                        and len(client.webhooks.deliveries(hook.id)) == 6
                    )
                )
                poller.poll_once()
        finally:
            served.stop()
            sse_client.close()
    ids = queued_ids(queue)
    assert Counter(ids) == Counter(room.sent)  # each once, whichever transport came first
    assert len({item.event.source for item in queue.list()}) >= 1


def test_poller_on_the_sandbox_has_no_duplicates_across_restarts(
    room: Mailroom, queue: SQLiteQueue, tmp_path: Path
) -> None:
    cursor = tmp_path / "cursor.json"
    with room.sandbox.client() as client:
        room.receive(3)
        assert Poller(client, queue, room.mailbox_id, cursor).poll_once() == 3
        room.receive(2)
        restarted = Poller(client, queue, room.mailbox_id, cursor)
        assert restarted.poll_once() == 2
        assert restarted.poll_once() == 0
        # A reply we send is OUTBOUND: never enqueued as inbound.
        message = client.messages.get(room.mailbox_id, room.sent[0])
        client.messages.send(
            room.mailbox_id,
            to=message.from_address,
            subject="Re: " + message.subject,
            body_text="ok",
            in_reply_to=message.message_id,
        )
        assert restarted.poll_once() == 0
    assert queued_ids(queue) == room.sent
    assert queue.list()[0].event.payload["rfc_message_id"]


async def test_async_listener_resumes_after_a_drop_on_the_real_sandbox(
    room: Mailroom, queue: SQLiteQueue
) -> None:
    import asyncio

    from agentmail_tools import AsyncMailClient
    from agentmail_tools.inbound import AsyncPoller, AsyncSSEListener

    async def until(condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 20
        while not condition():
            assert time.monotonic() < deadline, f"{what} not met in time"
            await asyncio.sleep(0.01)

    with room.sandbox.serve(smtp_port=None) as server:
        proxy = TCPProxy(server.port)
        client = AsyncMailClient(server.api_key, proxy.base_url, max_retries=0)
        listener = AsyncSSEListener(client, queue, mailbox_id=room.mailbox_id, **FAST)
        stop = asyncio.Event()
        task = asyncio.create_task(listener.run(stop))
        try:
            await until(lambda: listener.stats.opened >= 1, "stream open")
            await asyncio.to_thread(room.receive, 3)
            await until(lambda: queue.stats().ready == 3, "first three")
            proxy.drop_all()
            await asyncio.to_thread(room.receive, 3)
            await until(lambda: queue.stats().ready == 6, "all six")
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
            proxy.close()
        # The async poller sees the same six messages and adds nothing.
        direct = AsyncMailClient(server.api_key, server.base_url, max_retries=0)
        poller = AsyncPoller(direct, queue, room.mailbox_id)
        assert await poller.poll_once() == 0
        assert poller.enqueued_total == 0
        await direct.close()
        await client.close()
    assert queued_ids(queue) == room.sent
    assert listener.stats.errors >= 1


def test_a_delivery_posted_five_times_over_http_is_enqueued_once(queue: SQLiteQueue) -> None:
    from agentmail_tools import sign_webhook

    served = ServedReceiver(queue).start("whsec_loopback")
    try:
        body = b'{"event": "message.received", "timestamp": "2026-11-25T00:00:00Z", "data": {"message_id": "m1", "mailbox_id": "mbx"}}'
        headers = {
            "X-Robotomail-Signature": sign_webhook(body, "whsec_loopback"),
            "X-Robotomail-Delivery-Id": "dlv-1",
        }
        with httpx.Client() as http:
            answers = [http.post(served.url, content=body, headers=headers) for _ in range(5)]
    finally:
        served.stop()
    assert [a.status_code for a in answers] == [200] * 5
    assert [a.json()["status"] for a in answers] == ["queued"] + ["duplicate"] * 4
    assert queue.stats().ready == 1
