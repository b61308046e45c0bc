"""Incremental sync: backfill a mailbox page by page, then follow inbound events.

Both paths index through :meth:`MailIndex.index_messages`, whose upserts are keyed by stable
ids and skip unchanged content, so running a sync again (or receiving an event twice)
changes nothing. The message list is newest first with limit/offset paging; a message that
arrives during a backfill shifts older ones to later offsets, so some are seen twice (a
no-op) and none is missed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentmail_tools._validation import check_id

from ._index import IndexStats, MailIndex

__all__ = ["SyncProgress", "SyncResult", "apply_event", "async_sync_mailbox", "follow_events", "sync_mailbox"]

logger = logging.getLogger("retrieval")

_MESSAGE_EVENTS = frozenset({"message.received", "message.sent"})


@dataclass
class SyncResult:
    """What a sync did."""

    mailbox_id: str
    pages: int = 0
    seen: int = 0
    stats: IndexStats = field(default_factory=IndexStats)
    threads: set[str] = field(default_factory=set)

    @property
    def indexed(self) -> int:
        """Messages whose chunks were written (new or changed)."""
        return self.stats.indexed

    @property
    def unchanged(self) -> int:
        """Messages already indexed with the same content."""
        return self.stats.unchanged


SyncProgress = Callable[[SyncResult], None]


def _page_messages(page: Any) -> list[Any]:
    if isinstance(page, Mapping):
        return list(page.get("messages", []))
    messages = getattr(page, "messages", None)
    return list(messages if messages is not None else page)


def _thread_of(message: Any) -> str | None:
    if isinstance(message, Mapping):
        value = message.get("thread_id", message.get("threadId"))
    else:
        value = getattr(message, "thread_id", None)
    return None if value is None else str(value)


def sync_mailbox(
    client: Any,
    index: MailIndex,
    mailbox_id: str,
    progress: SyncProgress | None = None,
    *,
    page_size: int = 100,
    summaries: Any | None = None,
    max_pages: int | None = None,
) -> SyncResult:
    """Backfill ``mailbox_id`` into ``index`` page by page; idempotent.

    Args:
        client: A ``MailClient`` (anything with ``messages.list(mailbox_id, limit=, offset=)``).
        index: The index to fill.
        mailbox_id: The mailbox to read.
        progress: Called after each page with the running :class:`SyncResult`.
        page_size: Messages per page (the API allows 1-100).
        summaries: A :class:`~retrieval.ThreadSummaries` to bring up to date for every thread touched.
        max_pages: Stop after this many pages (``None``: all).

    Returns:
        Pages read, messages seen, and how many were indexed or unchanged.
    """
    check_id(mailbox_id, "mailbox_id")
    if not 1 <= page_size <= 100:
        msg = f"page_size must be 1-100, got {page_size}"
        raise ValueError(msg)
    result = SyncResult(mailbox_id)
    offset = 0
    while max_pages is None or result.pages < max_pages:
        page = _page_messages(client.messages.list(mailbox_id, limit=page_size, offset=offset))
        result.pages += 1
        result.seen += len(page)
        if page:
            result.stats += index.index_messages(page, mailbox_id=mailbox_id)
            result.threads.update(t for t in map(_thread_of, page) if t)
        if progress is not None:
            progress(result)
        if len(page) < page_size:
            break
        offset += len(page)
    _refresh_summaries(index, summaries, mailbox_id, result.threads)
    logger.info(
        "synced mailbox %s: %d pages, %d messages, %d indexed, %d unchanged",
        mailbox_id,
        result.pages,
        result.seen,
        result.indexed,
        result.unchanged,
    )
    return result


async def async_sync_mailbox(
    client: Any,
    index: MailIndex,
    mailbox_id: str,
    progress: SyncProgress | None = None,
    *,
    page_size: int = 100,
    summaries: Any | None = None,
    max_pages: int | None = None,
) -> SyncResult:
    """:func:`sync_mailbox` for an ``AsyncMailClient``; embedding runs in a worker thread."""
    check_id(mailbox_id, "mailbox_id")
    result = SyncResult(mailbox_id)
    offset = 0
    while max_pages is None or result.pages < max_pages:
        page = _page_messages(await client.messages.list(mailbox_id, limit=page_size, offset=offset))
        result.pages += 1
        result.seen += len(page)
        if page:
            result.stats += await asyncio.to_thread(index.index_messages, page, mailbox_id=mailbox_id)
            result.threads.update(t for t in map(_thread_of, page) if t)
        if progress is not None:
            progress(result)
        if len(page) < page_size:
            break
        offset += len(page)
    await asyncio.to_thread(_refresh_summaries, index, summaries, mailbox_id, result.threads)
    return result


def _refresh_summaries(index: MailIndex, summaries: Any | None, mailbox_id: str, threads: set[str]) -> None:
    if summaries is None:
        return
    for thread_id in sorted(threads):
        summaries.update_from_index(index, mailbox_id, thread_id)


def _event_parts(event: Any) -> tuple[str | None, Any]:
    """``(event type, data)`` from an InboundEvent, EventEnvelope, StreamEvent or plain dict."""
    if isinstance(event, Mapping):
        return event.get("event"), event.get("data", event.get("payload"))
    data = getattr(event, "data", None)
    if (
        data is not None and hasattr(data, "event") and hasattr(data, "data")
    ):  # StreamEvent wrapping an envelope
        return getattr(data, "event", None), data.data
    if data is not None:
        return getattr(event, "event", None), data
    payload = getattr(event, "payload", None)  # inbound.InboundEvent
    if isinstance(payload, Mapping) and "data" in payload:
        return getattr(event, "event", None) or payload.get("event"), payload["data"]
    return getattr(event, "event", None), payload


def apply_event(
    index: MailIndex, event: Any, *, client: Any | None = None, summaries: Any | None = None
) -> IndexStats | None:
    """Index the message carried by a ``message.received`` / ``message.sent`` event.

    Accepts the webhook/SSE envelope (dict or model), a ``StreamEvent`` or an
    ``inbound.InboundEvent``. Other event types are ignored (returns ``None``). When the event
    carries no body and ``client`` is given, the message is fetched. Applying the same event
    twice changes nothing.
    """
    kind, data = _event_parts(event)
    if kind not in _MESSAGE_EVENTS or data is None:
        return None
    if hasattr(data, "model_dump"):
        data = data.model_dump()
    data = dict(data)
    mailbox_id = data.get("mailbox_id") or data.get("mailboxId")
    message_id = data.get("message_id") or data.get("id")
    if not mailbox_id or not message_id:
        logger.warning("%s event without mailbox_id/message_id ignored", kind)
        return None
    if kind == "message.sent":
        data.setdefault("direction", "OUTBOUND")
    has_body = any(data.get(key) is not None for key in ("body_text", "bodyText", "body_html", "bodyHtml"))
    if not has_body:
        if client is None:
            # Status events (message.sent) carry no body; indexing an empty message would only
            # add noise. The next sync, or apply_event with client=, indexes it properly.
            logger.info("%s event for %s has no body and no client to fetch it; skipped", kind, message_id)
            return None
        message = client.messages.get(mailbox_id, message_id)
        stats = index.index_message(message, mailbox_id=mailbox_id)
        thread_id = _thread_of(message)
    else:
        data.setdefault("id", message_id)
        stats = index.index_message(data, mailbox_id=mailbox_id)
        thread_id = _thread_of(data)
    if thread_id:
        _refresh_summaries(index, summaries, mailbox_id, {thread_id})
    return stats


def follow_events(
    client: Any,
    index: MailIndex,
    *,
    mailbox_id: str | None = None,
    last_event_id: str | None = None,
    summaries: Any | None = None,
    max_events: int | None = None,
    stop: Callable[[], bool] | None = None,
    read_timeout: float | None = None,
) -> str | None:
    """Index message events from the client's SSE stream (one connection); return the resume id.

    Reads until the server asks for a reconnect or closes, ``max_events`` message events were
    applied, or ``stop()`` is true after an event. Call it again with the returned id to go on;
    events are at-least-once and :func:`apply_event` makes repeats harmless. (For a durable,
    multi-worker pipeline use ``agentmail_tools.inbound`` and call :func:`apply_event` from it.)
    """
    applied = 0
    kwargs: dict[str, Any] = {} if read_timeout is None else {"read_timeout": read_timeout}
    with client.events.stream(
        mailbox_id=mailbox_id, events=sorted(_MESSAGE_EVENTS), last_event_id=last_event_id, **kwargs
    ) as stream:
        for event in stream:
            if event.event == "reconnect":
                break
            if event.id is not None:
                last_event_id = event.id
            if apply_event(index, event, client=client, summaries=summaries) is not None:
                applied += 1
            if (max_events is not None and applied >= max_events) or (stop is not None and stop()):
                break
    return last_event_id
