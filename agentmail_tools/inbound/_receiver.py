"""Webhook receiver: raw bytes → verify signature → parse → enqueue durably → 2xx. Nothing else.

The order is the security property. The signature is checked on the exact bytes received,
before a single byte is parsed, so a forged body never reaches the JSON parser or the queue
(401). A genuine but malformed body is a 400. A redelivery is acknowledged (200) and not
enqueued twice. Agent work never runs inline: the response goes out as soon as the event is
on disk, so the sender never times out and retries because an LLM was slow.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._webhooks import DELIVERY_ID_HEADER, SIGNATURE_HEADER, verify_webhook
from ._event import InboundEvent, InvalidEventError
from ._queue import InboundQueue, put_batch

__all__ = ["DEFAULT_MAX_BODY_BYTES", "WebhookReceiver"]

logger = logging.getLogger("agentmail_tools")

# A message.received body carries the text and HTML bodies (attachments go by reference);
# 5 MB leaves room for long HTML while refusing anything that is plainly not a webhook.
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
_MAX_DELIVERY_ID = 200

_SIG_LOWER = SIGNATURE_HEADER.lower()
_DELIVERY_LOWER = DELIVERY_ID_HEADER.lower()


def _header(headers: Mapping[str, str] | Iterable[tuple[Any, Any]], name_lower: str) -> str | None:
    """Case-insensitive header lookup over a dict, any header object, or raw ASGI pairs."""
    getter = getattr(headers, "get", None)
    if callable(getter):
        # Starlette, werkzeug and requests header objects answer any case themselves.
        value = getter(name_lower)
        if value is not None:
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    items = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in items:
        k = key.decode("latin-1") if isinstance(key, bytes) else str(key)
        if k.lower() == name_lower:
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return None


class _Slot:
    __slots__ = ("done", "error", "event", "fresh")

    def __init__(self, event: InboundEvent) -> None:
        self.event = event
        self.done = False
        self.fresh = False
        self.error: BaseException | None = None


class _ThreadGroupCommit:
    """Group commit for threaded servers calling :meth:`WebhookReceiver.handle` concurrently.

    No background thread: the first caller to find no commit in flight leads, writing
    every pending event in one transaction, until its own event is written; then it hands
    leadership to a waiting caller whose event is not written yet. One caller alone pays
    exactly one transaction, as a plain ``put`` would.
    """

    def __init__(self, queue: InboundQueue, *, max_batch: int = 256) -> None:
        self._queue = queue
        self._max_batch = max_batch
        self._cond = threading.Condition()
        self._pending: list[_Slot] = []
        self._leading = False

    def put(self, event: InboundEvent) -> bool:
        slot = _Slot(event)
        with self._cond:
            self._pending.append(slot)
            while self._leading and not slot.done:
                self._cond.wait()
            if not slot.done:
                self._leading = True
        while not slot.done:
            with self._cond:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
            try:
                results = put_batch(self._queue, [s.event for s in batch])
            except BaseException as err:
                with self._cond:
                    for item in batch:
                        item.error, item.done = err, True
                    self._handover(slot)
                continue
            with self._cond:
                for item, fresh in zip(batch, results, strict=True):
                    item.fresh, item.done = fresh, True
                self._handover(slot)
        if slot.error is not None:
            raise slot.error
        return slot.fresh

    def _handover(self, own: _Slot) -> None:
        # Called with the condition held, after each batch: waiters whose event is written
        # return; once the leader's own event is written it steps down for the next one.
        if own.done:
            self._leading = False
        self._cond.notify_all()


class _GroupCommit:
    """Writes the events of concurrent requests in shared transactions, off the event loop.

    A durable commit costs a disk sync; one per request caps the receiver at the disk's sync
    rate and blocks the event loop meanwhile. Here requests that arrive while a commit is in
    flight wait for the next one, which writes them all at once in a single worker thread
    (SQLite serialises writers anyway), so throughput grows with concurrency and the loop
    keeps answering. Every request is still answered only after its event is on disk.
    """

    def __init__(self, queue: InboundQueue, *, max_batch: int = 256) -> None:
        self._queue = queue
        self._max_batch = max_batch
        self._pending: list[tuple[InboundEvent, asyncio.Future[bool]]] = []
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def put(self, event: InboundEvent) -> bool:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        if self._task is not None and not self._task.done() and self._task.get_loop() is not loop:
            # The app moved to another event loop (the old one closed mid-drain): its
            # requests are gone with it; never let their leftovers block this loop's.
            self._pending = [item for item in self._pending if item[1].get_loop() is loop]
            self._task = None
        self._pending.append((event, future))
        if self._task is None or self._task.done():
            # The drain ends when nothing is pending, so no task outlives the traffic.
            self._task = loop.create_task(self._drain())
        return await future

    def _write(self, events: list[InboundEvent]) -> list[bool]:
        return put_batch(self._queue, events)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            # One turn of the loop first: requests already read but not yet parsed join
            # this batch instead of waiting for the next disk sync.
            await asyncio.sleep(0)
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            if self._executor is None:  # first use, or after close()
                self._executor = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="agentmail-inbound-commit"
                )
            try:
                results = await loop.run_in_executor(
                    self._executor, self._write, [event for event, _ in batch]
                )
            except Exception as err:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(err)
                continue
            for (_, future), fresh in zip(batch, results, strict=True):
                if not future.done():  # the client may have gone; the event is stored anyway
                    future.set_result(fresh)


class WebhookReceiver:
    """Receives Robotomail webhooks and enqueues them; an ASGI app and a plain function.

    Setup (any ASGI server; mount it wherever the webhook URL points)::

        from agentmail_tools.inbound import SQLiteQueue, WebhookReceiver

        receiver = WebhookReceiver(SQLiteQueue("inbound.db"), secret=webhook.secret)

        # Starlette / FastAPI: the receiver is an ASGI endpoint (no redirect on the exact path)
        app = Starlette(routes=[Route("/hooks/robotomail", receiver, methods=["POST"])])
        # or on its own:  uvicorn.run(receiver.app)    (answers POST /)

    Robotomail signs without a timestamp, so a captured delivery could be replayed: it is
    then recognised by its delivery id and message id, acknowledged, and not enqueued again.

    Flask, Django or anything else: pass the raw body and the headers::

        status, body = receiver.handle(request.get_data(), request.headers)
        return body, status

    Args:
        queue: where verified events go.
        secret: the webhook's secret.
        secrets: several secrets accepted at once, for rotation (old and new).
        max_body_bytes: larger bodies get 413 without being read in full.
    """

    def __init__(
        self,
        queue: InboundQueue,
        secret: str | None = None,
        *,
        secrets: Iterable[str] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        keys = [s for s in ([secret] if secret else []) + list(secrets or []) if s]
        if not keys:
            msg = "WebhookReceiver needs the webhook secret (secret=... or secrets=[...])"
            raise ValueError(msg)
        self.queue = queue
        self._secrets = tuple(dict.fromkeys(keys))
        self.max_body_bytes = max_body_bytes
        self._app: Any = None
        self._committer = _GroupCommit(queue)
        self._thread_committer = _ThreadGroupCommit(queue)

    def close(self) -> None:
        """Release the commit thread (the queue stays open: it is the caller's)."""
        self._committer.close()

    # -- framework-agnostic core --------------------------------------------------------

    def verify(self, raw_body: bytes, signature: str | None) -> bool:
        """True if ``signature`` matches ``raw_body`` under any configured secret."""
        # Every secret is tried (no early exit) so timing does not reveal which one matched.
        results = [verify_webhook(raw_body, signature, secret) for secret in self._secrets]
        return any(results)

    def handle(
        self, raw_body: bytes, headers: Mapping[str, str] | Iterable[tuple[Any, Any]]
    ) -> tuple[int, dict[str, Any]]:
        """Verify, parse and enqueue one delivery.

        Args:
            raw_body: the request body exactly as received.
            headers: the request headers (any case-insensitive mapping, a dict, or pairs).

        Returns:
            ``(status, json_body)``: 200 queued or duplicate, 400 unparseable, 401 bad or
            missing signature, 413 too large, 503 the queue could not store it (the
            sender will retry).
        """
        checked = self._check(raw_body, headers)
        if not isinstance(checked, InboundEvent):
            return checked
        try:
            fresh = self._thread_committer.put(checked)
        except Exception:
            return self._unavailable(checked)
        return self._answer(checked, fresh)

    async def ahandle(
        self, raw_body: bytes, headers: Mapping[str, str] | Iterable[tuple[Any, Any]]
    ) -> tuple[int, dict[str, Any]]:
        """Async twin of :meth:`handle`, for async frameworks (FastAPI, aiohttp, Quart).

        The queue write runs off the event loop and is shared with concurrent requests
        (one disk sync for many)::

            @app.post("/hooks/robotomail")
            async def hook(request: Request):
                status, body = await receiver.ahandle(await request.body(), request.headers)
                return JSONResponse(body, status_code=status)
        """
        checked = self._check(raw_body, headers)
        if not isinstance(checked, InboundEvent):
            return checked
        try:
            fresh = await self._committer.put(checked)
        except Exception:
            return self._unavailable(checked)
        return self._answer(checked, fresh)

    def _check(
        self, raw_body: bytes, headers: Mapping[str, str] | Iterable[tuple[Any, Any]]
    ) -> InboundEvent | tuple[int, dict[str, Any]]:
        """Everything before the queue: size, signature (before parsing), parse, type."""
        if not isinstance(raw_body, (bytes, bytearray, memoryview)):
            return 400, {"error": "request body must be bytes"}
        body = bytes(raw_body)
        if len(body) > self.max_body_bytes:
            return 413, {"error": f"body over {self.max_body_bytes} bytes"}
        if not self.verify(body, _header(headers, _SIG_LOWER)):
            return 401, {"error": "invalid or missing webhook signature"}
        delivery_id = _header(headers, _DELIVERY_LOWER)
        if delivery_id is not None:
            delivery_id = delivery_id.strip()
            if not delivery_id or len(delivery_id) > _MAX_DELIVERY_ID or not delivery_id.isprintable():
                return 400, {"error": f"malformed {DELIVERY_ID_HEADER} header"}
        else:
            # Signed but no delivery id: the body digest still makes a retry recognisable.
            delivery_id = "sha256-" + hashlib.sha256(body).hexdigest()
        try:
            parsed = json.loads(body)
        except (UnicodeDecodeError, ValueError, RecursionError):
            return 400, {"error": "body is not valid JSON"}
        try:
            return InboundEvent.from_webhook(parsed, delivery_id=delivery_id)
        except InvalidEventError as err:
            return 400, {"error": str(err)}

    @staticmethod
    def _answer(event: InboundEvent, fresh: bool) -> tuple[int, dict[str, Any]]:
        if not fresh:
            logger.debug("webhook %s is a duplicate of %s", event.delivery_id, event.event_id)
        return 200, {"status": "queued" if fresh else "duplicate", "event_id": event.event_id}

    @staticmethod
    def _unavailable(event: InboundEvent) -> tuple[int, dict[str, Any]]:
        logger.exception("webhook %s verified but could not be enqueued", event.delivery_id)
        return 503, {"error": "queue unavailable; retry later"}

    # -- ASGI ---------------------------------------------------------------------------

    @property
    def app(self) -> Any:
        """A Starlette app answering ``POST /`` (built on first use; Starlette is imported lazily)."""
        if self._app is None:
            from starlette.applications import Starlette
            from starlette.routing import Route

            self._app = Starlette(
                routes=[Route("/", self._endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])]
            )
        return self._app

    async def _endpoint(self, request: Any) -> Any:
        from starlette.requests import ClientDisconnect
        from starlette.responses import JSONResponse

        if request.method != "POST":
            return JSONResponse(
                {"error": "POST webhook deliveries here"}, status_code=405, headers={"Allow": "POST"}
            )
        limit = self.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return JSONResponse({"error": f"body over {limit} bytes"}, status_code=413)
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    return JSONResponse({"error": f"body over {limit} bytes"}, status_code=413)
                chunks.append(chunk)
        except ClientDisconnect:
            return JSONResponse({"error": "client disconnected"}, status_code=400)
        status, payload = await self.ahandle(b"".join(chunks), request.headers)
        return JSONResponse(payload, status_code=status)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """ASGI entry point: the receiver answers POST on whatever path routes to it.

        Going around the router on purpose, so that it works as a ``Route`` endpoint and
        under a ``Mount`` alike, without redirects (webhook senders do not follow them).
        """
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.requests import Request

        response = await self._endpoint(Request(scope, receive))
        await response(scope, receive, send)
