"""The pure guard rules, one table per rule and per header."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentmail_tools._errors import InvalidRequestError, MailError
from agentmail_tools.guards import (
    AUTO_SUBMITTED_HEADER,
    IDEMPOTENCY_HEADER,
    GuardPolicy,
    GuardRefusal,
    HeaderInjection,
    LoopDetected,
    MessageTooLarge,
    NewConversationNotAllowed,
    RecipientNotAllowed,
    ReplyCapReached,
    SuppressedRecipient,
    idempotency_key,
    loop_verdict,
)
from agentmail_tools.guards._rules import check_recipients, check_suppressed, prepare_send, reply_subject

POLICY = GuardPolicy()


def prep(policy: GuardPolicy = POLICY, **overrides):
    mailbox_id = overrides.pop("mailbox_id", "mbx_1")
    kwargs = {"to": "ann@example.com", "subject": "Hello", "body_text": "Hi there", "default_key": "k-1"}
    kwargs.update(overrides)
    return prepare_send(policy, mailbox_id, **kwargs)


# -- idempotency keys ---------------------------------------------------------------


def test_idempotency_key_is_stable_and_pinned():
    # Pinned: a change would make every in-flight key after an upgrade send twice.
    assert idempotency_key("evt_1", "reply") == "reply-27bf873457e1d408696cf6ab2c9b404bac19a531"
    assert idempotency_key("evt_1", "reply") == idempotency_key("evt_1", "reply")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("evt_1", "reply"), ("evt_2", "reply")),
        (("evt_1", "reply"), ("evt_1", "escalate")),
        (("a:b", "c"), ("a", "b:c")),
        (("a\x1f1:b", "c"), ("a", "1:b\x1fc")),
    ],
)
def test_idempotency_key_distinguishes_inputs(a, b):
    assert idempotency_key(*a) != idempotency_key(*b)


@given(st.text(min_size=1).filter(str.strip), st.text(min_size=1).filter(str.strip))
def test_idempotency_key_is_header_safe(event_id, action):
    key = idempotency_key(event_id, action)
    assert re.fullmatch(r"[a-z0-9-]{1,80}", key), key
    # and the guard accepts it as a caller-given key
    assert prep(idempotency_key=key).headers[IDEMPOTENCY_HEADER] == key


@pytest.mark.parametrize(
    ("event_id", "action"), [("", "reply"), ("evt", ""), ("  ", "reply"), (None, "reply")]
)
def test_idempotency_key_rejects_empty(event_id, action):
    with pytest.raises(InvalidRequestError):
        idempotency_key(event_id, action)


# -- header injection: CR/LF/NUL in every header-bound field ------------------------

BAD_SEQUENCES = ["\r", "\n", "\r\n", "\x00", "\r\nBcc: victim@evil.example"]
HEADER_BOUND = {
    "to": lambda bad: {"to": f"ann@example.com{bad}"},
    "to-list": lambda bad: {"to": ["ok@example.com", f"ann{bad}@example.com"]},
    "cc": lambda bad: {"cc": [f"bob@example.com{bad}"]},
    "bcc": lambda bad: {"bcc": f"{bad}eve@example.com"},
    "subject": lambda bad: {"subject": f"Hello{bad}there"},
    "in_reply_to": lambda bad: {"in_reply_to": f"<a@b>{bad}"},
    "header-name": lambda bad: {"headers": {f"X-Custom-A{bad}": "v"}},
    "header-value": lambda bad: {"headers": {"X-Custom-A": f"v{bad}x"}},
    "idempotency_key": lambda bad: {"idempotency_key": f"key{bad}"},
}


@pytest.mark.parametrize("bad", BAD_SEQUENCES, ids=repr)
@pytest.mark.parametrize("field", sorted(HEADER_BOUND))
def test_crlf_in_every_header_bound_field_is_refused(field, bad):
    with pytest.raises(HeaderInjection) as info:
        prep(**HEADER_BOUND[field](bad))
    err = info.value
    assert err.code == "header_injection"
    assert "CR, LF or NUL" in err.reason
    assert err.retry_after is None
    assert isinstance(err, GuardRefusal) and isinstance(err, MailError)


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("X-Custom-Ticket", True),
        ("x-custom-ticket", True),
        ("X-Robotomail-Tag", True),
        ("X-ROBOTOMAIL-TAG", True),
        ("Bcc", False),
        ("To", False),
        ("From", False),
        ("Subject", False),
        ("Reply-To", False),
        ("Received", False),
        ("Auto-Submitted", False),
        ("Message-ID", False),
        ("X-Mailer", False),
        ("X-Robotomail-Idempotency-Key", False),  # reserved: set by the guard
        ("x-robotomail-auto-submitted", False),  # reserved: set by the guard
        ("X-Custom-A B", False),
        ("X-Custom-A:B", False),
        ("X-Custom-\u00e9", False),
        ("", False),
    ],
)
def test_header_names(name, allowed):
    if allowed:
        assert prep(headers={name: "v"}).headers[name] == "v"
    else:
        with pytest.raises(HeaderInjection) as info:
            prep(headers={name: "v"})
        assert info.value.code == "header_injection"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("plain", True),
        ("tab\tok", True),
        ("unicode ✓", True),
        ("bell\x07", False),
        ("del\x7f", False),
        ("esc\x1b[0m", False),
    ],
)
def test_header_values(value, ok):
    if ok:
        assert prep(headers={"X-Custom-A": value}).headers["X-Custom-A"] == value
    else:
        with pytest.raises(HeaderInjection):
            prep(headers={"X-Custom-A": value})


def test_duplicate_header_names_differing_in_case_are_refused():
    with pytest.raises(HeaderInjection, match="twice"):
        prep(headers={"X-Custom-A": "1", "x-custom-a": "2"})


def test_guard_headers_are_added():
    send = prep(headers={"X-Custom-A": "1"}, idempotency_key="reply-abc")
    assert send.headers == {
        "X-Custom-A": "1",
        AUTO_SUBMITTED_HEADER: "auto-replied",
        IDEMPOTENCY_HEADER: "reply-abc",
    }
    assert AUTO_SUBMITTED_HEADER == "X-Robotomail-Auto-Submitted"
    assert send.send_kwargs()["headers"] is send.headers
    # no caller key: the default is used (random per call in the guard)
    assert prep().key == "k-1"


@pytest.mark.parametrize("key", ["has space", "semi;colon", "x" * 201, "ü"])
def test_malformed_idempotency_keys_are_invalid(key):
    with pytest.raises(InvalidRequestError):
        prep(idempotency_key=key)


# -- size limits ---------------------------------------------------------------------

SMALL = GuardPolicy(
    max_body_bytes=100,
    max_subject_chars=20,
    max_recipients=3,
    max_attachments=2,
    max_headers=2,
    max_header_value_chars=10,
)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"subject": "s" * 21}, "subject"),
        ({"body_text": "b" * 101}, "body"),
        ({"body_text": "é" * 51}, "body"),  # bytes, not characters
        ({"body_text": "b" * 60, "body_html": "h" * 41}, "body"),
        ({"to": ["a@x.com", "b@x.com"], "cc": ["c@x.com"], "bcc": ["d@x.com"]}, "recipients"),
        ({"attachments": ["a1", "a2", "a3"]}, "attachments"),
        ({"headers": {"X-Custom-A": "1", "X-Custom-B": "2", "X-Custom-C": "3"}}, "headers"),
        ({"headers": {"X-Custom-A": "v" * 11}}, "headers"),
        ({"in_reply_to": "<" + "m" * 1000 + ">"}, "in_reply_to"),
    ],
)
def test_size_limits(overrides, field):
    with pytest.raises(MessageTooLarge) as info:
        prep(SMALL, **overrides)
    assert info.value.code == "too_large"
    assert info.value.details["field"] == field


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": "s" * 20},
        {"body_text": "b" * 100},
        {"body_text": "b" * 60, "body_html": "h" * 40},
        {"to": ["a@x.com", "b@x.com"], "cc": ["c@x.com"]},
        {"attachments": ["a1", "a2"]},
        {"headers": {"X-Custom-A": "v" * 10, "X-Custom-B": "2"}},
    ],
)
def test_at_the_limit_is_fine(overrides):
    prep(SMALL, **overrides)


def test_recipients_are_normalised_and_deduplicated():
    send = prep(to=["Ann <ann@Example.COM>", "ann@example.com"], cc="bob@example.com")
    assert send.to == ["ann@example.com"]
    assert send.recipients == ["ann@example.com", "bob@example.com"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"to": []},
        {"to": "not-an-address"},
        {"to": [3]},
        {"subject": None},
        {"body_text": b"bytes"},
        {"mailbox_id": ".."},
        {"thread_id": "bad\x01id"},
    ],
)
def test_malformed_arguments_are_invalid_requests(overrides):
    with pytest.raises(InvalidRequestError):
        prep(**overrides)


# -- suppression -------------------------------------------------------------------------


def test_suppression_is_case_insensitive_and_names_the_recipient():
    send = prep(to=["ok@example.com"], cc=["Gone@Example.com"])
    with pytest.raises(SuppressedRecipient) as info:
        check_suppressed(send.recipients, frozenset({"gone@example.com"}))
    assert info.value.code == "suppressed"
    assert info.value.details["recipients"] == ["Gone@example.com"]
    assert "Gone@example.com" in info.value.reason
    check_suppressed(send.recipients, frozenset({"other@example.com"}))


# -- recipient policy --------------------------------------------------------------------

PARTICIPANTS = frozenset({"ann@example.com", "bob@example.com"})


@pytest.mark.parametrize(
    ("policy", "overrides", "participants", "expected"),
    [
        # replies: participants only by default
        (POLICY, {"thread_id": "thr", "to": "ann@example.com"}, PARTICIPANTS, None),
        (POLICY, {"thread_id": "thr", "to": "ann@example.com", "cc": "bob@example.com"}, PARTICIPANTS, None),
        (
            POLICY,
            {"thread_id": "thr", "to": "ann@example.com", "bcc": "eve@evil.example"},
            PARTICIPANTS,
            RecipientNotAllowed,
        ),
        (POLICY, {"thread_id": "thr", "to": "eve@evil.example"}, PARTICIPANTS, RecipientNotAllowed),
        (
            POLICY,
            {"in_reply_to": "<m@x>", "to": "ann@example.com"},
            None,
            RecipientNotAllowed,
        ),  # thread unknown
        # allow-lists admit outsiders in a thread
        (
            GuardPolicy(allowed_addresses=["eve@evil.example"]),
            {"thread_id": "thr", "to": "eve@evil.example"},
            PARTICIPANTS,
            None,
        ),
        (
            GuardPolicy(allowed_domains=["partner.example"]),
            {"thread_id": "thr", "to": "x@partner.example"},
            PARTICIPANTS,
            None,
        ),
        (
            GuardPolicy(allowed_domains=["partner.example"]),
            {"thread_id": "thr", "to": "x@sub.partner.example"},
            PARTICIPANTS,
            RecipientNotAllowed,
        ),
        (
            GuardPolicy(allowed_domains=["*.partner.example"]),
            {"thread_id": "thr", "to": "x@sub.partner.example"},
            PARTICIPANTS,
            None,
        ),
        (
            GuardPolicy(allowed_domains=["partner.example"]),
            {"thread_id": "thr", "to": "x@evilpartner.example"},
            PARTICIPANTS,
            RecipientNotAllowed,
        ),
        (
            GuardPolicy(reply_to_participants=False),
            {"thread_id": "thr", "to": "ann@example.com"},
            PARTICIPANTS,
            RecipientNotAllowed,
        ),
        # new conversations need explicit permission
        (POLICY, {"to": "ann@example.com"}, None, NewConversationNotAllowed),
        (
            GuardPolicy(allowed_addresses=["ann@example.com"]),
            {"to": "ann@example.com"},
            None,
            NewConversationNotAllowed,
        ),
        (GuardPolicy(allow_new_conversations=True), {"to": "anyone@example.org"}, None, None),
        (
            GuardPolicy(allow_new_conversations=True, allowed_domains=["example.com"]),
            {"to": "ann@example.com"},
            None,
            None,
        ),
        (
            GuardPolicy(allow_new_conversations=True, allowed_domains=["example.com"]),
            {"to": "x@example.org"},
            None,
            RecipientNotAllowed,
        ),
    ],
)
def test_recipient_policy(policy, overrides, participants, expected):
    send = prep(policy, **overrides)
    if expected is None:
        check_recipients(policy, send, participants)
        return
    with pytest.raises(expected) as info:
        check_recipients(policy, send, participants)
    assert type(info.value) is expected
    assert info.value.code == expected.default_code
    assert info.value.reason.endswith(".")


def test_new_conversation_code():
    with pytest.raises(RecipientNotAllowed) as info:
        check_recipients(POLICY, prep(), None)
    assert info.value.code == "new_conversation_not_allowed"
    assert "new conversation" in info.value.reason


# -- loop prevention ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "sender", "rule"),
    [
        ({"Auto-Submitted": "auto-replied"}, "ann@example.com", "Auto-Submitted"),
        ({"auto-submitted": "auto-generated; type=vacation"}, "ann@example.com", "Auto-Submitted"),
        ({"Auto-Submitted": "auto-notified"}, "ann@example.com", "Auto-Submitted"),
        ({"Auto-Submitted": ""}, "ann@example.com", "Auto-Submitted"),
        ({"X-Robotomail-Auto-Submitted": "auto-replied"}, "ann@example.com", "X-Robotomail-Auto-Submitted"),
        ({"Precedence": "bulk"}, "ann@example.com", "Precedence"),
        ({"Precedence": "List"}, "ann@example.com", "Precedence"),
        ({"Precedence": " junk "}, "ann@example.com", "Precedence"),
        ({"Precedence": "auto_reply"}, "ann@example.com", "Precedence"),
        ({"List-Id": "<news.example.com>"}, "ann@example.com", "List-Id"),
        ({"List-Unsubscribe": "<mailto:u@x>"}, "ann@example.com", "List-Unsubscribe"),
        ({"list-unsubscribe": ["<a>", "<b>"]}, "ann@example.com", "List-Unsubscribe"),
        ({"X-Auto-Response-Suppress": "OOF, AutoReply"}, "ann@example.com", "X-Auto-Response-Suppress"),
        ({"X-Auto-Response-Suppress": "All"}, "ann@example.com", "X-Auto-Response-Suppress"),
        ({"X-Autoreply": "yes"}, "ann@example.com", "X-Autoreply"),
        ({"X-Autorespond": "1"}, "ann@example.com", "X-Autorespond"),
        ({"Return-Path": "<>"}, "ann@example.com", "Return-Path"),
        (
            {"Content-Type": "multipart/report; report-type=delivery-status"},
            "ann@example.com",
            "Content-Type",
        ),
        ({}, "MAILER-DAEMON@mx.example.com", "sender"),
        ({}, "postmaster@example.com", "sender"),
        ({}, "no-reply@shop.example", "sender"),
        ({}, "noreply@shop.example", "sender"),
        ({}, "NoReply+abc@shop.example", "sender"),
        ({}, "do-not-reply@shop.example", "sender"),
        ({}, "donotreply@shop.example", "sender"),
        ({}, "bounce@shop.example", "sender"),
        ({}, "bounces+123-abc@lists.example", "sender"),
        ({}, "bounce-42@mail.example", "sender"),
        ({}, "Shop <noreply@shop.example>", "sender"),
        ({}, "agent@sandbox.robotomail.test", "own-address"),
        ({}, "Agent <AGENT@sandbox.robotomail.test>", "own-address"),
        ({}, "", "From"),
        ({}, "not an address", "From"),
    ],
)
def test_loop_verdict_refuses(headers, sender, rule):
    verdict = loop_verdict(
        POLICY, headers=headers, from_address=sender, own_addresses=["agent@sandbox.robotomail.test"]
    )
    assert not verdict
    assert verdict.answer is False
    assert verdict.code == "loop"
    assert verdict.rule == rule
    assert verdict.reason.endswith(".")


@pytest.mark.parametrize(
    ("headers", "sender"),
    [
        ({}, "ann@example.com"),
        ({"Auto-Submitted": "no"}, "ann@example.com"),
        ({"Auto-Submitted": " No "}, "ann@example.com"),
        ({"Precedence": "first-class"}, "ann@example.com"),
        ({"X-Auto-Response-Suppress": "DR, RN"}, "ann@example.com"),
        ({"Return-Path": "<ann@example.com>"}, "ann@example.com"),
        ({"Content-Type": "multipart/alternative"}, "ann@example.com"),
        ({}, "replyguy@example.com"),  # no-reply must not match every "reply"
        ({}, "bouncer@club.example"),  # nor "bounce" every bouncer
        ({}, "Ann <ann@example.com>"),
    ],
)
def test_loop_verdict_allows_people(headers, sender):
    verdict = loop_verdict(
        POLICY, headers=headers, from_address=sender, own_addresses=["agent@sandbox.robotomail.test"]
    )
    assert verdict
    assert verdict.code is None


def test_outbound_messages_are_never_answered():
    verdict = loop_verdict(POLICY, headers={}, from_address="ann@example.com", direction="OUTBOUND")
    assert not verdict and verdict.rule == "direction"


def test_policy_own_addresses_count():
    policy = GuardPolicy(own_addresses=["alias@example.com"])
    assert not loop_verdict(policy, headers={}, from_address="alias@example.com")


def test_loop_refusals_subclass():
    assert issubclass(ReplyCapReached, LoopDetected)
    assert ReplyCapReached("x").code == "reply_cap"


# -- reply subject ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Order 42", "Re: Order 42"),
        ("Re: Order 42", "Re: Order 42"),
        ("RE:Order 42", "RE:Order 42"),
        ("Fwd: Order", "Re: Fwd: Order"),
        ("", "Re:"),
        (None, "Re:"),
        ("Hi\r\nBcc: eve@evil.example", "Re: Hi Bcc: eve@evil.example"),
    ],
)
def test_reply_subject(subject, expected):
    assert reply_subject(subject) == expected


# -- policy validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"allowed_domains": ["@example.com"]},
        {"allowed_domains": ["exa mple.com"]},
        {"allowed_addresses": ["nope"]},
        {"allowed_addresses": ["a@b.com\r\nBcc: x@y.com"]},
        {"allowed_header_prefixes": ["X-"]},
        {"rate_per_minute": 0},
        {"max_replies_per_thread": -1},
        {"unknown_option": True},
    ],
)
def test_policy_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        GuardPolicy(**kwargs)


def test_policy_defaults():
    p = GuardPolicy()
    assert p.allow_new_conversations is False
    assert p.max_replies_per_thread == 3
    assert p.reply_window_seconds == 3600
    assert p.rate_per_minute == 20
    assert p.burst_size == 20
    assert GuardPolicy(rate_per_minute=0.5).burst_size == 1
    assert GuardPolicy(allowed_addresses="Ann <Ann@Example.com>").allowed_addresses == {"ann@example.com"}


@given(
    field=st.sampled_from(sorted(HEADER_BOUND)),
    prefix=st.text(max_size=20),
    bad=st.sampled_from(["\r", "\n", "\x00"]),
    suffix=st.text(max_size=20),
)
def test_property_control_characters_never_pass(field, prefix, bad, suffix):
    """Wherever CR/LF/NUL sits in a header-bound value, the send is refused before anything else."""
    overrides = HEADER_BOUND[field](prefix + bad + suffix)
    with pytest.raises(HeaderInjection):
        prep(**overrides)
