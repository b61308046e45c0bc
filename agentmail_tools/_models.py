"""Pydantic models for every Robotomail object.

Python attributes are snake_case. REST bodies are camelCase (``Message.from_address`` is
``fromAddress`` on the wire); webhook and SSE ``data`` payloads are snake_case on the wire,
with ``from`` exposed as ``from_``. Every model tolerates unknown fields (the API grows
additively) and keeps them (``model.model_extra``). Enum-like fields are plain ``str`` so
a new server value never breaks parsing. Dump with ``model_dump(by_alias=True)`` for the
wire shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "Account",
    "ApiKey",
    "Attachment",
    "AttachmentUpload",
    "CreatedApiKey",
    "DnsRecord",
    "DnsRecords",
    "Domain",
    "DomainVerification",
    "DomainVerificationResult",
    "DomainWithRecords",
    "EventAttachment",
    "EventEnvelope",
    "ListMetadata",
    "Mailbox",
    "Message",
    "MessagePage",
    "MessageReceivedData",
    "SearchHit",
    "SearchResults",
    "StreamEvent",
    "Suppression",
    "Thread",
    "ThreadDetail",
    "Webhook",
    "WebhookDelivery",
]


class _RestModel(BaseModel):
    """camelCase on the wire, snake_case in Python, unknown fields kept."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
    )


class _EventModel(BaseModel):
    """Webhook/SSE payloads: snake_case on the wire already, unknown fields kept."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")


class Account(_RestModel):
    """The account behind the API key, with usage counters."""

    id: str
    email: str = ""
    email_verified: bool = False
    slug: str = ""
    plan: str = ""
    billing_period: str | None = None
    suspended: bool = False
    suspended_reason: str | None = None
    suspended_at: datetime | None = None
    storage_used_bytes: int = 0
    storage_limit_bytes: int = 0
    mailbox_count: int = 0
    active_mailbox_count: int = 0
    sent_today: int = 0
    sent_this_month: int = 0
    received_today: int = 0
    bounced_today: int = 0
    monthly_inbound_count: int = 0
    monthly_inbound_limit: int = 0
    monthly_inbound_percentage: int | None = None
    monthly_inbound_reset_at: datetime | None = None


class ApiKey(_RestModel):
    """An API key as listed (the secret itself is shown only once, at creation)."""

    id: str
    name: str | None = None
    prefix: str | None = None
    created_at: datetime | None = None
    enabled: bool = True


class CreatedApiKey(_RestModel):
    """A freshly created API key: ``key`` is the secret, shown this once."""

    key: str
    prefix: str = ""
    scoped: bool = False


class Mailbox(_RestModel):
    """A mailbox an agent sends from and receives into."""

    id: str
    user_id: str | None = None
    domain_id: str | None = None
    address: str = ""
    full_address: str = ""
    display_name: str | None = None
    daily_send_count: int = 0
    daily_send_limit: int = 0
    monthly_send_count: int = 0
    monthly_send_limit: int = 0
    status: str = "ACTIVE"
    paused_by_billing: bool = False
    stalwart_provisioned: bool = False
    suspended_at: datetime | None = None
    suspended_reason: str | None = None
    suspension_incident_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    received_this_month: int | None = None


class Attachment(_RestModel):
    """An attachment's metadata; ``url`` (a time-limited download link) is set by ``attachments.get``."""

    id: str
    message_id: str | None = None
    user_id: str | None = None
    filename: str = ""
    content_type: str = "application/octet-stream"
    size_bytes: int = 0
    content_id: str | None = None
    created_at: datetime | None = None
    url: str | None = None


class AttachmentUpload(_RestModel):
    """The answer to an upload: pass ``id`` in ``messages.send(attachments=[...])``."""

    id: str
    filename: str = ""
    size_bytes: int = 0


class Message(_RestModel):
    """One email, inbound or outbound.

    ``message_id`` is the RFC 5322 Message-ID (pass it as ``in_reply_to`` to reply);
    ``id`` is the API's own id. ``attachments`` is filled by ``messages.get``.
    """

    id: str
    mailbox_id: str = ""
    direction: str = "INBOUND"
    message_id: str = ""
    in_reply_to: str | None = None
    thread_id: str | None = None
    from_address: str = ""
    to_addresses: list[str] = Field(default_factory=list)
    cc_addresses: list[str] = Field(default_factory=list)
    bcc_addresses: list[str] = Field(default_factory=list)
    subject: str = ""
    body_text: str = ""
    body_html: str | None = None
    headers: dict[str, Any] = Field(default_factory=dict)
    status: str = ""
    external_message_id: str | None = None
    has_attachments: bool = False
    attachments_dropped: bool = False
    attachments_dropped_reason: str | None = None
    event_dispatched_at: datetime | None = None
    over_limit: bool = False
    over_limit_reason: str | None = None
    created_at: datetime | None = None
    attachments: list[Attachment] = Field(default_factory=list)


class ListMetadata(_RestModel):
    """Extra information on a list: over-limit counts and upgrade hints."""

    over_limit_count: int | None = None
    upgrade: dict[str, Any] | None = None
    limit_hint: dict[str, Any] | None = None


class MessagePage(_RestModel):
    """One page of ``messages.list``: iterate it for the messages (newest first)."""

    messages: list[Message] = Field(default_factory=list)
    metadata: ListMetadata = Field(default_factory=ListMetadata)

    def __iter__(self) -> Iterator[Message]:  # type: ignore[override]
        return iter(self.messages)

    def __len__(self) -> int:
        return len(self.messages)

    def __getitem__(self, index: int) -> Message:
        return self.messages[index]


class Thread(_RestModel):
    """A conversation in one mailbox."""

    id: str
    mailbox_id: str = ""
    subject: str = ""
    message_count: int = 0
    last_message_at: datetime | None = None
    participants: list[str] = Field(default_factory=list)
    created_at: datetime | None = None


class ThreadDetail(Thread):
    """A thread with its messages, oldest first."""

    messages: list[Message] = Field(default_factory=list)


class DnsRecord(_RestModel):
    """One DNS record to publish (``priority`` only for MX)."""

    type: str
    host: str
    value: str
    priority: int | None = None


class DnsRecords(_RestModel):
    """The records that make a custom domain send and receive."""

    mx: DnsRecord | None = None
    send_mx: DnsRecord | None = None
    spf: DnsRecord | None = None
    dkim: list[DnsRecord] = Field(default_factory=list)
    dmarc: DnsRecord | None = None


class Domain(_RestModel):
    """A custom sending domain."""

    id: str
    user_id: str | None = None
    domain: str = ""
    status: str = "PENDING_VERIFICATION"
    mx_verified: bool = False
    spf_verified: bool = False
    dkim_verified: bool = False
    dmarc_verified: bool = False
    dkim_public_key: str | None = None
    dkim_selector: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class DomainWithRecords(_RestModel):
    """A domain with the DNS records to publish (``dns_records`` may be None on get)."""

    domain: Domain
    dns_records: DnsRecords | None = None


class DomainVerification(_RestModel):
    """Which records were found."""

    mx: bool = False
    spf: bool = False
    dkim: bool = False
    dmarc: bool = False
    all_verified: bool = False


class DomainVerificationResult(_RestModel):
    """The answer to ``domains.verify``."""

    domain: Domain
    verification: DomainVerification


class Webhook(_RestModel):
    """A webhook endpoint; ``secret`` is only set in the ``webhooks.create`` answer."""

    id: str
    user_id: str | None = None
    mailbox_id: str | None = None
    url: str = ""
    events: list[str] = Field(default_factory=list)
    headers: dict[str, str] | None = None
    status: str = "ACTIVE"
    failure_count: int = 0
    last_triggered_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    secret: str | None = None


class WebhookDelivery(_RestModel):
    """One delivery attempt series of an event to a webhook."""

    id: str
    event: str = ""
    response_status: int | None = None
    status: str = "PENDING"
    attempts: int = 0
    next_retry_at: datetime | None = None
    created_at: datetime | None = None


class Suppression(_RestModel):
    """An address the account never sends to."""

    id: str
    email: str = ""
    reason: str = "MANUAL"
    created_at: datetime | None = None


class SearchHit(_RestModel):
    """One result of ``messages.search`` (sandbox extension)."""

    message_id: str
    thread_id: str | None = None
    score: float = 0.0
    snippet: str = ""
    subject: str = ""
    from_: str = Field(default="", alias="from")
    created_at: datetime | None = None


class SearchResults(_RestModel):
    """Ranked hits of ``messages.search`` and the total number of matches."""

    hits: list[SearchHit] = Field(default_factory=list)
    total: int = 0

    def __iter__(self) -> Iterator[SearchHit]:  # type: ignore[override]
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)


class EventAttachment(_EventModel):
    """An attachment as described in a ``message.received`` event."""

    id: str
    filename: str = ""
    content_type: str = "application/octet-stream"
    size_bytes: int = 0
    content_id: str | None = None
    download_url: str | None = None


class MessageReceivedData(_EventModel):
    """The ``data`` of a ``message.received`` event (webhook body or SSE frame)."""

    message_id: str
    mailbox_id: str
    mailbox_address: str = ""
    from_: str = Field(default="", alias="from")
    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    subject: str = ""
    body_text: str = ""
    body_html: str | None = None
    thread_id: str | None = None
    in_reply_to: str | None = None
    headers: dict[str, Any] = Field(default_factory=dict)
    attachments: list[EventAttachment] = Field(default_factory=list)
    received_at: datetime | None = None
    attachments_dropped: bool = False
    attachments_dropped_reason: str | None = None


class EventEnvelope(_EventModel):
    """A webhook body or SSE ``data``: ``{"event", "timestamp", "data"}``.

    Parse a webhook only after :func:`~agentmail_tools.verify_webhook` accepted the raw
    bytes: ``EventEnvelope.model_validate_json(raw_body)``.
    """

    event: str
    timestamp: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    def message_received(self) -> MessageReceivedData:
        """Return ``data`` typed as :class:`MessageReceivedData`.

        Raises:
            ValueError: if this is not a ``message.received`` event.
        """
        if self.event != "message.received":
            msg = f"event is {self.event!r}, not 'message.received'"
            raise ValueError(msg)
        return MessageReceivedData.model_validate(self.data)


class StreamEvent(BaseModel):
    """One frame of ``events.stream()``.

    Attributes:
        id: the event id (carried over from an earlier frame when this one had none);
            pass it as ``last_event_id`` to resume.
        event: the SSE event name (``message.received``, ..., or ``reconnect``).
        data: the parsed envelope (for ``reconnect`` frames: ``event="reconnect"``, empty data).
        raw: the frame's ``data`` text exactly as received.
    """

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    event: str = "message"
    data: EventEnvelope
    raw: str = ""
