"""The event log and SSE: replay with Last-Event-ID, filters, heartbeats, reconnect, resume."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from agentmail_tools import RateLimitError
from agentmail_tools.sandbox import Sandbox, SandboxLimits


def read_frames(response: httpx.Response, until: str, deadline: float = 10.0) -> list[str]:
    """Collect raw SSE blocks until one contains ``until`` (bounded by ``deadline`` seconds)."""
    blocks: list[str] = []
    buffer = ""
    stop_at = time.monotonic() + deadline
    for chunk in response.iter_text():
        buffer += chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            blocks.append(block)
            if until in block:
                return blocks
        assert time.monotonic() < stop_at, f"no {until!r} within {deadline}s; got {blocks}"
    return blocks


def take(stream, n: int) -> list:
    it = iter(stream)
    return [next(it) for _ in range(n)]


def test_replay_and_filters(client, sandbox):
    a = client.mailboxes.create("ev-a")
    b = client.mailboxes.create("ev-b")
    sandbox.inject({"from": "x@example.com", "to": a.full_address, "subject": "for a", "bodyText": "1"})
    client.messages.send(b.id, to="y@example.com", subject="from b", body_text="2")
    with client.events.stream(last_event_id="0") as stream:
        got = take(stream, 3)
    assert [e.event for e in got] == ["message.received", "message.sent", "message.delivered"]
    assert [int(e.id) for e in got] == [1, 2, 3]
    received = got[0].data
    assert received.event == "message.received"
    assert received.data["subject"] == "for a" and received.data["mailbox_id"] == a.id
    assert received.data["from"] == "x@example.com" and received.data["mailbox_address"] == a.full_address
    with client.events.stream(last_event_id="0", mailbox_id=b.id, events=["message.delivered"]) as stream:
        (only,) = take(stream, 1)
    assert only.event == "message.delivered" and only.data.data["mailbox_id"] == b.id


def test_live_events_arrive_after_connect(client, sandbox):
    mb = client.mailboxes.create("live")
    sandbox.inject({"from": "x@example.com", "to": mb.full_address, "subject": "before", "bodyText": "old"})
    with client.events.stream() as stream:  # no Last-Event-ID: only new events
        timer = threading.Timer(
            0.1, lambda: sandbox.inject({"from": "x@example.com", "to": mb.full_address, "subject": "after",
                                         "bodyText": "new"})
        )  # fmt: skip
        timer.start()
        (event,) = take(stream, 1)
        timer.join()
    assert event.data.data["subject"] == "after"


def test_heartbeat_and_reconnect_frames():
    limits = SandboxLimits(sse_heartbeat_seconds=0.05, sse_reconnect_seconds=0.4)
    with (
        Sandbox(limits=limits) as sb,
        httpx.Client(transport=sb.transport(), base_url="http://localhost") as http,
    ):
        headers = {"Authorization": f"Bearer {sb.api_key}", "Accept": "text/event-stream"}
        with http.stream("GET", "/v1/events", headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            blocks = read_frames(response, "event: reconnect")
    assert ": heartbeat" in blocks
    assert blocks[-1] == "event: reconnect\ndata: {}"


def test_bad_last_event_id_and_bad_filter_are_400(sandbox):
    with httpx.Client(transport=sandbox.transport(), base_url="http://localhost") as http:
        headers = {"Authorization": f"Bearer {sandbox.api_key}"}
        assert http.get("/v1/events", headers={**headers, "Last-Event-ID": "abc"}).status_code == 400
        assert http.get("/v1/events?events=message.nope", headers=headers).status_code == 400
        assert http.get("/v1/events?mailboxId=missing", headers=headers).status_code == 404


def test_sixth_concurrent_stream_is_429():
    with Sandbox(limits=SandboxLimits(max_event_streams=2)) as sb, sb.client(max_retries=0) as client:
        with client.events.stream() as s1, client.events.stream() as s2:
            assert s1 is not s2
            deadline = time.monotonic() + 5
            while sb.service.hub.subscribers < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            with pytest.raises(RateLimitError), client.events.stream() as s3:
                take(s3, 1)
        deadline = time.monotonic() + 5
        while sb.service.hub.subscribers and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sb.service.hub.subscribers == 0  # closed streams free their slot


def test_resume_after_dropped_connection_in_process(client, sandbox):
    mb = client.mailboxes.create("resume")

    def inject(n: int) -> None:
        sandbox.inject({"from": "x@example.com", "to": mb.full_address, "subject": f"m{n}", "bodyText": "b"})

    for n in range(3):
        inject(n)
    seen: list[str] = []
    with client.events.stream(last_event_id="0") as stream:
        it = iter(stream)
        seen += [next(it).data.data["subject"] for _ in range(2)]
        last = stream.last_event_id
    for n in range(3, 5):  # while disconnected
        inject(n)
    with client.events.stream(last_event_id=last) as stream:
        it = iter(stream)
        seen += [next(it).data.data["subject"] for _ in range(3)]
    assert seen == ["m0", "m1", "m2", "m3", "m4"]


@pytest.mark.integration
def test_resume_after_server_drop_over_http():
    """The server goes away mid-stream; the consumer resumes on a new server, losing nothing."""
    with Sandbox(limits=SandboxLimits(sse_heartbeat_seconds=0.2)) as sb:
        mb = sb.create_mailbox("drop")

        def inject(n: int) -> None:
            sb.inject({"from": "x@example.com", "to": mb["fullAddress"], "subject": f"m{n}", "bodyText": "b"})

        inject(0)
        inject(1)
        subjects: list[str] = []
        ids: list[str] = []
        server = sb.serve(smtp_port=None)
        with server.client(max_retries=0) as client:
            stream = client.events.stream(last_event_id="0")
            with stream:
                it = iter(stream)
                for _ in range(2):
                    event = next(it)
                    subjects.append(event.data.data["subject"])
                    ids.append(event.id)
                server.stop()  # drop the connection under the reader
                with pytest.raises(Exception):  # noqa: B017 - any transport error/end is a drop
                    for event in it:
                        subjects.append(event.data.data["subject"])
                        ids.append(event.id)
                    raise ConnectionError("stream ended")
        inject(2)
        inject(3)
        with sb.serve(smtp_port=None) as server2, server2.client() as client2:
            with client2.events.stream(last_event_id=ids[-1]) as stream:
                it = iter(stream)
                for _ in range(2):
                    event = next(it)
                    subjects.append(event.data.data["subject"])
                    ids.append(event.id)
        assert subjects == ["m0", "m1", "m2", "m3"]
        assert len(set(ids)) == len(ids)


async def test_async_stream_in_process(aclient, sandbox):
    mb = await aclient.mailboxes.create("astream")
    sandbox.inject({"from": "x@example.com", "to": mb.full_address, "subject": "async", "bodyText": "b"})
    async with aclient.events.stream(last_event_id="0") as stream:
        async for event in stream:
            assert event.data.data["subject"] == "async"
            break


def test_event_body_is_the_webhook_envelope(sandbox, client):
    mb = client.mailboxes.create("env")
    sandbox.inject({"from": "x@example.com", "to": mb.full_address, "subject": "s", "bodyText": "b"})
    rows = sandbox.service.log.read_after(0)
    envelope = json.loads(rows[0][2])
    assert set(envelope) == {"event", "timestamp", "data"}
    assert envelope["data"]["received_at"].endswith("Z")
