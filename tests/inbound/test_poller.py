"""Poller (sync and async): cursor with boundary ids, no duplicates across restarts, adaptive interval.

A MockTransport plays the message list (``since`` inclusive, newest first, limit/offset), so
the awkward cases are exact: equal timestamps at the boundary, a message committed late with
an earlier timestamp, pages shifting while we read them.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from _waiting import wait_for

from agentmail_tools import AsyncMailClient, MailClient
from agentmail_tools.inbound import AsyncPoller, Poller, SQLiteQueue

T0 = datetime(2026, 11, 25, 0, 0, 0, tzinfo=UTC)


class FakeMailbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.requests: list[httpx.Request] = []
        self.fail_next: int | None = None

    def add(self, mid: str, at: datetime, *, direction: str = "INBOUND") -> None:
        self.messages.append(
            {
                "id": mid,
                "mailboxId": "mbx_1",
                "direction": direction,
                "messageId": f"<{mid}@example.com>",
                "inReplyTo": None,
                "threadId": "thr_1",
                "fromAddress": "ann@example.com",
                "toAddresses": ["agent@sandbox.robotomail.test"],
                "ccAddresses": [],
                "bccAddresses": [],
                "subject": f"about {mid}",
                "bodyText": "hello",
                "bodyHtml": None,
                "headers": {},
                "status": "RECEIVED",
                "createdAt": at.isoformat().replace("+00:00", "Z"),
            }
        )

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail_next is not None:
            status, self.fail_next = self.fail_next, None
            return httpx.Response(status, json={"error": "nope"})
        params = request.url.params
        items = [m for m in self.messages if m["direction"] == params.get("direction", m["direction"])]
        if "since" in params:
            since = datetime.fromisoformat(params["since"].replace("Z", "+00:00"))
            items = [
                m for m in items if datetime.fromisoformat(m["createdAt"].replace("Z", "+00:00")) >= since
            ]
        items.sort(key=lambda m: (m["createdAt"], m["id"]), reverse=True)
        offset, limit = int(params.get("offset", 0)), int(params.get("limit", 50))
        return httpx.Response(200, json={"messages": items[offset : offset + limit], "metadata": {}})

    async def async_handler(self, request: httpx.Request) -> httpx.Response:
        return self.handler(request)


@pytest.fixture
def box() -> FakeMailbox:
    return FakeMailbox()


def client_for(box: FakeMailbox) -> MailClient:
    return MailClient(
        api_key="rm_t",
        base_url="http://127.0.0.1:1/v1",
        max_retries=0,
        transport=httpx.MockTransport(box.handler),
    )


def ids(queue: SQLiteQueue) -> list[str | None]:
    return [item.event.message_id for item in queue.list(limit=10_000)]


def test_first_poll_enqueues_inbound_oldest_first_and_skips_outbound(
    box: FakeMailbox, queue: SQLiteQueue
) -> None:
    box.add("b", T0 + timedelta(seconds=2))
    box.add("a", T0 + timedelta(seconds=1))
    box.add("out", T0 + timedelta(seconds=3), direction="OUTBOUND")
    poller = Poller(client_for(box), queue, "mbx_1")
    assert poller.poll_once() == 2
    assert ids(queue) == ["a", "b"]
    event = queue.list()[0].event
    assert event.event == "message.received" and event.source == "poll"
    assert event.event_id == "message.received:mbx_1:a" and event.payload["subject"] == "about a"
    assert box.requests[0].url.params["direction"] == "INBOUND"
    assert poller.poll_once() == 0


def test_boundary_ties_and_late_commits_are_neither_lost_nor_doubled(
    box: FakeMailbox, queue: SQLiteQueue
) -> None:
    box.add("a", T0)
    poller = Poller(client_for(box), queue, "mbx_1", overlap=5)
    assert poller.poll_once() == 1
    box.add("b", T0)  # same timestamp as the cursor
    box.add("late", T0 - timedelta(seconds=2))  # committed after we listed, stamped before
    box.add("c", T0 + timedelta(seconds=1))
    assert poller.poll_once() == 3
    assert poller.poll_once() == 0
    assert sorted(ids(queue)) == ["a", "b", "c", "late"]
    since = datetime.fromisoformat(box.requests[-1].url.params["since"].replace("Z", "+00:00"))
    assert since == T0 + timedelta(seconds=1) - timedelta(seconds=5)


def test_paging_reads_everything_even_when_pages_are_full(box: FakeMailbox, queue: SQLiteQueue) -> None:
    for i in range(23):
        box.add(f"m{i:02d}", T0 + timedelta(seconds=i))
    poller = Poller(client_for(box), queue, "mbx_1", page_size=5)
    assert poller.poll_once() == 23
    assert ids(queue) == [f"m{i:02d}" for i in range(23)]
    assert [r.url.params["offset"] for r in box.requests] == ["0", "5", "10", "15", "20"]


def test_no_duplicates_across_restarts(box: FakeMailbox, queue_factory, tmp_path: Path) -> None:
    cursor = tmp_path / "cursor.json"
    box.add("a", T0)
    box.add("b", T0)
    first_queue = queue_factory("q.db")
    assert Poller(client_for(box), first_queue, "mbx_1", cursor).poll_once() == 2
    saved = json.loads(cursor.read_text())
    assert datetime.fromisoformat(saved["cursor"]) == T0 and set(saved["seen"]) == {"a", "b"}
    first_queue.close()

    box.add("c", T0)
    # A brand-new queue (say, the old file was lost): the cursor alone must prevent doubles.
    fresh_queue = queue_factory("other.db")
    restarted = Poller(client_for(box), fresh_queue, "mbx_1", cursor)
    assert restarted.poll_once() == 1
    assert ids(fresh_queue) == ["c"]


def test_start_now_ignores_older_mail(box: FakeMailbox, queue: SQLiteQueue) -> None:
    box.add("old", datetime.now(UTC) - timedelta(days=1))
    poller = Poller(client_for(box), queue, "mbx_1", start="now")
    assert poller.poll_once() == 0
    box.add("new", datetime.now(UTC) + timedelta(seconds=1))
    assert poller.poll_once() == 1 and ids(queue) == ["new"]
    explicit = Poller(client_for(box), queue, "mbx_1", start=datetime.now(UTC) - timedelta(days=2))
    assert explicit.poll_once() == 1  # "old"; "new" is already in the queue


def test_interval_adapts_to_traffic_and_backs_off_on_errors(box: FakeMailbox, queue: SQLiteQueue) -> None:
    poller = Poller(client_for(box), queue, "mbx_1", min_interval=1, max_interval=10)
    quiet = [poller._next_interval(0, None) for _ in range(8)]
    assert quiet[0] == 1.5 and quiet == sorted(quiet) and quiet[-1] == 10
    assert poller._next_interval(3, None) == 1
    from agentmail_tools._errors import AuthenticationError, InternalServerError

    err = InternalServerError("boom", status_code=500)
    delays = [poller._next_interval(None, err) for _ in range(6)]
    assert all(0.5 <= d <= 10 for d in delays) and max(delays) > 2
    with pytest.raises(AuthenticationError):
        poller._next_interval(None, AuthenticationError("bad key", status_code=401))


def test_run_polls_until_stopped_and_survives_a_server_error(box: FakeMailbox, queue: SQLiteQueue) -> None:
    poller = Poller(client_for(box), queue, "mbx_1", min_interval=0.01, max_interval=0.05)
    box.fail_next = 503
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
    thread.start()
    box.add("a", T0)
    wait_for(lambda: queue.stats().ready >= 1, "the poller to enqueue the message", timeout=10)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive() and ids(queue) == ["a"]


def test_bad_arguments(box: FakeMailbox, queue: SQLiteQueue) -> None:
    with pytest.raises(ValueError):
        Poller(client_for(box), queue, "")
    with pytest.raises(ValueError):
        Poller(client_for(box), queue, "mbx_1", min_interval=5, max_interval=1)


async def test_async_poller_matches_the_sync_one(
    box: FakeMailbox, queue: SQLiteQueue, tmp_path: Path
) -> None:
    box.add("a", T0)
    box.add("b", T0 + timedelta(seconds=1))
    client = AsyncMailClient(
        api_key="rm_t",
        base_url="http://127.0.0.1:1/v1",
        max_retries=0,
        transport=httpx.MockTransport(box.async_handler),
    )
    poller = AsyncPoller(client, queue, "mbx_1", tmp_path / "c.json")
    assert await poller.poll_once() == 2
    box.add("c", T0 + timedelta(seconds=1))
    assert await poller.poll_once() == 1
    assert await poller.poll_once() == 0
    assert ids(queue) == ["a", "b", "c"]
    await client.close()
