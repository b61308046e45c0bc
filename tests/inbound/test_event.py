"""InboundEvent: one canonical identity for the same fact, whatever transport delivered it."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from agentmail_tools.inbound import InboundEvent, InvalidEventError

from .conftest import envelope


def test_webhook_body_becomes_typed_event() -> None:
    event = InboundEvent.from_webhook(envelope("msg_9", thread_id="thr_9"), delivery_id="dlv_9")
    assert event.event == "message.received"
    assert event.event_id == "message.received:mbx_1:msg_9"
    assert (event.mailbox_id, event.message_id, event.thread_id) == ("mbx_1", "msg_9", "thr_9")
    assert event.source == "webhook" and event.delivery_id == "dlv_9"
    assert event.received_at == datetime(2026, 11, 25, tzinfo=UTC)
    assert event.occurred_at == datetime(2026, 11, 25, 0, 0, 1, tzinfo=UTC)
    assert event.payload["from"] == "ann@example.com"
    assert event.dedup_keys() == ["event:message.received:mbx_1:msg_9", "webhook:dlv_9"]


def test_same_message_has_same_event_id_across_transports() -> None:
    body = envelope("msg_7")
    by_hook = InboundEvent.from_webhook(body, delivery_id="dlv_a")
    by_sse = InboundEvent.from_stream_event(SimpleNamespace(id="42", event="message.received", data=body))
    polled = SimpleNamespace(
        id="msg_7",
        mailbox_id="mbx_1",
        direction="INBOUND",
        message_id="<abc@example.com>",
        from_address="ann@example.com",
        to_addresses=["agent@sandbox.robotomail.test"],
        cc_addresses=[],
        subject="Hello",
        body_text="Hi there",
        body_html=None,
        thread_id="thr_1",
        in_reply_to=None,
        headers={"X-Custom-A": "1"},
        created_at=datetime(2026, 11, 25, tzinfo=UTC),
        attachments=None,
    )
    by_poll = InboundEvent.from_message(polled)
    assert by_hook.event_id == by_sse.event_id == by_poll.event_id
    assert (by_sse.source, by_sse.delivery_id) == ("sse", "42")
    assert by_poll.payload["from"] == "ann@example.com"
    assert by_poll.payload["rfc_message_id"] == "<abc@example.com>"
    assert by_poll.received_at == datetime(2026, 11, 25, tzinfo=UTC)


def test_stream_event_with_pydantic_envelope_uses_wire_names() -> None:
    from pydantic import BaseModel, ConfigDict, Field

    class Data(BaseModel):
        model_config = ConfigDict(populate_by_name=True, extra="allow")
        message_id: str
        mailbox_id: str
        from_: str = Field(alias="from")

    class Envelope(BaseModel):
        event: str
        timestamp: str
        data: Data

    env = Envelope(
        event="message.received",
        timestamp="2026-11-25T00:00:00Z",
        data=Data(message_id="m", mailbox_id="b", from_="x@y.co"),
    )
    event = InboundEvent.from_stream_event(SimpleNamespace(id="7", event="message.received", data=env))
    assert event.payload["from"] == "x@y.co"
    assert event.event_id == "message.received:b:m"


def test_events_without_message_id_fall_back_to_transport_id() -> None:
    event = InboundEvent.from_webhook(
        {"event": "mailbox.updated", "timestamp": "x", "data": {}}, delivery_id="d1"
    )
    assert event.event_id == "webhook:d1"
    assert event.occurred_at is None
    anonymous = InboundEvent.from_webhook({"event": "mailbox.updated", "data": {"a": 1}})
    assert anonymous.event_id.startswith("webhook:sha256-")
    again = InboundEvent.from_webhook({"data": {"a": 1}, "event": "mailbox.updated"})
    assert again.event_id == anonymous.event_id


@pytest.mark.parametrize(
    "body",
    [
        [],
        "message.received",
        {},
        {"event": ""},
        {"event": 5, "data": {}},
        {"event": "message.received", "data": []},
        {"event": "message.received", "data": "x"},
        {"event": "a\nb", "data": {}},
    ],
)
def test_malformed_envelopes_are_refused_clearly(body: object) -> None:
    with pytest.raises(InvalidEventError):
        InboundEvent.from_webhook(body, delivery_id="d")  # type: ignore[arg-type]


def test_roundtrip_through_json_is_lossless() -> None:
    event = InboundEvent.from_webhook(envelope("m1"), delivery_id="d1")
    assert InboundEvent.model_validate_json(event.model_dump_json()) == event


def test_message_received_payload_is_available_typed() -> None:
    event = InboundEvent.from_webhook(envelope("m5", subject="Refund?"), delivery_id="d5")
    data = event.message_received()
    assert data.message_id == "m5" and data.from_ == "ann@example.com" and data.subject == "Refund?"
    other = InboundEvent.from_webhook(envelope("m5", event="message.delivered"), delivery_id="d6")
    with pytest.raises(InvalidEventError):
        other.message_received()
