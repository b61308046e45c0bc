"""Lifecycle: serving twice, stopping, waiting, closing (idempotent), in-process transports."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from agentmail_tools.sandbox import AsyncASGITransport, Sandbox, SyncASGITransport


@pytest.mark.integration
def test_two_servers_one_sandbox_and_wait_returns_on_stop():
    with Sandbox() as sb:
        one = sb.serve(smtp_port=None)
        two = sb.serve(smtp_port=None)
        assert one.port != two.port and one.base_url.endswith("/v1")
        with one.client() as c1, two.client() as c2:
            mb = c1.mailboxes.create("both")
            assert c2.mailboxes.get(mb.id).full_address == mb.full_address
        waiter = threading.Thread(target=two.wait)
        waiter.start()
        two.stop()
        waiter.join(timeout=10)
        assert not waiter.is_alive()
        with pytest.raises(httpx.ConnectError), httpx.Client() as http:
            http.get(two.base_url + "/account")
        one.stop()
        one.stop()  # idempotent


def test_close_is_idempotent_and_ends_in_process_streams():
    sb = Sandbox()
    client = sb.client()
    stream = client.events.stream()
    ended = threading.Event()

    def consume() -> None:
        try:
            with stream:
                for _ in stream:
                    pass
        except Exception:  # the stream may end with an error or cleanly: both mean "ended"
            pass
        ended.set()

    worker = threading.Thread(target=consume, daemon=True)
    worker.start()
    sb.close()
    assert ended.wait(10)
    sb.close()


def test_sync_transport_streams_chunks_before_the_app_finishes():
    gate = threading.Event()

    async def app(scope, receive, send):
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        while not gate.is_set():
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"second", "more_body": False})

    with Sandbox() as sb:
        transport = SyncASGITransport(app, sb._loop_thread())
        with httpx.Client(transport=transport) as http, http.stream("GET", "http://x/") as response:
            chunks = response.iter_bytes()
            assert next(chunks) == b"first"  # arrives while the app is still running
            gate.set()
            assert b"".join(chunks) == b"second"


def test_sync_transport_reports_app_crash_before_response_as_transport_error():
    async def app(scope, receive, send):
        raise RuntimeError("boom")

    with Sandbox() as sb:
        transport = SyncASGITransport(app, sb._loop_thread())
        with httpx.Client(transport=transport) as http, pytest.raises(httpx.RemoteProtocolError):
            http.get("http://x/")


async def test_async_transport_disconnect_reaches_the_app():
    saw_disconnect = asyncio.Event()

    async def app(scope, receive, send):
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})
        message = await receive()
        if message["type"] == "http.disconnect":
            saw_disconnect.set()

    async with httpx.AsyncClient(transport=AsyncASGITransport(app)) as http:
        async with http.stream("GET", "http://x/") as response:
            async for chunk in response.aiter_bytes():
                assert chunk == b"x"
                break
    await asyncio.wait_for(saw_disconnect.wait(), 5)


def test_using_a_closed_sandbox_fails_clearly():
    from agentmail_tools import MailConnectionError

    sb = Sandbox()
    client = sb.client()
    sb.close()
    with pytest.raises(MailConnectionError):
        client.mailboxes.list()
    with pytest.raises(RuntimeError, match="closed"):
        sb.client()
    with pytest.raises(RuntimeError, match="closed"):
        sb.serve()


def test_direct_methods_raise_the_clients_error_tree():
    from agentmail_tools import BadRequestError, ConflictError, MailError, NotFoundError

    with Sandbox() as sandbox:
        sandbox.create_mailbox("support")
        with pytest.raises(BadRequestError, match=r"400 .*sandbox mailbox.*\(sandbox\.inject\)") as info:
            sandbox.inject({"from": "ana@example.com", "to": "nobody@example.com", "subject": "hi"})
        assert isinstance(info.value, MailError) and info.value.status_code == 400
        assert info.value.body == {"error": info.value.error}
        with pytest.raises(ConflictError):
            sandbox.create_mailbox("support")
        with pytest.raises(NotFoundError):
            sandbox.complain("msg_missing")
        assert sandbox.outbox() == []  # nothing was delivered by the refused calls
