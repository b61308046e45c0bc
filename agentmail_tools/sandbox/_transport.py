"""httpx transports that call an ASGI app in-process, streaming responses (SSE included).

``httpx.ASGITransport`` is async-only and buffers the whole response body, so it can
neither serve the synchronous ``MailClient`` nor an endless SSE stream. These transports:

- :class:`SyncASGITransport` runs the app on a private event loop in a background thread
  (:class:`LoopThread`) and hands body chunks to the calling thread through a queue;
- :class:`AsyncASGITransport` runs the app as a task on the caller's loop, chunk by chunk.

Closing the response (or leaving ``with client.stream(...)``) sends ``http.disconnect`` to
the app, which is how a dropped connection looks to a real server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import httpx

__all__ = ["AsyncASGITransport", "LoopThread", "SyncASGITransport"]

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]

_DONE = object()


class LoopThread:
    """An asyncio event loop running forever in a daemon thread."""

    def __init__(self, name: str = "sandbox-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Any) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        if self.loop.is_closed():
            return

        async def _cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.submit(_cancel_all()).result(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()


def _scope(request: httpx.Request, root_path: str = "") -> dict[str, Any]:
    url = request.url
    default_port = {"http": 80, "https": 443}.get(url.scheme, 80)
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "headers": [(k.lower(), v) for k, v in request.headers.raw],
        "scheme": url.scheme,
        "path": url.path,
        "raw_path": url.raw_path.split(b"?")[0],
        "query_string": url.query,
        "server": (url.host, url.port or default_port),
        "client": ("127.0.0.1", 50000),
        "root_path": root_path,
        "extensions": {},
    }


class _SyncStream(httpx.SyncByteStream):
    def __init__(self, chunks: queue.Queue[Any], disconnect: Callable[[], None]) -> None:
        self._chunks = chunks
        self._disconnect = disconnect

    def __iter__(self) -> Iterator[bytes]:
        while True:
            item = self._chunks.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                msg = f"sandbox app failed mid-response: {item!r}"
                raise httpx.ReadError(msg) from item
            yield item

    def close(self) -> None:
        self._disconnect()


class SyncASGITransport(httpx.BaseTransport):
    """Call ``app`` in-process from synchronous code, streaming the response.

    Args:
        app: the ASGI application.
        loop: the :class:`LoopThread` that runs it (shared with the app's other work).
    """

    def __init__(self, app: ASGIApp, loop: LoopThread) -> None:
        self.app = app
        self._loop = loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._loop.loop.is_closed() or not self._loop.loop.is_running():
            msg = "the in-process sandbox is closed"
            raise httpx.ConnectError(msg, request=request)
        body = request.read()
        chunks: queue.Queue[Any] = queue.Queue()
        started: concurrent.futures.Future[tuple[int, list[tuple[bytes, bytes]]]] = (
            concurrent.futures.Future()
        )
        disconnected = threading.Event()
        loop = self._loop.loop
        wake: asyncio.Event | None = None
        request_sent = False

        async def receive() -> dict[str, Any]:
            nonlocal request_sent, wake
            if not request_sent:
                request_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            if wake is None:
                wake = asyncio.Event()
            if not disconnected.is_set():
                await wake.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                if not started.done():
                    started.set_result((message["status"], list(message.get("headers", []))))
            elif message["type"] == "http.response.body":
                data = message.get("body", b"")
                if data and not disconnected.is_set():
                    chunks.put(bytes(data))
                if not message.get("more_body", False):
                    chunks.put(_DONE)

        async def run() -> None:
            try:
                await self.app(_scope(request), receive, send)
            except BaseException as err:
                if not started.done():
                    started.set_exception(err)
                chunks.put(err if not isinstance(err, asyncio.CancelledError) else _DONE)
                if not isinstance(err, Exception):
                    raise
            else:
                chunks.put(_DONE)
                if not started.done():
                    started.set_exception(RuntimeError("ASGI app returned without a response"))

        def disconnect() -> None:
            if disconnected.is_set():
                return
            disconnected.set()

            def _wake() -> None:
                if wake is not None:
                    wake.set()

            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_wake)

        future = self._loop.submit(run())
        try:
            status, headers = started.result(
                timeout=request.extensions.get("timeout", {}).get("read") or None
            )
        except concurrent.futures.TimeoutError as err:
            disconnect()
            future.cancel()
            msg = "sandbox app did not answer in time"
            raise httpx.ReadTimeout(msg, request=request) from err
        except Exception as err:
            msg = f"sandbox app failed: {err!r}"
            raise httpx.RemoteProtocolError(msg, request=request) from err
        return httpx.Response(
            status, headers=headers, stream=_SyncStream(chunks, disconnect), request=request
        )


class _AsyncStream(httpx.AsyncByteStream):
    def __init__(
        self, chunks: asyncio.Queue[Any], task: asyncio.Task[None], disconnect: Callable[[], None]
    ) -> None:
        self._chunks = chunks
        self._task = task
        self._disconnect = disconnect

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            item = await self._chunks.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                msg = f"sandbox app failed mid-response: {item!r}"
                raise httpx.ReadError(msg) from item
            yield item

    async def aclose(self) -> None:
        self._disconnect()
        if not self._task.done():
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._task), timeout=2)
            if not self._task.done():
                self._task.cancel()


class AsyncASGITransport(httpx.AsyncBaseTransport):
    """Call ``app`` in-process from async code on the caller's loop, streaming the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        chunks: asyncio.Queue[Any] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        started: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] = loop.create_future()
        disconnected = asyncio.Event()
        request_sent = False

        async def receive() -> dict[str, Any]:
            nonlocal request_sent
            if not request_sent:
                request_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                if not started.done():
                    started.set_result((message["status"], list(message.get("headers", []))))
            elif message["type"] == "http.response.body":
                data = message.get("body", b"")
                if data and not disconnected.is_set():
                    chunks.put_nowait(bytes(data))
                if not message.get("more_body", False):
                    chunks.put_nowait(_DONE)

        async def run() -> None:
            try:
                await self.app(_scope(request), receive, send)
            except Exception as err:
                if not started.done():
                    started.set_exception(err)
                chunks.put_nowait(err)
            except asyncio.CancelledError:
                chunks.put_nowait(_DONE)
                raise
            else:
                chunks.put_nowait(_DONE)
                if not started.done():
                    started.set_exception(RuntimeError("ASGI app returned without a response"))

        task = loop.create_task(run())
        try:
            status, headers = await started
        except Exception as err:
            msg = f"sandbox app failed: {err!r}"
            raise httpx.RemoteProtocolError(msg, request=request) from err
        return httpx.Response(
            status, headers=headers, stream=_AsyncStream(chunks, task, disconnected.set), request=request
        )
