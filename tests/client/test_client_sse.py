"""The SSE parser on real-stream edge cases (fed byte by byte and in odd chunks) and
``events.stream`` through the client, sync and async."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _client_support import FakeAPI, Reply, collect, component, received_data, resolve
from hypothesis import given, settings
from hypothesis import strategies as st

import agentmail_tools as am
from agentmail_tools._sse import ServerSentEvent, SSEDecoder, iter_sse, to_stream_event


def chunkings(data: bytes) -> Iterator[list[bytes]]:
    """The same stream whole, byte by byte, and in chunks of 2, 3 and 7 bytes."""
    yield [data]
    yield [data[i : i + 1] for i in range(len(data))]
    for size in (2, 3, 7):
        yield [data[i : i + size] for i in range(0, len(data), size)]


def parse_all(data: bytes, **kwargs: Any) -> list[list[ServerSentEvent]]:
    return [list(iter_sse(chunks, SSEDecoder(**kwargs))) for chunks in chunkings(data)]


def parse(data: bytes, **kwargs: Any) -> list[ServerSentEvent]:
    results = parse_all(data, **kwargs)
    for other in results[1:]:
        assert other == results[0], "chunking changed the result"
    return results[0]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_line_endings(eol: bytes) -> None:
    data = eol.join([b"id: 1", b"event: message.received", b'data: {"a": 1}', b"", b""])
    assert parse(data) == [ServerSentEvent(event="message.received", data='{"a": 1}', id="1")]


def test_mixed_line_endings_and_crlf_split_across_chunks() -> None:
    data = b"data: a\r\n\r\ndata: b\n\ndata: c\r\rdata: d\r\n\n"
    assert [e.data for e in parse(data)] == ["a", "b", "c", "d"]
    # CR at the end of one chunk, LF at the start of the next: one line break, not two.
    events = list(iter_sse([b"data: x\r", b"\ndata: y\r", b"\n\r", b"\n"]))
    assert [e.data for e in events] == ["x\ny"]


def test_multi_line_data_is_joined_with_newline() -> None:
    data = b"data: line one\ndata: line two\ndata:\ndata:  indented\n\n"
    assert parse(data)[0].data == "line one\nline two\n\n indented"


def test_comments_and_heartbeats_are_ignored() -> None:
    data = b": heartbeat\n\n:another\ndata: x\n: in the middle\n\n: heartbeat\n\n"
    assert [e.data for e in parse(data)] == ["x"]


def test_default_event_name_is_message() -> None:
    data = b"data: plain\n\nevent: custom\ndata: named\n\ndata: plain again\n\n"
    assert [(e.event, e.data) for e in parse(data)] == [
        ("message", "plain"),
        ("custom", "named"),
        ("message", "plain again"),
    ]


def test_id_carries_over_until_changed() -> None:
    data = b"id: 7\ndata: a\n\ndata: b\n\nid: 9\ndata: c\n\nid\ndata: d\n\n"
    assert [(e.id, e.data) for e in parse(data)] == [("7", "a"), ("7", "b"), ("9", "c"), (None, "d")]


def test_id_with_nul_is_ignored_and_retry_parsed() -> None:
    data = b"id: 1\ndata: a\n\nid: 2\x003\nretry: 1500\ndata: b\n\nretry: soon\ndata: c\n\n"
    events = parse(data)
    assert [(e.id, e.retry) for e in events] == [("1", None), ("1", 1500), ("1", None)]


def test_incomplete_trailing_event_is_dropped() -> None:
    assert [e.data for e in parse(b"data: complete\n\ndata: incomplete\n")] == ["complete"]
    assert [e.data for e in parse(b"data: complete\n\ndata: no newline at all")] == ["complete"]
    # its id must not become the resume point: resuming from it would skip the lost event
    decoder = SSEDecoder()
    assert [e.id for e in iter_sse([b"id: 1\ndata: a\n\nid: 2\ndata: b\n"], decoder)] == ["1"]
    assert decoder.last_event_id == "1"


def test_event_without_data_is_not_dispatched() -> None:
    assert parse(b"event: ping\n\nid: 4\n\n") == []
    # ...but the id it carried still counts for the next one
    assert parse(b"id: 4\n\ndata: x\n\n")[0].id == "4"


def test_field_parsing_details() -> None:
    data = b"data:no space\n\ndata:  two spaces\n\ndata\n\nunknown: field\ndata: x\n\n"
    assert [e.data for e in parse(data)] == ["no space", " two spaces", "", "x"]


def test_utf8_split_across_chunks_and_bom() -> None:
    text = "data: caf\u00e9 \u2603 \U0001f600\n\n".encode()
    assert parse(b"\xef\xbb\xbf" + text)[0].data == "caf\u00e9 \u2603 \U0001f600"
    assert parse(text)[0].data == "caf\u00e9 \u2603 \U0001f600"


def test_oversized_event_is_skipped_and_the_stream_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    cap = 1024
    big = (
        b"id: 1\ndata: small\n\nid: 2\ndata: " + b"x" * (cap + 10) + b"\ndata: more\n\nid: 3\ndata: after\n\n"
    )
    for chunks in chunkings(big):
        decoder = SSEDecoder(max_event_bytes=cap)
        with caplog.at_level(logging.WARNING, logger="agentmail_tools"):
            events = list(iter_sse(chunks, decoder))
        assert [(e.id, e.data) for e in events] == [("1", "small"), ("3", "after")]
        assert decoder.dropped == 1
        assert len(decoder._line) <= cap  # memory stayed bounded
    assert "larger than 1024 bytes" in caplog.text


def test_many_lines_adding_up_past_the_cap_are_skipped() -> None:
    lines = b"".join(b"data: " + b"y" * 100 + b"\n" for _ in range(20))
    events = parse(lines + b"\ndata: ok\n\n", max_event_bytes=1000)
    assert [e.data for e in events] == ["ok"]


def test_default_cap_is_one_megabyte() -> None:
    assert SSEDecoder().max_event_bytes == 1024 * 1024
    just_under = b"data: " + b"z" * (1024 * 1024 - 100) + b"\n\n"
    assert len(list(iter_sse([just_under]))[0].data) == 1024 * 1024 - 100


def test_to_stream_event_types_the_envelope() -> None:
    envelope = {"event": "message.received", "timestamp": "2026-03-01T12:00:00Z", "data": received_data()}
    assert not list(component("EventEnvelope").iter_errors(envelope))
    assert not list(component("MessageReceivedData").iter_errors(envelope["data"]))
    event = to_stream_event(ServerSentEvent(event="message.received", data=json.dumps(envelope), id="42"))
    assert event.id == "42" and event.event == "message.received"
    data = event.data.message_received()
    assert isinstance(data, am.MessageReceivedData)
    assert data.from_ == "ann@example.com" and data.attachments[0].size_bytes == 3
    assert data.model_dump(by_alias=True)["from"] == "ann@example.com"


def test_to_stream_event_reconnect_and_garbage() -> None:
    reconnect = to_stream_event(ServerSentEvent(event="reconnect", data="{}"))
    assert (
        reconnect.event == "reconnect" and reconnect.data.event == "reconnect" and reconnect.data.data == {}
    )
    garbage = to_stream_event(ServerSentEvent(event="message", data="not json", id="5"))
    assert garbage.data.event == "message" and garbage.raw == "not json" and garbage.id == "5"
    with pytest.raises(ValueError, match="not 'message.received'"):
        reconnect.data.message_received()


# --------------------------------------------------------------------------- through the client


def _frame(event_id: str, event: str, data: dict[str, Any]) -> bytes:
    envelope = {"event": event, "timestamp": "2026-03-01T12:00:00Z", "data": data}
    return f"id: {event_id}\r\nevent: {event}\r\ndata: {json.dumps(envelope)}\r\n\r\n".encode()


STREAM = (
    b": heartbeat\n\n"
    + _frame("101", "message.received", received_data())
    + _frame("102", "message.sent", {"message_id": "msg_9", "mailbox_id": "mb_1"})
    + b"event: reconnect\ndata: {}\n\n"
    + b'id: 103\ndata: {"event": "message.recei'  # cut off: dropped
)


def _chunks(data: bytes, size: int = 5) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def test_stream_through_the_client(fake: FakeAPI, make_client: Any, kind: str) -> None:
    fake.add("GET", "/events", Reply(stream=_chunks(STREAM)))
    client = make_client()
    stream = client.events.stream(
        mailbox_id="mb_1", events=["message.received", "message.sent"], last_event_id="100"
    )
    events = await collect(stream)
    assert [(e.id, e.event) for e in events] == [
        ("101", "message.received"),
        ("102", "message.sent"),
        ("102", "reconnect"),
    ]
    assert events[0].data.message_received().subject == "Where is my order?"
    assert stream.last_event_id == "102"
    request = fake.last
    assert request.url.params["mailboxId"] == "mb_1"
    assert request.url.params["events"] == "message.received,message.sent"
    assert request.headers["last-event-id"] == "100"
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["accept-encoding"] == "identity"
    assert request.headers["authorization"] == "Bearer rm_test_key"
    assert request.extensions["timeout"]["read"] == 90.0


def test_sync_stream_as_context_manager(fake: FakeAPI) -> None:
    fake.add("GET", "/events", Reply(stream=_chunks(STREAM, 1)))
    with am.MailClient("rm_x", transport=fake.transport) as client:
        with client.events.stream() as stream:
            assert stream.response is not None and stream.response.status_code == 200
            first = next(iter(stream))
        assert first.id == "101"
        with pytest.raises(am.InvalidRequestError, match="closed"):
            list(stream)
    assert "last-event-id" not in fake.last.headers
    assert "mailboxId" not in fake.last.url.params


async def test_async_stream_as_context_manager(fake: FakeAPI) -> None:
    fake.add("GET", "/events", Reply(stream=_chunks(STREAM, 3)))
    async with am.AsyncMailClient("rm_x", transport=fake.transport) as client:
        async with client.events.stream(read_timeout=5) as stream:
            ids = [event.id async for event in stream]
    assert ids == ["101", "102", "102"]
    assert fake.last.extensions["timeout"]["read"] == 5.0


async def test_stream_error_status_is_mapped_and_retried(fake: FakeAPI, make_client: Any) -> None:
    fake.add("GET", "/events", Reply(429, json={"error": "Too many streams"}))
    client = make_client(max_retries=1)
    with pytest.raises(am.RateLimitError):
        await collect(client.events.stream())
    assert len(fake.requests) == 2


async def test_silent_stream_times_out(fake: FakeAPI, make_client: Any) -> None:
    fake.add(
        "GET", "/events", Reply(stream=[_frame("1", "message.sent", {})], error=httpx.ReadTimeout("silence"))
    )
    client = make_client()
    stream = client.events.stream(last_event_id="0")
    seen: list[str | None] = []
    with pytest.raises(am.MailTimeoutError):
        if hasattr(stream, "__aiter__"):
            async for event in stream:
                seen.append(event.id)
        else:
            for event in stream:
                seen.append(event.id)
    assert seen == ["1"] and stream.last_event_id == "1"


async def test_dropped_stream_is_a_connection_error(fake: FakeAPI, make_client: Any) -> None:
    fake.add(
        "GET", "/events", Reply(stream=[b"data: {}\n\n"], error=httpx.RemoteProtocolError("peer closed"))
    )
    client = make_client()
    with pytest.raises(am.MailConnectionError) as info:
        await collect(client.events.stream())
    assert not isinstance(info.value, am.AmbiguousSendError)


async def test_stream_size_cap_through_the_client(fake: FakeAPI, make_client: Any) -> None:
    big = b"id: 1\ndata: " + b"q" * 5000 + b"\n\n" + _frame("2", "message.sent", {})
    fake.add("GET", "/events", Reply(stream=_chunks(big, 512)))
    client = make_client()
    stream = client.events.stream(max_event_bytes=1000)
    events = await collect(stream)
    assert [e.id for e in events] == ["2"] and stream.dropped == 1


async def test_stream_invalid_read_timeout(make_client: Any) -> None:
    with pytest.raises(am.InvalidRequestError, match="read_timeout"):
        await resolve(make_client().events.stream(read_timeout=0))


async def test_non_event_stream_answer_is_an_error(fake: FakeAPI, make_client: Any) -> None:
    fake.add(
        "GET", "/events", Reply(200, content=b"<html>login</html>", headers={"content-type": "text/html"})
    )
    with pytest.raises(am.APIStatusError, match="not an event stream"):
        await collect(make_client().events.stream())


_frames = st.lists(
    st.tuples(
        st.one_of(st.none(), st.text(alphabet="abc123.-", min_size=1, max_size=5)),  # id
        st.one_of(st.none(), st.sampled_from(["message.received", "reconnect", "x"])),  # event
        st.lists(
            st.text(
                alphabet=st.characters(exclude_characters="\r\n\x00", exclude_categories=("Cs",)),
                max_size=20,
            ),
            min_size=1,
            max_size=3,
        ),
    ),
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(
    frames=_frames, eol=st.sampled_from(["\n", "\r\n", "\r"]), cuts=st.lists(st.integers(0, 400), max_size=12)
)
def test_property_any_chunking_gives_the_same_events(frames: Any, eol: str, cuts: list[int]) -> None:
    text = ""
    expected = []
    last_id = None
    for frame_id, event, data in frames:
        text += ": comment" + eol
        if frame_id is not None:
            text += f"id: {frame_id}{eol}"
            last_id = frame_id
        if event is not None:
            text += f"event: {event}{eol}"
        text += "".join(f"data: {line}{eol}" for line in data) + eol
        expected.append(ServerSentEvent(event=event or "message", data="\n".join(data), id=last_id))
    raw = text.encode()
    points = sorted({min(c, len(raw)) for c in cuts} | {0, len(raw)})
    chunks = [raw[a:b] for a, b in zip(points, points[1:], strict=False)]
    assert list(iter_sse(chunks)) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20))
def test_property_garbage_never_crashes(chunks: list[bytes]) -> None:
    decoder = SSEDecoder(max_event_bytes=256)
    for event in iter_sse(chunks, decoder):
        assert len(event.data) <= 256  # one character at most per byte received
