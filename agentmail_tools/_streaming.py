"""The open ``GET /events`` stream, sync and async: connect, parse, type, close."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from ._base import Operation
from ._errors import InvalidRequestError
from ._models import StreamEvent
from ._sse import SSEDecoder, to_stream_event

if TYPE_CHECKING:
    from ._client import AsyncMailClient, MailClient

__all__ = ["AsyncEventStream", "EventStream"]


class EventStream:
    """An open ``GET /events`` stream: iterate it for :class:`StreamEvent`; close it when done.

    The connection opens on ``with`` or on the first iteration. ``last_event_id`` is the id to
    resume from after a disconnect. A stream that goes silent longer than the read timeout
    (heartbeats come every 30 s) raises :class:`MailTimeoutError`; the server's
    ``event: reconnect`` frame is yielded like any other event, then the stream ends.
    """

    def __init__(
        self, client: MailClient, op: Operation[Any], *, last_event_id: str | None, max_event_bytes: int
    ) -> None:
        self._client = client
        self._op = op
        self._decoder = SSEDecoder(max_event_bytes)
        self._decoder.last_event_id = last_event_id
        self._response: httpx.Response | None = None
        self._closed = False

    @property
    def last_event_id(self) -> str | None:
        """The id of the last event received (or the one passed in), to resume from."""
        return self._decoder.last_event_id

    @property
    def dropped(self) -> int:
        """How many events were skipped for exceeding the size cap."""
        return self._decoder.dropped

    @property
    def response(self) -> httpx.Response | None:
        """The HTTP response once connected (status, headers)."""
        return self._response

    def _connect(self) -> httpx.Response:
        if self._closed:
            msg = "this event stream is closed; open a new one with events.stream(last_event_id=...)"
            raise InvalidRequestError(msg)
        if self._response is None:
            self._response = self._client._open_stream(self._op)
        return self._response

    def __enter__(self) -> EventStream:
        self._connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[StreamEvent]:
        response = self._connect()
        try:
            for chunk in response.iter_bytes():
                for sse in self._decoder.feed(chunk):
                    yield to_stream_event(sse)
            self._decoder.close()
        except httpx.TransportError as exc:
            raise self._client._transport_error(self._op, exc) from exc
        finally:
            self.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._closed = True
        if self._response is not None:
            self._response.close()


class AsyncEventStream:
    """Async twin of :class:`EventStream` (``async with`` / ``async for``)."""

    def __init__(
        self, client: AsyncMailClient, op: Operation[Any], *, last_event_id: str | None, max_event_bytes: int
    ) -> None:
        self._client = client
        self._op = op
        self._decoder = SSEDecoder(max_event_bytes)
        self._decoder.last_event_id = last_event_id
        self._response: httpx.Response | None = None
        self._closed = False

    @property
    def last_event_id(self) -> str | None:
        """The id of the last event received (or the one passed in), to resume from."""
        return self._decoder.last_event_id

    @property
    def dropped(self) -> int:
        """How many events were skipped for exceeding the size cap."""
        return self._decoder.dropped

    @property
    def response(self) -> httpx.Response | None:
        """The HTTP response once connected (status, headers)."""
        return self._response

    async def _connect(self) -> httpx.Response:
        if self._closed:
            msg = "this event stream is closed; open a new one with events.stream(last_event_id=...)"
            raise InvalidRequestError(msg)
        if self._response is None:
            self._response = await self._client._open_stream(self._op)
        return self._response

    async def __aenter__(self) -> AsyncEventStream:
        await self._connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def __aiter__(self) -> AsyncIterator[StreamEvent]:
        response = await self._connect()
        try:
            async for chunk in response.aiter_bytes():
                for sse in self._decoder.feed(chunk):
                    yield to_stream_event(sse)
            self._decoder.close()
        except httpx.TransportError as exc:
            raise self._client._transport_error(self._op, exc) from exc
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Close the connection (idempotent)."""
        self._closed = True
        if self._response is not None:
            await self._response.aclose()
