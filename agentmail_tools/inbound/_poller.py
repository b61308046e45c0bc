"""Poller: new INBOUND messages since a persisted cursor, for when neither webhooks nor SSE reach you.

The cursor is a timestamp plus the ids already seen near it. The message list's ``since``
is inclusive and timestamps are not unique (and a slow server transaction can commit a
message stamped a little before one already listed), so each poll asks from
``cursor - overlap`` and skips the ids it remembers from that window. The cursor is saved
only after the messages are in the queue: a crash means one re-listed, de-duplicated
page, never a gap. The interval adapts: back to ``min_interval`` when mail arrives,
stretching towards ``max_interval`` while the mailbox is quiet, backing off on errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ._event import InboundEvent
from ._queue import InboundQueue, put_batch
from ._resume import Backoff, JsonState, is_fatal, retry_after_of

__all__ = ["AsyncPoller", "Poller"]

logger = logging.getLogger("agentmail_tools")

_PAGE = 100
_MAX_SEEN = 5_000


def _created(message: Any) -> datetime:
    value = getattr(message, "created_at", None)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.now(UTC)


class _PollerCore:
    def __init__(
        self,
        client: Any,
        queue: InboundQueue,
        mailbox_id: str,
        cursor_path: str | None | Any = None,
        *,
        start: datetime | Literal["beginning", "now"] = "beginning",
        min_interval: float = 2.0,
        max_interval: float = 60.0,
        overlap: float = 5.0,
        page_size: int = _PAGE,
    ) -> None:
        if not isinstance(mailbox_id, str) or not mailbox_id:
            msg = "Poller needs the mailbox_id to poll"
            raise ValueError(msg)
        if not 1 <= page_size <= _PAGE:
            msg = f"page_size must be between 1 and {_PAGE} (the API's page limit)"
            raise ValueError(msg)
        if not 0 < min_interval <= max_interval:
            msg = "Poller needs 0 < min_interval <= max_interval"
            raise ValueError(msg)
        self.client = client
        self.queue = queue
        self.mailbox_id = mailbox_id
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.overlap = timedelta(seconds=overlap)
        self.page_size = page_size
        self.interval = min_interval
        self.enqueued_total = 0
        self._backoff = Backoff(min_interval, max_interval)
        self._state = JsonState(cursor_path)
        state = self._state.load()
        cursor = state.get("cursor")
        self.cursor: datetime | None
        if isinstance(cursor, str):
            self.cursor = datetime.fromisoformat(cursor)
        elif start == "now":
            self.cursor = datetime.now(UTC)
        elif isinstance(start, datetime):
            self.cursor = start if start.tzinfo else start.replace(tzinfo=UTC)
        else:
            self.cursor = None
        seen = state.get("seen")
        # id -> created_at (ISO): every id inside the overlap window behind the cursor.
        self.seen: dict[str, str] = dict(seen) if isinstance(seen, dict) else {}

    def _since(self) -> datetime | None:
        return None if self.cursor is None else self.cursor - self.overlap

    def _list_kwargs(self, offset: int) -> dict[str, Any]:
        return {
            "direction": "INBOUND",
            "since": self._since(),
            "limit": self.page_size,
            "offset": offset,
        }

    @staticmethod
    def _items(page: Any) -> list[Any]:
        messages = getattr(page, "messages", None)
        return list(messages if messages is not None else page)

    def _enqueue(self, messages: list[Any]) -> int:
        """Put the unseen messages in order, then move and save the cursor. Returns the count."""
        fresh = [
            m for m in messages if getattr(m, "direction", "INBOUND") == "INBOUND" and m.id not in self.seen
        ]
        unique = {m.id: m for m in fresh}
        ordered = sorted(unique.values(), key=lambda m: (_created(m), m.id))
        # One transaction for the whole poll: a backlog costs one disk sync, not one per message.
        added = sum(put_batch(self.queue, [InboundEvent.from_message(m) for m in ordered])) if ordered else 0
        newest = max((_created(m) for m in messages), default=None)
        if newest is not None and (self.cursor is None or newest > self.cursor):
            self.cursor = newest
        for message in ordered:
            self.seen[message.id] = _created(message).isoformat()
        if self.cursor is not None:
            horizon = self.cursor - self.overlap - timedelta(seconds=1)
            self.seen = {k: v for k, v in self.seen.items() if datetime.fromisoformat(v) >= horizon}
            if len(self.seen) > _MAX_SEEN:
                keep = sorted(self.seen.items(), key=lambda kv: kv[1])[-_MAX_SEEN:]
                self.seen = dict(keep)
        self._state.save(
            {
                "mailbox_id": self.mailbox_id,
                "cursor": None if self.cursor is None else self.cursor.isoformat(),
                "seen": self.seen,
            }
        )
        self.enqueued_total += added
        return added

    def _next_interval(self, added: int | None, error: BaseException | None) -> float:
        if error is not None:
            if is_fatal(error):
                raise error
            delay = self._backoff.next_delay()
            retry_after = retry_after_of(error)
            if retry_after is not None:
                delay = max(delay, retry_after)
            logger.warning("poll of mailbox %s failed (%s); next try in %.1fs", self.mailbox_id, error, delay)
            return delay
        self._backoff.reset()
        self.interval = self.min_interval if added else min(self.max_interval, self.interval * 1.5)
        return self.interval


class Poller(_PollerCore):
    """Polls one mailbox for new INBOUND messages and enqueues each exactly once.

    Setup::

        from agentmail_tools.inbound import Poller, SQLiteQueue

        poller = Poller(client, SQLiteQueue("inbound.db"), mailbox.id, cursor_path="cursor.json")
        poller.poll_once()              # -> number of new messages enqueued
        poller.run(stop_event)          # or loop with an adaptive interval

    Args:
        client: a :class:`~agentmail_tools.MailClient`.
        queue: where events go (as ``message.received`` events).
        mailbox_id: the mailbox to poll.
        cursor_path: JSON file keeping the cursor across restarts (None: memory only).
        start: where a fresh cursor starts: ``"beginning"`` (every message in the mailbox;
            right for a mailbox the agent just created), ``"now"`` (this host's clock; mail
            from the last ``overlap`` seconds is still picked up), or a datetime.
        min_interval: seconds between polls while mail is arriving.
        max_interval: the longest wait while the mailbox is quiet (and the error backoff cap).
        overlap: seconds re-listed behind the cursor to catch late-committed messages.
        page_size: messages per list request (1-100).
    """

    def poll_once(self) -> int:
        """List what arrived since the cursor, enqueue the new messages, save the cursor."""
        messages: list[Any] = []
        offset = 0
        while True:
            page = self._items(self.client.messages.list(self.mailbox_id, **self._list_kwargs(offset)))
            messages.extend(page)
            if len(page) < self.page_size:
                break
            offset += len(page)
        return self._enqueue(messages)

    def run(self, stop_event: threading.Event | None = None) -> None:
        """Poll until ``stop_event`` is set (returns) or a fatal error (raises)."""
        stop = stop_event if stop_event is not None else threading.Event()
        while not stop.is_set():
            added: int | None = None
            error: BaseException | None = None
            try:
                added = self.poll_once()
            except Exception as err:
                error = err
            if stop.wait(self._next_interval(added, error)):
                return

    def run_forever(self) -> None:
        """Poll until interrupted or a fatal error."""
        self.run(threading.Event())


class AsyncPoller(_PollerCore):
    """Async twin of :class:`Poller` over an :class:`~agentmail_tools.AsyncMailClient`."""

    async def poll_once(self) -> int:
        """List what arrived since the cursor, enqueue the new messages, save the cursor."""
        messages: list[Any] = []
        offset = 0
        while True:
            page = self._items(await self.client.messages.list(self.mailbox_id, **self._list_kwargs(offset)))
            messages.extend(page)
            if len(page) < self.page_size:
                break
            offset += len(page)
        return await asyncio.to_thread(self._enqueue, messages)

    async def run(self, stop_event: asyncio.Event | None = None) -> None:
        """Poll until ``stop_event`` is set (returns) or a fatal error (raises)."""
        stop = stop_event if stop_event is not None else asyncio.Event()
        while not stop.is_set():
            added: int | None = None
            error: BaseException | None = None
            try:
                added = await self.poll_once()
            except Exception as err:
                error = err
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._next_interval(added, error))

    async def run_forever(self) -> None:
        """Poll until cancelled or a fatal error."""
        await self.run(asyncio.Event())
