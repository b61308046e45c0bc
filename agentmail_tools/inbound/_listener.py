"""SSE listener: keep an ``events.stream()`` open forever and feed every event into the queue.

What a long-lived stream meets in practice, and what the listener does about it:

- the server closes after ~4.5 min with ``event: reconnect`` → reconnect at once, no backoff;
- the connection drops, the server restarts, a proxy times out → reconnect with capped,
  jittered exponential backoff, resuming with ``Last-Event-ID`` so nothing is lost;
- the connection goes silent without closing (half-open TCP) → after ``heartbeat_timeout``
  seconds without a frame the connection is abandoned and re-opened;
- the server replays what it already sent (at-least-once) → events are de-duplicated by
  id here and again by the queue, so nothing is enqueued twice;
- a bad key or an unknown mailbox (400/401/403/404) → raised: retrying cannot fix it.

The last event id is persisted (``state_path``) only *after* the event is in the queue,
so a crash between the two means one replayed (and de-duplicated) event, never a lost one.
A listener with no saved id starts with live events, as the service does: to pick up mail
that arrived before it first connected, run a :class:`~agentmail_tools.inbound.Poller`
once (the queue de-duplicates whatever both see).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import queue as queue_module
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .._errors import MailTimeoutError
from ._event import InboundEvent, InvalidEventError
from ._queue import InboundQueue, put_batch
from ._resume import Backoff, JsonState, is_fatal, retry_after_of

__all__ = ["AsyncSSEListener", "ListenerStats", "SSEListener"]

logger = logging.getLogger("agentmail_tools")

_SEEN_IDS = 10_000  # recent event ids remembered in memory (the queue remembers them all)
_MAX_BATCH = 256  # frames written to the queue in one transaction


@dataclass
class ListenerStats:
    """Counters a health check or a test can read.

    ``connections`` counts attempts, ``opened`` the ones the server accepted.
    """

    connections: int = 0
    opened: int = 0
    received: int = 0
    enqueued: int = 0
    duplicates: int = 0
    invalid: int = 0
    reconnect_requests: int = 0
    dead_connections: int = 0
    errors: int = 0


class _Outcome:
    RECONNECT = "reconnect"  # the server asked us to: reconnect at once
    ENDED = "ended"  # the stream closed without asking: back off a little
    DEAD = "dead"  # heartbeat timeout
    STOPPED = "stopped"


class _ListenerCore:
    """Everything that is not I/O: state, de-duplication, conversion, counters, backoff."""

    def __init__(
        self,
        client: Any,
        queue: InboundQueue,
        *,
        mailbox_id: str | None = None,
        events: Sequence[str] | None = None,
        state_path: str | None | Any = None,
        heartbeat_timeout: float = 90.0,
        frame_timeout: float | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        on_event: Callable[[InboundEvent, bool], None] | None = None,
        state_interval: float = 1.0,
    ) -> None:
        if heartbeat_timeout <= 0:
            msg = "heartbeat_timeout must be positive"
            raise ValueError(msg)
        self.client = client
        self.queue = queue
        self.mailbox_id = mailbox_id
        self.events = list(events) if events is not None else None
        self.heartbeat_timeout = heartbeat_timeout
        self.frame_timeout = frame_timeout
        self.stats = ListenerStats()
        self._backoff = Backoff(backoff_initial, backoff_max)
        self._state = JsonState(state_path)
        self._on_event = on_event
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._times_reads: bool | None = None
        state = self._state.load()
        saved = state.get("last_event_id")
        if state and (state.get("mailbox_id"), state.get("events")) != (self.mailbox_id, self.events):
            # The stream's filters changed: its ids are still the account's event log, so
            # resuming is still right; say so because it is unusual.
            logger.info("SSE state %s was saved with other filters; resuming from it anyway", state_path)
        self.last_event_id: str | None = saved if isinstance(saved, str) and saved else None
        self.state_interval = state_interval
        self._saved_id = self.last_event_id
        self._saved_at = float("-inf")

    def _stream_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "mailbox_id": self.mailbox_id,
            "events": self.events,
            "last_event_id": self.last_event_id,
        }
        if self._client_times_reads:
            kwargs["read_timeout"] = self.heartbeat_timeout
        return kwargs

    @property
    def _client_times_reads(self) -> bool:
        """Whether ``events.stream`` takes ``read_timeout`` (a byte-level silence timeout).

        A read timeout sees heartbeat comments, which never reach us as events, so it is
        the precise dead-connection detector; without it a quiet but healthy stream and a
        dead one look alike here, and the watchdog on frames is the fallback.
        """
        if self._times_reads is None:
            try:
                params = inspect.signature(self.client.events.stream).parameters
            except (TypeError, ValueError):
                params = {}  # type: ignore[assignment]
            self._times_reads = "read_timeout" in params or any(
                p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
            )
        return self._times_reads

    @property
    def _watchdog(self) -> float | None:
        if self.frame_timeout is not None:
            return self.frame_timeout
        return None if self._client_times_reads else self.heartbeat_timeout

    def _accept_batch(self, frames: Sequence[Any]) -> str | None:
        """Handle frames already received, in order, with one queue write for all of them.

        Blocking (a queue transaction and maybe a small file write); the async listener
        runs it in a worker thread. A replay after an outage arrives as a burst: batching
        it costs one disk sync per batch instead of one per event.
        """
        outcome: str | None = None
        events: list[InboundEvent] = []
        ids: list[str] = []
        batch_ids: set[str] = set()
        for frame in frames:
            name = getattr(frame, "event", None)
            if name == "reconnect":
                self.stats.reconnect_requests += 1
                outcome = _Outcome.RECONNECT
                break  # the server closes after it; anything later is replayed on resume
            self.stats.received += 1
            raw_id = getattr(frame, "id", None)
            frame_id = None if raw_id is None else str(raw_id)
            if frame_id is not None and (frame_id in self._seen or frame_id in batch_ids):
                self.stats.duplicates += 1
                continue
            try:
                events.append(InboundEvent.from_stream_event(frame))
            except InvalidEventError as err:
                # Unusable, and it will not become usable: skip it (and move past its id).
                self.stats.invalid += 1
                logger.warning("skipping SSE event %s (%s): %s", frame_id, name, err)
            if frame_id is not None:
                ids.append(frame_id)
                batch_ids.add(frame_id)
        if events:
            results = put_batch(self.queue, events)
            for event, fresh in zip(events, results, strict=True):
                if fresh:
                    self.stats.enqueued += 1
                else:
                    self.stats.duplicates += 1
                if self._on_event is not None:
                    try:
                        self._on_event(event, fresh)
                    except Exception:  # the event is safely queued; a callback must not drop the stream
                        logger.exception("on_event callback failed for %s", event.event_id)
        for frame_id in ids:
            self._remember(frame_id)
        if ids:
            self.last_event_id = ids[-1]
            self.save_state(force=False)
        return outcome

    def save_state(self, *, force: bool = True) -> None:
        """Persist the last event id (throttled unless ``force``).

        The queue, not this file, is what prevents duplicates: the id only spares a
        replay. Saving at most every ``state_interval`` seconds keeps a burst of events
        from paying a disk sync each; on a crash the replay since the last save is
        recognised by the queue and enqueued no second time.
        """
        if self.last_event_id is None or self.last_event_id == self._saved_id:
            return
        now = time.monotonic()
        if not force and now - self._saved_at < self.state_interval:
            return
        try:
            self._state.save(
                {"last_event_id": self.last_event_id, "mailbox_id": self.mailbox_id, "events": self.events}
            )
        except OSError as err:  # only costs a longer replay after a restart; keep listening
            logger.warning("could not save SSE state to %s: %s", self._state.path, err)
            return
        self._saved_id, self._saved_at = self.last_event_id, now

    def _remember(self, frame_id: str) -> None:
        self._seen[frame_id] = None
        if len(self._seen) > _SEEN_IDS:
            self._seen.popitem(last=False)

    def _delay_after(self, outcome: str | None, error: BaseException | None, healthy: bool) -> float:
        """How long to wait before reconnecting (raises what must not be retried)."""
        if isinstance(error, MailTimeoutError):
            error, outcome = None, _Outcome.DEAD
        if healthy:
            # A connection that delivered events was fine: its failure starts a new series.
            self._backoff.reset()
        if error is not None:
            if is_fatal(error):
                raise error
            self.stats.errors += 1
            delay = self._backoff.next_delay()
            retry_after = retry_after_of(error)
            if retry_after is not None:
                delay = max(delay, retry_after)
            logger.warning(
                "SSE stream failed (%s: %s); reconnecting in %.1fs", type(error).__name__, error, delay
            )
            return delay
        if outcome == _Outcome.RECONNECT:
            self._backoff.reset()
            return 0.0
        if outcome == _Outcome.DEAD:
            self.stats.dead_connections += 1
            logger.warning(
                "SSE stream silent for %.0fs (no event, no heartbeat); reconnecting", self.heartbeat_timeout
            )
            return 0.0 if healthy else self._backoff.next_delay()
        return self._backoff.next_delay()


class SSEListener(_ListenerCore):
    """Feeds ``client.events.stream(...)`` into an :class:`InboundQueue`, forever, losslessly.

    Setup::

        from agentmail_tools import MailClient
        from agentmail_tools.inbound import SQLiteQueue, SSEListener

        listener = SSEListener(MailClient(), SQLiteQueue("inbound.db"),
                               mailbox_id=mailbox.id, state_path="sse-state.json")

    Run it in a thread and stop it cleanly::

        stop = threading.Event()
        threading.Thread(target=listener.run, args=(stop,), daemon=True).start()
        ...
        stop.set()

    Args:
        client: a :class:`~agentmail_tools.MailClient`.
        queue: where events go.
        mailbox_id: only this mailbox's events (None: the whole account).
        events: only these event types (None: all).
        state_path: file keeping the last event id across restarts (None: memory only).
        heartbeat_timeout: seconds of silence (not even a heartbeat comment) before the
            connection counts as dead; passed to the client as the stream's read timeout.
        frame_timeout: seconds without any *event* before reconnecting anyway, for
            transports that cannot time out reads (in-process ones). None: only when the
            client takes no ``read_timeout``, then ``heartbeat_timeout``.
        backoff_initial: first reconnect delay after a failure, doubling up to ``backoff_max``.
        backoff_max: cap on the reconnect delay.
        on_event: called with ``(event, enqueued)`` after each event is handled.
        state_interval: at most one state-file write per this many seconds while events
            stream in (always on disconnect and on stop).
    """

    def run(self, stop_event: threading.Event | None = None) -> None:
        """Listen until ``stop_event`` is set (returns) or a fatal error (raises)."""
        stop = stop_event if stop_event is not None else threading.Event()
        try:
            while not stop.is_set():
                started = self.stats.received
                outcome: str | None = None
                error: BaseException | None = None
                try:
                    outcome = self._listen_once(stop)
                except Exception as err:
                    error = err
                self.save_state()
                if outcome == _Outcome.STOPPED or stop.is_set():
                    return
                delay = self._delay_after(outcome, error, healthy=self.stats.received > started)
                if delay and stop.wait(delay):
                    return
        finally:
            self.save_state()

    def run_forever(self) -> None:
        """Listen until interrupted (Ctrl-C) or a fatal error."""
        self.run(threading.Event())

    def _listen_once(self, stop: threading.Event) -> str:
        # The stream is read in its own thread so that this one can notice a stop request
        # and a silent connection while the read blocks; an abandoned reader ends when its
        # socket errors or the client's read timeout fires.
        frames: queue_module.SimpleQueue[tuple[str, Any]] = queue_module.SimpleQueue()
        cancelled = threading.Event()
        holder: dict[str, Any] = {}
        reader = threading.Thread(
            target=self._read, args=(frames, cancelled, holder), name="agentmail-sse-reader", daemon=True
        )
        self.stats.connections += 1
        reader.start()
        last_frame = time.monotonic()
        try:
            while True:
                if stop.is_set():
                    return _Outcome.STOPPED
                try:
                    kind, item = frames.get(timeout=min(0.2, self.heartbeat_timeout))
                except queue_module.Empty:
                    watchdog = self._watchdog
                    if watchdog is not None and time.monotonic() - last_frame > watchdog:
                        return _Outcome.DEAD
                    continue
                last_frame = time.monotonic()
                control: tuple[str, Any] | None = None
                if kind == "frame":
                    batch = [item]
                    while len(batch) < _MAX_BATCH:  # whatever else already arrived goes too
                        try:
                            more = frames.get_nowait()
                        except queue_module.Empty:
                            break
                        if more[0] != "frame":
                            control = more
                            break
                        batch.append(more[1])
                    outcome = self._accept_batch(batch)
                    if outcome is not None:
                        return outcome
                    if control is None:
                        continue
                    kind, item = control
                if kind == "open":
                    self.stats.opened += 1
                    continue
                if kind == "error":
                    raise item
                if kind == "end":
                    return _Outcome.ENDED
        finally:
            cancelled.set()
            stream = holder.get("stream")
            close = getattr(stream, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()

    def _read(
        self,
        frames: queue_module.SimpleQueue[tuple[str, Any]],
        cancelled: threading.Event,
        holder: dict[str, Any],
    ) -> None:
        try:
            with contextlib.ExitStack() as stack:
                stream = self.client.events.stream(**self._stream_kwargs())
                if hasattr(stream, "__enter__"):
                    stream = stack.enter_context(stream)
                holder["stream"] = stream
                frames.put(("open", None))
                for frame in stream:
                    if cancelled.is_set():
                        return
                    frames.put(("frame", frame))
            frames.put(("end", None))
        except BaseException as err:  # handed to the listening thread, which decides
            if not cancelled.is_set():
                frames.put(("error", err))


class AsyncSSEListener(_ListenerCore):
    """Async twin of :class:`SSEListener` over an :class:`~agentmail_tools.AsyncMailClient`.

    Usage::

        listener = AsyncSSEListener(AsyncMailClient(), queue, mailbox_id=mailbox.id,
                                    state_path="sse-state.json")
        stop = asyncio.Event()
        task = asyncio.create_task(listener.run(stop))
        ...
        stop.set(); await task

    Queue and state writes run in a worker thread so the event loop never blocks on disk.
    """

    async def run(self, stop_event: asyncio.Event | None = None) -> None:
        """Listen until ``stop_event`` is set (returns) or a fatal error (raises)."""
        stop = stop_event if stop_event is not None else asyncio.Event()
        try:
            while not stop.is_set():
                started = self.stats.received
                outcome: str | None = None
                error: BaseException | None = None
                try:
                    outcome = await self._listen_once(stop)
                except Exception as err:
                    error = err
                await asyncio.to_thread(self.save_state)
                if outcome == _Outcome.STOPPED or stop.is_set():
                    return
                delay = self._delay_after(outcome, error, healthy=self.stats.received > started)
                if delay:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
        finally:
            self.save_state()

    async def run_forever(self) -> None:
        """Listen until cancelled or a fatal error."""
        await self.run(asyncio.Event())

    async def _listen_once(self, stop: asyncio.Event) -> str:
        async with contextlib.AsyncExitStack() as stack:
            self.stats.connections += 1
            stream: Any = self.client.events.stream(**self._stream_kwargs())
            if inspect.isawaitable(stream):
                stream = await stream
            if hasattr(stream, "__aenter__"):
                stream = await stack.enter_async_context(stream)
            self.stats.opened += 1
            # A reader task fills a bounded inbox; this loop takes everything already there
            # as one batch (one queue transaction), and can give up on a silent stream.
            inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=4 * _MAX_BATCH)

            async def read() -> None:
                try:
                    async for frame in stream:
                        await inbox.put(("frame", frame))
                    await inbox.put(("end", None))
                except Exception as err:  # handed to the listening loop, which decides
                    await inbox.put(("error", err))

            reader = asyncio.ensure_future(read())
            stopper = asyncio.ensure_future(stop.wait())
            try:
                while True:
                    getter = asyncio.ensure_future(inbox.get())
                    done, _ = await asyncio.wait(
                        {getter, stopper}, timeout=self._watchdog, return_when=asyncio.FIRST_COMPLETED
                    )
                    if getter not in done:
                        getter.cancel()
                        return _Outcome.STOPPED if stopper in done else _Outcome.DEAD
                    kind, item = getter.result()
                    control: tuple[str, Any] | None = None
                    if kind == "frame":
                        batch = [item]
                        while len(batch) < _MAX_BATCH:
                            try:
                                more = inbox.get_nowait()
                            except asyncio.QueueEmpty:
                                break
                            if more[0] != "frame":
                                control = more
                                break
                            batch.append(more[1])
                        outcome = await asyncio.to_thread(self._accept_batch, batch)
                        if outcome is not None:
                            return outcome
                        if control is None:
                            continue
                        kind, item = control
                    if kind == "error":
                        raise item
                    return _Outcome.ENDED
            finally:
                stopper.cancel()
                reader.cancel()
                with contextlib.suppress(BaseException):
                    await reader
