"""Read a message from whatever shape it arrives in: a model, a REST dict or an event payload.

The retrieval package accepts ``agentmail_tools.Message`` models, camelCase REST JSON and the
snake_case ``message.received`` event data alike, so indexing never depends on which path
(sync page, event, webhook) delivered the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["MessageRecord", "message_record", "to_datetime"]

# attribute (snake_case) -> alternative keys seen on the wire
_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id",),
    "mailbox_id": ("mailbox_id", "mailboxId"),
    "thread_id": ("thread_id", "threadId"),
    "message_id": ("message_id", "messageId"),
    "direction": ("direction",),
    "from_address": ("from_address", "fromAddress", "from_", "from"),
    "to": ("to_addresses", "toAddresses", "to"),
    "subject": ("subject",),
    "body_text": ("body_text", "bodyText"),
    "body_html": ("body_html", "bodyHtml"),
    "created_at": ("created_at", "createdAt", "received_at", "receivedAt", "date"),
    "in_reply_to": ("in_reply_to", "inReplyTo"),
}


def _get(obj: Any, name: str) -> Any:
    keys = _ALIASES.get(name, (name,))
    if isinstance(obj, Mapping):
        for key in keys:
            if obj.get(key) is not None:
                return obj[key]
        return None
    for key in keys:
        value = getattr(obj, key, None)
        if value is not None:
            return value
    extra = getattr(obj, "model_extra", None) or {}
    for key in keys:
        if extra.get(key) is not None:
            return extra[key]
    return None


def to_datetime(value: Any) -> datetime | None:
    """Parse an ISO 8601 string (``Z`` allowed) or pass a datetime through; naive means UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, int | float):
        dt = datetime.fromtimestamp(float(value), UTC)
    else:
        try:
            dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass(frozen=True)
class MessageRecord:
    """The fields of a message the retrieval package uses."""

    id: str
    mailbox_id: str
    thread_id: str | None
    rfc_message_id: str | None
    direction: str
    from_address: str
    subject: str
    body_text: str
    created_at: datetime | None

    @property
    def timestamp(self) -> float:
        """Seconds since the epoch (0 when unknown): what Chroma range filters compare."""
        return self.created_at.timestamp() if self.created_at else 0.0


def message_record(message: Any, *, mailbox_id: str | None = None) -> MessageRecord:
    """Build a :class:`MessageRecord` from a ``Message``, a REST dict or event data.

    Raises:
        ValueError: the message has no id, or no mailbox id and none was given.
    """
    message_id = _get(message, "id")
    if message_id is None and isinstance(message, Mapping):
        # Event data calls the Robotomail id "message_id" and has no RFC Message-ID field.
        message_id = message.get("message_id")
    if not message_id:
        msg = "message has no id; pass a Message, its REST JSON or message.received event data"
        raise ValueError(msg)
    owner = _get(message, "mailbox_id") or mailbox_id
    if not owner:
        msg = f"message {message_id} has no mailbox_id; pass mailbox_id="
        raise ValueError(msg)
    if mailbox_id is not None and owner != mailbox_id:
        msg = f"message {message_id} belongs to mailbox {owner}, not {mailbox_id}"
        raise ValueError(msg)
    body = _get(message, "body_text") or ""
    html = _get(message, "body_html")
    if not str(body).strip() and html:
        from agentmail_tools._mime import html_to_text

        body = html_to_text(str(html))
    rfc_id = _get(message, "message_id")
    if rfc_id == message_id:
        rfc_id = None
    sender = _get(message, "from_address") or ""
    if isinstance(sender, Mapping):
        sender = sender.get("address") or sender.get("email") or ""
    return MessageRecord(
        id=str(message_id),
        mailbox_id=str(owner),
        thread_id=None if _get(message, "thread_id") is None else str(_get(message, "thread_id")),
        rfc_message_id=None if rfc_id is None else str(rfc_id),
        direction=str(_get(message, "direction") or "INBOUND").upper(),
        from_address=str(sender),
        subject=str(_get(message, "subject") or ""),
        body_text=str(body),
        created_at=to_datetime(_get(message, "created_at")),
    )
