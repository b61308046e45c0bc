"""Webhook signatures: known vectors (computed with openssl), malformed signatures fail closed."""

from __future__ import annotations

import pytest

from agentmail_tools import EventEnvelope, sign_webhook, verify_webhook

BODY = b'{"event":"message.received","data":{"message_id":"msg_1"}}'
SECRET = "whsec_test"
GOOD = "12bdde31f99a3e05fd49e6d5cc8d96558a75dd85e29a05110eb06c1c4dce7f7c"

VECTORS = [
    (BODY, SECRET, GOOD),
    (b"", "key", "5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0"),
    (
        b"The quick brown fox jumps over the lazy dog",
        "key",
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8",
    ),
    (b"body", "s\u00e9cret", "e3fca42d4527928b7427a12d85244c8065121ba558ff84ce9d6df744f6c1bb0e"),  # UTF-8 key
]


@pytest.mark.parametrize(("body", "secret", "signature"), VECTORS)
def test_known_vectors(body: bytes, secret: str, signature: str) -> None:
    assert sign_webhook(body, secret) == signature
    assert verify_webhook(body, signature, secret) is True


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        GOOD.upper(),
        GOOD[:63],
        GOOD + "0",
        GOOD[:-1] + "0",
        "sha256=" + GOOD,
        " " + GOOD,
        GOOD + "\n",
        "z" * 64,
        "0" * 64,
    ],
    ids=[
        "none",
        "empty",
        "uppercase",
        "short",
        "long",
        "wrong",
        "prefixed",
        "space",
        "newline",
        "non-hex",
        "zeros",
    ],
)
def test_malformed_or_wrong_signatures_fail(signature: str | None) -> None:
    assert verify_webhook(BODY, signature, SECRET) is False


def test_other_body_secret_or_types_fail() -> None:
    assert verify_webhook(BODY + b" ", GOOD, SECRET) is False
    assert verify_webhook(BODY, GOOD, SECRET + "x") is False
    assert verify_webhook(BODY, GOOD, "") is False
    assert verify_webhook(BODY.decode(), GOOD, SECRET) is False  # type: ignore[arg-type]
    assert verify_webhook(bytearray(BODY), GOOD, SECRET) is True


def test_reserialised_json_no_longer_matches() -> None:
    import json

    assert verify_webhook(json.dumps(json.loads(BODY)).encode(), GOOD, SECRET) is False


def test_verified_body_parses_to_an_envelope() -> None:
    body = b'{"event":"message.received","timestamp":"2026-03-01T12:00:00Z","data":{"message_id":"m","mailbox_id":"mb","from":"a@b.co"}}'
    assert verify_webhook(body, sign_webhook(body, SECRET), SECRET)
    envelope = EventEnvelope.model_validate_json(body)
    assert envelope.message_received().from_ == "a@b.co"
