"""Server-sent events: an incremental, size-capped parser of the ``text/event-stream`` format.

Why our own parser rather than httpx-sse (0.4.3, which gets CRLF/LF, comments, multi-line
``data``, the default event name and the carried-over id right): it buffers a line and an
event's data without any bound, so a server (or a proxy) that never sends a newline grows
memory until the process dies; the stream must survive that with a 1 MB cap per event. It
also dispatches frames that carry only an ``id`` (the WHATWG algorithm drops those).
Working on bytes, not text, lets a UTF-8 character split across chunks decode correctly:
line breaks never occur inside a multi-byte sequence.

Semantics (WHATWG HTML, "event stream interpretation"): lines end with CRLF, LF or CR;
``:`` starts a comment; ``field: value`` (one leading space dropped); ``data`` lines are
joined with ``\\n``; a blank line dispatches; an event without ``data`` is not dispatched;
the event name defaults to ``message``; the last ``id`` carries over to later events and
becomes the resume point only once its frame is complete; a trailing event without its
blank line is dropped when the stream ends.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass

from pydantic import ValidationError

from ._models import EventEnvelope, StreamEvent

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "SSEDecoder",
    "ServerSentEvent",
    "aiter_sse",
    "iter_sse",
    "to_stream_event",
]

logger = logging.getLogger("agentmail_tools")

DEFAULT_MAX_EVENT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event.

    Attributes:
        event: the event name (``message`` when the frame named none).
        data: the ``data`` lines joined with ``\\n``.
        id: the last event id seen on the stream so far (None if never set).
        retry: the reconnection time in milliseconds, if this frame set one.
    """

    event: str
    data: str
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Feed bytes in any chunking; get complete events out.

    Args:
        max_event_bytes: the largest event (its data plus the line being read) kept in
            memory. A larger event is skipped whole (logged, counted in ``dropped``) and the
            stream goes on with the next one: raising would make a resuming client fetch
            the same oversized event again forever.
    """

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self.dropped = 0
        # The spec's "last event ID buffer" (set by an id line) and "last event ID string"
        # (committed only when a blank line ends the frame): an id inside a frame that never
        # completed must not become the resume point, or that event would be skipped.
        self._id_buffer: str | None = None
        self._last_event_id: str | None = None
        self._line = bytearray()
        self._skip_line = False  # discarding the rest of an oversized line
        self._after_cr = False  # the previous chunk ended with CR: a leading LF belongs to it
        self._started = False  # a leading BOM is stripped once
        self._event = ""
        self._data: list[str] = []
        self._data_bytes = 0
        self._retry: int | None = None
        self._oversized = False

    @property
    def last_event_id(self) -> str | None:
        """The id to resume from: the last id of a completed frame (or the one set here)."""
        return self._last_event_id

    @last_event_id.setter
    def last_event_id(self, value: str | None) -> None:
        self._last_event_id = self._id_buffer = value

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Consume ``chunk`` and return the events it completed."""
        events: list[ServerSentEvent] = []
        if not chunk:
            return events
        if not self._started:
            if len(self._line) + len(chunk) < 3 and b"\xef\xbb\xbf".startswith(bytes(self._line) + chunk):
                self._line += chunk  # might still become a BOM
                return events
            chunk = bytes(self._line) + chunk
            self._line.clear()
            self._started = True
            if chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]
        start = 0
        if self._after_cr and chunk[:1] == b"\n":
            start = 1
        self._after_cr = False
        n = len(chunk)
        while start < n:
            cr = chunk.find(b"\r", start)
            lf = chunk.find(b"\n", start)
            if cr == -1 and lf == -1:
                self._append(chunk[start:])
                break
            end = lf if cr == -1 else cr if lf == -1 else min(cr, lf)
            if self._line or self._skip_line:
                self._append(chunk[start:end])
                raw: bytes | None = None if self._skip_line else bytes(self._line)
                self._line.clear()
                self._skip_line = False
            elif end - start + self._data_bytes > self.max_event_bytes:
                self._overflow()
                self._skip_line = False  # this line is already complete
                raw = None
            else:
                raw = chunk[start:end]  # the common case: a whole line inside one chunk, no copy
            if raw is not None:
                event = self._process_line(raw)
                if event is not None:
                    events.append(event)
            if chunk[end : end + 1] == b"\r":
                if end + 1 == n:
                    self._after_cr = True
                elif chunk[end + 1 : end + 2] == b"\n":
                    end += 1
            start = end + 1
        return events

    def close(self) -> None:
        """End of stream: an unterminated line and an undispatched event are dropped."""
        self._line.clear()
        self._skip_line = False
        self._id_buffer = self._last_event_id
        self._reset_event()

    def _append(self, part: bytes) -> None:
        if self._skip_line or not part:
            return
        self._line += part
        if len(self._line) + self._data_bytes > self.max_event_bytes:
            self._overflow()

    def _overflow(self) -> None:
        self._line.clear()
        self._data = []  # the event is lost anyway: free its memory now
        self._skip_line = True
        self._oversized = True

    def _process_line(self, raw: bytes) -> ServerSentEvent | None:
        if not raw:
            return self._dispatch()
        line = raw.decode("utf-8", errors="replace")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._data_bytes += len(raw) + 1
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self._id_buffer = value or None
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        self._last_event_id = self._id_buffer
        try:
            if self._oversized:
                self.dropped += 1
                logger.warning(
                    "dropped a server-sent event larger than %d bytes (id after it: %s)",
                    self.max_event_bytes,
                    self.last_event_id,
                )
                return None
            if not self._data:
                return None
            return ServerSentEvent(
                event=self._event or "message",
                data="\n".join(self._data),
                id=self.last_event_id,
                retry=self._retry,
            )
        finally:
            self._reset_event()

    def _reset_event(self) -> None:
        self._event = ""
        self._data = []
        self._data_bytes = 0
        self._retry = None
        self._oversized = False


def iter_sse(chunks: Iterable[bytes], decoder: SSEDecoder | None = None) -> Iterator[ServerSentEvent]:
    """Yield the events of a byte stream (dropping an unterminated trailing event)."""
    decoder = decoder or SSEDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    decoder.close()


async def aiter_sse(
    chunks: AsyncIterable[bytes], decoder: SSEDecoder | None = None
) -> AsyncIterator[ServerSentEvent]:
    """Async twin of :func:`iter_sse`."""
    decoder = decoder or SSEDecoder()
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
    decoder.close()


def to_stream_event(sse: ServerSentEvent) -> StreamEvent:
    """Type one SSE frame: ``data`` is the JSON envelope ``{"event", "timestamp", "data"}``.

    Frames whose data is not an envelope (``event: reconnect`` / ``data: {}``, or non-JSON)
    still come through, with ``data.event`` set to the frame's event name and empty data.
    """
    envelope: EventEnvelope | None = None
    try:
        payload = json.loads(sse.data)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        if "event" in payload:
            try:
                envelope = EventEnvelope.model_validate(payload)
            except ValidationError:
                envelope = None
        if envelope is None:
            inner = payload.get("data")
            envelope = EventEnvelope(event=sse.event, data=inner if isinstance(inner, dict) else {})
    if envelope is None:
        envelope = EventEnvelope(event=sse.event)
    return StreamEvent(id=sse.id, event=sse.event, data=envelope, raw=sse.data)
