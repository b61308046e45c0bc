"""Matching an intent against outbound messages (the reconciliation step), on plain models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentmail_tools import Message
from agentmail_tools.guards import IDEMPOTENCY_HEADER, GuardPolicy
from agentmail_tools.guards._core import GuardCore
from agentmail_tools.guards._rules import prepare_send

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SEND = prepare_send(
    GuardPolicy(),
    "mbx",
    to="Dana <dana@example.com>",
    subject="Re: Order",
    body_text="It ships today.\n",
    in_reply_to="<m1@example.com>",
    default_key="reply-abc",
)


def msg(**overrides):
    fields = {
        "id": "out_1",
        "direction": "OUTBOUND",
        "toAddresses": ["dana@example.com"],
        "subject": "Re: Order",
        "bodyText": "It ships today.\r\n",
        "inReplyTo": "<m1@example.com>",
        "headers": {},
        "createdAt": NOW.isoformat(),
    }
    fields.update(overrides)
    return Message.model_validate(fields)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (msg(headers={IDEMPOTENCY_HEADER: "reply-abc"}, bodyText="anything"), ("exact", None)),
        (msg(headers={IDEMPOTENCY_HEADER.lower(): "reply-abc"}), ("exact", None)),
        (msg(), (None, "lookalike")),  # the backend dropped our headers
        (msg(headers={IDEMPOTENCY_HEADER: "reply-other"}), (None, None)),  # another send of ours
        (msg(bodyText="Something else"), (None, None)),
        (msg(toAddresses=["dana@example.com", "lee@example.com"]), (None, None)),
        (msg(inReplyTo="<m2@example.com>"), (None, None)),
        (msg(createdAt=(NOW - timedelta(hours=1)).isoformat()), (None, None)),  # before the intent
    ],
)
def test_match(message, expected):
    exact, lookalike = GuardCore.match([message], SEND, NOW - timedelta(minutes=10))
    assert ("exact" if exact else None, "lookalike" if lookalike else None) == expected


def test_exact_beats_an_earlier_lookalike():
    first, second = msg(id="look"), msg(id="real", headers={IDEMPOTENCY_HEADER: "reply-abc"})
    exact, _ = GuardCore.match([first, second], SEND, NOW - timedelta(minutes=10))
    assert exact is second
