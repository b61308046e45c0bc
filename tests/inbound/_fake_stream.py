"""A scripted ``GET /events`` for unit tests: real MailClient, httpx.MockTransport, no socket.

Each connection follows the next step of a script (send N events then drop, then ask to
reconnect, fail with a status, go silent ...); the event log is replayed after the request's
``Last-Event-ID`` like the real service (optionally re-sending one already-sent event, as an
at-least-once server may).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx

from .conftest import envelope


@dataclass
class Step:
    count: int | None = None  # events to send (None: all remaining)
    then: str = "hang"  # "drop" | "reconnect" | "end" | "hang" | "timeout"
    status: int = 200
    replay_one: bool = False  # also re-send the event just before Last-Event-ID


@dataclass
class FakeEventServer:
    log: list[dict] = field(default_factory=list)
    script: list[Step] = field(default_factory=list)
    last_event_ids: list[str | None] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def with_messages(cls, n: int, script: list[Step]) -> FakeEventServer:
        return cls(log=[envelope(f"m{i}") for i in range(1, n + 1)], script=list(script))

    def _frames(self, request: httpx.Request) -> tuple[Step, list[bytes]]:
        last = request.headers.get("last-event-id")
        self.last_event_ids.append(last)
        step = self.script.pop(0) if self.script else Step(count=0, then="hang")
        start = int(last) if last else 0
        if step.replay_one and start > 0:
            start -= 1
        items = list(enumerate(self.log, start=1))[start:]
        if step.count is not None:
            items = items[: step.count]
        frames = [b": connected\n\n"]
        frames += [f"id: {i}\nevent: {e['event']}\ndata: {json.dumps(e)}\n\n".encode() for i, e in items]
        return step, frames

    def _error(self, step: Step) -> httpx.Response:
        return httpx.Response(step.status, json={"error": f"status {step.status}"})

    def sync_handler(self, request: httpx.Request) -> httpx.Response:
        step, frames = self._frames(request)
        if step.status != 200:
            return self._error(step)

        def body() -> Iterator[bytes]:
            yield from frames
            if step.then == "drop":
                raise httpx.ReadError("connection reset by peer")
            if step.then == "timeout":
                raise httpx.ReadTimeout("no heartbeat")
            if step.then == "reconnect":
                yield b"event: reconnect\ndata: {}\n\n"
            if step.then == "hang":
                self.released.wait(timeout=30)

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    async def async_handler(self, request: httpx.Request) -> httpx.Response:
        step, frames = self._frames(request)
        if step.status != 200:
            return self._error(step)

        async def body() -> AsyncIterator[bytes]:
            for frame in frames:
                yield frame
            if step.then == "drop":
                raise httpx.ReadError("connection reset by peer")
            if step.then == "timeout":
                raise httpx.ReadTimeout("no heartbeat")
            if step.then == "reconnect":
                yield b"event: reconnect\ndata: {}\n\n"
            if step.then == "hang":
                deadline = time.monotonic() + 30
                while not self.released.is_set() and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())
