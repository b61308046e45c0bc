"""SSE listener (sync and async) through a real MailClient over a scripted MockTransport stream."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from _waiting import wait_for

from agentmail_tools import AsyncMailClient, MailClient
from agentmail_tools._errors import AuthenticationError
from agentmail_tools.inbound import AsyncSSEListener, SQLiteQueue, SSEListener

from ._fake_stream import FakeEventServer, Step

FAST = {"backoff_initial": 0.01, "backoff_max": 0.05}


def sync_client(server: FakeEventServer) -> MailClient:
    return MailClient(
        api_key="rm_test",
        base_url="http://127.0.0.1:1/v1",
        max_retries=0,
        transport=httpx.MockTransport(server.sync_handler),
    )


def async_client(server: FakeEventServer) -> AsyncMailClient:
    return AsyncMailClient(
        api_key="rm_test",
        base_url="http://127.0.0.1:1/v1",
        max_retries=0,
        transport=httpx.MockTransport(server.async_handler),
    )


def run_sync(listener: SSEListener, done: Callable[[], bool], server: FakeEventServer) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            listener.run(stop)
        except BaseException as err:
            errors.append(err)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        wait_for(lambda: done() or bool(errors))
    finally:
        stop.set()
        thread.join(timeout=10)
        server.released.set()
    assert not thread.is_alive(), "listener did not stop"
    if errors:
        raise errors[0]


def message_ids(queue: SQLiteQueue) -> list[str | None]:
    return [item.event.message_id for item in queue.list(limit=1000)]


SCRIPT = [
    Step(count=4, then="drop"),  # the connection dies mid-stream
    Step(count=3, then="reconnect", replay_one=True),  # at-least-once replay, then "reconnect"
    Step(then="hang"),
]


def test_drop_mid_stream_resumes_with_nothing_lost_or_doubled(queue: SQLiteQueue) -> None:
    server = FakeEventServer.with_messages(10, SCRIPT)
    listener = SSEListener(sync_client(server), queue, **FAST)
    run_sync(listener, lambda: queue.stats().ready == 10, server)
    assert message_ids(queue) == [f"m{i}" for i in range(1, 11)]
    assert server.last_event_ids[:3] == [None, "4", "6"]
    assert listener.last_event_id == "10"
    assert listener.stats.duplicates == 1 and listener.stats.reconnect_requests == 1
    assert listener.stats.errors == 1 and listener.stats.connections >= 3
    assert {item.event.source for item in queue.list()} == {"sse"}


async def test_async_drop_mid_stream_resumes_with_nothing_lost_or_doubled(queue: SQLiteQueue) -> None:
    server = FakeEventServer.with_messages(10, SCRIPT)
    listener = AsyncSSEListener(async_client(server), queue, **FAST)
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop))
    deadline = time.monotonic() + 10
    while queue.stats().ready < 10 and time.monotonic() < deadline and not task.done():
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 10)
    server.released.set()
    assert message_ids(queue) == [f"m{i}" for i in range(1, 11)]
    assert server.last_event_ids[:3] == [None, "4", "6"]
    assert listener.stats.duplicates == 1 and listener.stats.reconnect_requests == 1


def test_last_event_id_survives_a_restart(queue: SQLiteQueue, tmp_path: Path) -> None:
    state = tmp_path / "sse.json"
    server = FakeEventServer.with_messages(5, [Step(count=3, then="hang")])
    first = SSEListener(sync_client(server), queue, state_path=state, **FAST)
    run_sync(first, lambda: queue.stats().ready == 3, server)
    assert json.loads(state.read_text())["last_event_id"] == "3"

    server.released.clear()
    server.script = [Step(then="hang")]
    second = SSEListener(sync_client(server), queue, state_path=state, **FAST)
    assert second.last_event_id == "3"
    run_sync(second, lambda: queue.stats().ready == 5, server)
    assert server.last_event_ids[-1] == "3"
    assert message_ids(queue) == ["m1", "m2", "m3", "m4", "m5"]


def test_a_restart_without_state_replays_but_enqueues_nothing_twice(queue: SQLiteQueue) -> None:
    server = FakeEventServer.with_messages(4, [Step(then="hang")])
    run_sync(SSEListener(sync_client(server), queue, **FAST), lambda: queue.stats().ready == 4, server)
    server.released.clear()
    server.script = [Step(then="hang")]
    again = SSEListener(sync_client(server), queue, **FAST)
    run_sync(again, lambda: again.stats.received == 4, server)
    assert again.stats.enqueued == 0 and again.stats.duplicates == 4
    assert queue.stats().ready == 4


def test_silent_connection_is_detected_and_reopened(queue: SQLiteQueue) -> None:
    # "timeout" is what the client's read timeout raises when heartbeats stop coming.
    server = FakeEventServer.with_messages(6, [Step(count=2, then="timeout"), Step(then="hang")])
    listener = SSEListener(sync_client(server), queue, heartbeat_timeout=5, **FAST)
    run_sync(listener, lambda: queue.stats().ready == 6, server)
    assert listener.stats.dead_connections == 1 and listener.stats.errors == 0
    assert server.last_event_ids[:2] == [None, "2"]


def test_frame_watchdog_for_transports_that_cannot_time_out(queue: SQLiteQueue) -> None:
    server = FakeEventServer.with_messages(3, [Step(count=1, then="hang"), Step(then="hang")])
    listener = SSEListener(sync_client(server), queue, frame_timeout=0.2, **FAST)
    run_sync(listener, lambda: queue.stats().ready == 3, server)
    assert listener.stats.dead_connections >= 1
    assert server.last_event_ids[1] == "1"


async def test_async_frame_watchdog(queue: SQLiteQueue) -> None:
    server = FakeEventServer.with_messages(3, [Step(count=1, then="hang"), Step(then="hang")])
    listener = AsyncSSEListener(async_client(server), queue, frame_timeout=0.2, **FAST)
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop))
    deadline = time.monotonic() + 10
    while queue.stats().ready < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 10)
    server.released.set()
    assert queue.stats().ready == 3 and listener.stats.dead_connections >= 1


def test_server_errors_back_off_and_retry(queue: SQLiteQueue) -> None:
    server = FakeEventServer.with_messages(2, [Step(status=503), Step(status=429), Step(then="hang")])
    listener = SSEListener(sync_client(server), queue, **FAST)
    run_sync(listener, lambda: queue.stats().ready == 2, server)
    assert listener.stats.errors == 2


@pytest.mark.parametrize("status", [401, 404])
def test_fatal_statuses_are_raised_not_retried(queue: SQLiteQueue, status: int) -> None:
    server = FakeEventServer.with_messages(2, [Step(status=status)])
    listener = SSEListener(sync_client(server), queue, **FAST)
    with pytest.raises(AuthenticationError if status == 401 else Exception) as info:
        listener.run(threading.Event())
    assert getattr(info.value, "status_code", None) == status
    assert len(server.last_event_ids) == 1


async def test_async_fatal_status_is_raised(queue: SQLiteQueue) -> None:
    server = FakeEventServer.with_messages(2, [Step(status=401)])
    with pytest.raises(AuthenticationError):
        await AsyncSSEListener(async_client(server), queue, **FAST).run()


def test_filters_are_sent_and_unusable_frames_skipped(queue: SQLiteQueue) -> None:
    seen: list[httpx.Request] = []
    server = FakeEventServer.with_messages(2, [Step(then="hang")])
    server.log.insert(1, {"event": "message.received", "timestamp": "t", "data": {"no": "message id"}})

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return server.sync_handler(request)

    client = MailClient(
        api_key="rm_test",
        base_url="http://127.0.0.1:1/v1",
        max_retries=0,
        transport=httpx.MockTransport(handler),
    )
    listener = SSEListener(client, queue, mailbox_id="mbx_1", events=["message.received"], **FAST)
    run_sync(listener, lambda: listener.last_event_id == "3", server)
    assert seen[0].url.params["mailboxId"] == "mbx_1" and seen[0].url.params["events"] == "message.received"
    assert message_ids(queue) == ["m1", "m2"]
    assert listener.stats.invalid == 1


def test_stop_returns_promptly_while_the_stream_is_silent(queue: SQLiteQueue) -> None:
    server = FakeEventServer.with_messages(0, [Step(then="hang")])
    listener = SSEListener(sync_client(server), queue, **FAST)
    stop = threading.Event()
    thread = threading.Thread(target=listener.run, args=(stop,), daemon=True)
    thread.start()
    wait_for(lambda: listener.stats.connections == 1)
    started = time.monotonic()
    stop.set()
    thread.join(timeout=5)
    server.released.set()
    assert not thread.is_alive() and time.monotonic() - started < 5


def test_state_writes_are_throttled_during_a_burst_and_final_on_stop(
    queue: SQLiteQueue, tmp_path: Path, monkeypatch
) -> None:
    from agentmail_tools.inbound import _resume

    writes: list[dict] = []
    real_save = _resume.JsonState.save

    def counting(self, data):  # type: ignore[no-untyped-def]
        writes.append(dict(data))
        real_save(self, data)

    monkeypatch.setattr(_resume.JsonState, "save", counting)
    server = FakeEventServer.with_messages(50, [Step(then="hang")])
    listener = SSEListener(
        sync_client(server), queue, state_path=tmp_path / "s.json", state_interval=60, **FAST
    )
    run_sync(listener, lambda: queue.stats().ready == 50, server)
    assert 1 <= len(writes) <= 2 and writes[-1]["last_event_id"] == "50"  # not one per event
    assert json.loads((tmp_path / "s.json").read_text())["last_event_id"] == "50"


def test_a_replayed_burst_is_written_in_few_transactions(queue: SQLiteQueue) -> None:
    calls: list[int] = []
    real = queue.put_many

    def counting(events):  # type: ignore[no-untyped-def]
        calls.append(len(events))
        return real(events)

    queue.put_many = counting  # type: ignore[method-assign]
    server = FakeEventServer.with_messages(300, [Step(then="hang")])
    listener = SSEListener(sync_client(server), queue, **FAST)
    run_sync(listener, lambda: queue.stats().ready == 300, server)
    assert sum(calls) == 300 and len(calls) < 300
    assert message_ids(queue) == [f"m{i}" for i in range(1, 301)]


def test_a_failing_callback_does_not_drop_the_stream(queue: SQLiteQueue) -> None:
    def explode(event, fresh):  # type: ignore[no-untyped-def]
        raise RuntimeError("display broke")

    server = FakeEventServer.with_messages(3, [Step(then="hang")])
    listener = SSEListener(sync_client(server), queue, on_event=explode, **FAST)
    run_sync(listener, lambda: queue.stats().ready == 3, server)
    assert listener.stats.errors == 0 and listener.stats.connections == 1


def test_an_unusable_saved_id_is_raised_not_retried_forever(queue: SQLiteQueue, tmp_path: Path) -> None:
    from agentmail_tools._errors import InvalidRequestError

    state = tmp_path / "s.json"
    state.write_text(json.dumps({"last_event_id": "bad\nid"}))
    server = FakeEventServer.with_messages(1, [Step(then="hang")])
    with pytest.raises(InvalidRequestError):
        SSEListener(sync_client(server), queue, state_path=state, **FAST).run(threading.Event())
    server.released.set()


async def test_async_replayed_burst_is_batched_too(queue: SQLiteQueue) -> None:
    calls: list[int] = []
    real = queue.put_many

    def counting(events):  # type: ignore[no-untyped-def]
        calls.append(len(events))
        return real(events)

    queue.put_many = counting  # type: ignore[method-assign]
    server = FakeEventServer.with_messages(200, [Step(then="hang")])
    listener = AsyncSSEListener(async_client(server), queue, **FAST)
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop))
    deadline = time.monotonic() + 10
    while queue.stats().ready < 200 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 10)
    server.released.set()
    assert message_ids(queue) == [f"m{i}" for i in range(1, 201)]
    assert sum(calls) == 200 and len(calls) < 200
