"""Models: contract objects parse, names map both ways, unknown fields survive, dumps are wire-shaped."""

from __future__ import annotations

from typing import Any

import pytest
from _client_support import (
    account,
    attachment,
    component,
    delivery,
    domain,
    mailbox,
    message,
    received_data,
    suppression,
    thread,
    webhook,
)

import agentmail_tools as am

CONTRACT_OBJECTS = [
    ("Account", am.Account, account()),
    ("Mailbox", am.Mailbox, mailbox(receivedThisMonth=3)),
    ("Message", am.Message, message(attachments=[attachment()])),
    ("Attachment", am.Attachment, attachment()),
    ("Thread", am.Thread, thread()),
    ("ThreadDetail", am.ThreadDetail, {**thread(), "messages": [message()]}),
    ("Domain", am.Domain, domain()),
    ("Webhook", am.Webhook, webhook()),
    ("WebhookCreated", am.Webhook, {**webhook(), "secret": "whsec"}),
    ("WebhookDelivery", am.WebhookDelivery, delivery()),
    ("SuppressionEntry", am.Suppression, suppression()),
    (
        "MessageReceivedData",
        am.MessageReceivedData,
        received_data(attachments_dropped=True, attachments_dropped_reason="size"),
    ),
]


@pytest.mark.parametrize(
    ("schema", "model", "obj"), CONTRACT_OBJECTS, ids=[c[0] + "-" + c[1].__name__ for c in CONTRACT_OBJECTS]
)
def test_contract_objects_round_trip(schema: str, model: type, obj: dict[str, Any]) -> None:
    assert not [e.message for e in component(schema).iter_errors(obj)], "fixture breaks the contract"
    parsed = model.model_validate(obj)
    dumped = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
    # every wire key comes back under its wire name
    assert set(dumped) == set(obj)
    assert not list(component(schema).iter_errors(dumped))


def test_snake_case_attributes_and_population_by_name() -> None:
    msg = am.Message.model_validate(message())
    assert msg.from_address == "ann@example.com" and msg.to_addresses == ["support@robotomail.co"]
    assert msg.message_id == "<abc@example.com>" and msg.thread_id == "thr_1"
    built = am.Message(id="m", from_address="x@y.z", body_text="hi")
    assert built.model_dump(by_alias=True)["fromAddress"] == "x@y.z"


def test_unknown_fields_and_enum_values_are_tolerated() -> None:
    msg = am.Message.model_validate(message(status="QUARANTINED", brandNewField=[1, 2]))
    assert msg.status == "QUARANTINED"
    assert msg.model_extra == {"brandNewField": [1, 2]}


def test_message_received_from_alias() -> None:
    data = am.MessageReceivedData.model_validate(received_data())
    assert data.from_ == "ann@example.com"
    assert am.MessageReceivedData(message_id="m", mailbox_id="b", from_="z@y.x").from_ == "z@y.x"
    assert data.model_dump(by_alias=True)["from"] == "ann@example.com"
    assert isinstance(data.attachments[0], am.EventAttachment)


def test_search_hit_matches_the_message_search_protocol_fields() -> None:
    hit = am.SearchHit(message_id="m", score=1.0, snippet="s")
    for name in ("message_id", "thread_id", "score", "snippet"):
        assert hasattr(hit, name)
    results = am.SearchResults(hits=[hit], total=1)
    assert list(results) == [hit] and len(results) == 1


def test_minimal_objects_parse() -> None:
    """The sandbox and older servers may omit optional fields: only ids are required."""
    assert am.Message(id="m").attachments == []
    assert am.Mailbox(id="b").status == "ACTIVE"
    assert am.Thread(id="t").participants == []
