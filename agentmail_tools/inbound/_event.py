"""The one typed event every inbound source produces: webhook body, SSE frame or polled message.

Three transports deliver the same fact ("message X arrived in mailbox M") with three
different transport ids (a webhook delivery id, an SSE event id, nothing at all for
polling). The queue must enqueue that fact once, so an :class:`InboundEvent` carries a
*canonical* ``event_id`` derived from the fact itself for ``message.*`` events
(``message.received:<mailbox_id>:<message_id>``) and keeps the transport id apart in
``delivery_id``. Both become de-duplication keys (see :meth:`InboundEvent.dedup_keys`), and
downstream idempotency keys built from ``event_id`` are the same whichever way the event came.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .._errors import MailError

if TYPE_CHECKING:
    from .._models import MessageReceivedData

__all__ = ["EventSource", "InboundEvent", "InvalidEventError"]

EventSource = Literal["webhook", "sse", "poll", "manual"]

_MAX_ID_LEN = 512
_MAX_DEPTH = 32
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class InvalidEventError(MailError, ValueError):
    """An event body was not a ``{event, timestamp, data}`` object we can enqueue."""


def _now() -> datetime:
    return datetime.now(UTC)


def _as_dict(value: Any) -> dict[str, Any]:
    """Wire-shaped dict (``from``, not ``from_``) from a dict or a pydantic model."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        dumped = dump(by_alias=True, mode="json")
        if isinstance(dumped, dict):
            return dumped
    msg = f"event data must be an object, got {type(value).__name__}"
    raise InvalidEventError(msg)


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _too_deep(value: Any, limit: int) -> bool:
    """True if ``value`` nests containers deeper than ``limit`` (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _opt_str(value: Any) -> str | None:
    if isinstance(value, str) and value and len(value) <= _MAX_ID_LEN:
        return value
    return None


def _canonical_id(event: str, mailbox_id: str | None, message_id: str | None) -> str | None:
    if message_id and event.startswith("message."):
        return f"{event}:{mailbox_id or '-'}:{message_id}"
    return None


class InboundEvent(BaseModel):
    """One inbound event, whatever transport delivered it.

    Attributes:
        event_id: canonical id; ``<event>:<mailbox_id>:<message_id>`` for ``message.*``
            events, otherwise ``<source>:<delivery_id>``. Stable across transports, so use
            it to derive idempotency keys for actions taken on the event.
        event: event type, e.g. ``"message.received"``.
        mailbox_id: the mailbox concerned, when the payload names one.
        message_id: the Robotomail message id (``data.message_id``), when there is one.
        thread_id: the thread, when the payload names one.
        received_at: when the message was received (``data.received_at``), else the
            envelope timestamp, else when we accepted the event.
        occurred_at: the envelope ``timestamp``, if any.
        accepted_at: when this process accepted the event.
        source: ``"webhook"``, ``"sse"``, ``"poll"`` or ``"manual"``.
        delivery_id: the transport id (webhook delivery id, SSE event id, polled message id).
        payload: the event ``data`` exactly as on the wire (snake_case, ``from`` not ``from_``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(min_length=1, max_length=2 * _MAX_ID_LEN)
    event: str = Field(min_length=1, max_length=200)
    mailbox_id: str | None = None
    message_id: str | None = None
    thread_id: str | None = None
    received_at: datetime = Field(default_factory=_now)
    occurred_at: datetime | None = None
    accepted_at: datetime = Field(default_factory=_now)
    source: EventSource = "manual"
    delivery_id: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)

    @field_validator("event_id", "event")
    @classmethod
    def _no_controls(cls, value: str) -> str:
        if _CONTROL_RE.search(value):
            msg = "ids and event names must not contain control characters"
            raise ValueError(msg)
        return value

    def dedup_keys(self) -> list[str]:
        """Keys under which this event is a duplicate of an earlier one.

        The canonical ``event_id`` (so the same message by webhook, SSE and polling is one
        event) and the transport id (so a redelivery is recognised even if its payload
        changed shape).
        """
        keys = [f"event:{self.event_id}"]
        if self.delivery_id:
            keys.append(f"{self.source}:{self.delivery_id}")
        return keys

    def message_received(self) -> MessageReceivedData:
        """The payload typed as :class:`~agentmail_tools.MessageReceivedData` (``from_``, attachments ...).

        Raises:
            InvalidEventError: this is not a ``message.received`` event, or its payload is
                not shaped like one.
        """
        from .._models import MessageReceivedData

        if self.event != "message.received":
            msg = f"event {self.event_id} is {self.event!r}, not 'message.received'"
            raise InvalidEventError(msg)
        try:
            return MessageReceivedData.model_validate(self.payload)
        except ValueError as err:
            msg = f"event {self.event_id} has a malformed message.received payload: {err}"
            raise InvalidEventError(msg) from err

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def from_envelope(
        cls,
        envelope: Mapping[str, Any],
        *,
        source: EventSource,
        delivery_id: str | None = None,
    ) -> InboundEvent:
        """Build from a ``{event, timestamp, data}`` envelope (webhook body, SSE data).

        Raises:
            InvalidEventError: the envelope has no event name or its data is not an object.
        """
        if not isinstance(envelope, Mapping):
            msg = "event body must be a JSON object"
            raise InvalidEventError(msg)
        event = envelope.get("event")
        if not isinstance(event, str) or not event or len(event) > 200:
            msg = "event body needs a string 'event' (e.g. 'message.received')"
            raise InvalidEventError(msg)
        data = envelope.get("data", {})
        if not isinstance(data, Mapping):
            msg = "event 'data' must be a JSON object"
            raise InvalidEventError(msg)
        data = dict(data)
        if _too_deep(data, _MAX_DEPTH):
            # Real payloads nest 3 levels (data → attachments → attachment); a deeper one
            # would only exhaust the serialiser's recursion budget later, in the queue.
            msg = f"event data is nested deeper than {_MAX_DEPTH} levels"
            raise InvalidEventError(msg)
        occurred = _parse_time(envelope.get("timestamp"))
        mailbox_id = _opt_str(data.get("mailbox_id"))
        message_id = _opt_str(data.get("message_id"))
        delivery_id = _opt_str(delivery_id)
        if event.startswith("message.") and message_id is None:
            msg = f"a {event} event needs data.message_id (a non-empty string)"
            raise InvalidEventError(msg)
        event_id = _canonical_id(event, mailbox_id, message_id)
        if event_id is None:
            if delivery_id is None:
                # No id anywhere: the body's digest is the only stable identity left.
                blob = json.dumps(dict(envelope), sort_keys=True, default=str).encode()
                delivery_id = "sha256-" + hashlib.sha256(blob).hexdigest()
            event_id = f"{source}:{delivery_id}"
        try:
            return cls(
                event_id=event_id,
                event=event,
                mailbox_id=mailbox_id,
                message_id=message_id,
                thread_id=_opt_str(data.get("thread_id")),
                received_at=_parse_time(data.get("received_at")) or occurred or _now(),
                occurred_at=occurred,
                source=source,
                delivery_id=delivery_id,
                payload=data,
            )
        except ValueError as err:
            msg = f"invalid event: {err}"
            raise InvalidEventError(msg) from err

    @classmethod
    def from_webhook(cls, body: Mapping[str, Any], *, delivery_id: str | None = None) -> InboundEvent:
        """Build from a parsed webhook body and its ``X-Robotomail-Delivery-Id``."""
        return cls.from_envelope(body, source="webhook", delivery_id=delivery_id)

    @classmethod
    def from_stream_event(cls, stream_event: Any) -> InboundEvent:
        """Build from a client ``StreamEvent`` (``id``, ``event``, ``data: EventEnvelope``)."""
        envelope = _as_dict(getattr(stream_event, "data", None))
        if "event" not in envelope:
            envelope["event"] = getattr(stream_event, "event", None)
        if "data" not in envelope:
            envelope = {"event": envelope.pop("event"), "data": envelope}
        raw_id = getattr(stream_event, "id", None)
        return cls.from_envelope(envelope, source="sse", delivery_id=None if raw_id is None else str(raw_id))

    @classmethod
    def from_message(cls, message: Any, *, event: str = "message.received") -> InboundEvent:
        """Build a ``message.received`` event from a polled ``Message``.

        The payload has the same snake_case shape as the webhook/SSE ``message.received``
        data, so a consumer cannot tell (and need not care) how the event arrived.
        """
        message_id = getattr(message, "id", None)
        mailbox_id = getattr(message, "mailbox_id", None)
        if not isinstance(message_id, str) or not message_id:
            msg = "a polled message needs an id"
            raise InvalidEventError(msg)
        created = getattr(message, "created_at", None)
        created_dt = _parse_time(created)
        attachments = []
        for att in getattr(message, "attachments", None) or []:
            item = _as_dict(att)
            attachments.append(
                {
                    "id": item.get("id"),
                    "filename": item.get("filename"),
                    "content_type": item.get("contentType", item.get("content_type")),
                    "size_bytes": item.get("sizeBytes", item.get("size_bytes")),
                    "content_id": item.get("contentId", item.get("content_id")),
                }
            )
        data: dict[str, Any] = {
            "message_id": message_id,
            "mailbox_id": mailbox_id,
            "from": getattr(message, "from_address", None),
            "to": list(getattr(message, "to_addresses", None) or []),
            "cc": list(getattr(message, "cc_addresses", None) or []),
            "subject": getattr(message, "subject", None),
            "body_text": getattr(message, "body_text", None),
            "body_html": getattr(message, "body_html", None),
            "thread_id": getattr(message, "thread_id", None),
            "in_reply_to": getattr(message, "in_reply_to", None),
            "headers": dict(getattr(message, "headers", None) or {}),
            "attachments": attachments,
            "received_at": created_dt.isoformat() if created_dt else None,
            "rfc_message_id": getattr(message, "message_id", None),
        }
        envelope = {"event": event, "timestamp": data["received_at"], "data": data}
        return cls.from_envelope(envelope, source="poll", delivery_id=message_id)
