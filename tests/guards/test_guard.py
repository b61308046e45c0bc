"""MailGuard / AsyncMailGuard on the in-process sandbox (each test runs sync and async)."""

from __future__ import annotations

import pytest

from agentmail_tools import AmbiguousSendError, InvalidRequestError
from agentmail_tools.guards import (
    AUTO_SUBMITTED_HEADER,
    IDEMPOTENCY_HEADER,
    GuardPolicy,
    GuardRefusal,
    HeaderInjection,
    LoopDetected,
    MailboxNotActive,
    MessageTooLarge,
    NewConversationNotAllowed,
    RateLimited,
    RecipientNotAllowed,
    ReplyCapReached,
    SendInFlight,
    SuppressedRecipient,
    idempotency_key,
)
from agentmail_tools.sandbox import SandboxLimits

from .conftest import Crash, CrashAfterSend

OPEN = GuardPolicy(allow_new_conversations=True)


# -- replies and the headers they carry ----------------------------------------------


def test_reply_goes_in_thread_with_guard_headers(world):
    inbound = world.from_customer()
    g = world.guard()
    key = idempotency_key("evt_1", "reply")
    sent = g.reply(world.agent.id, inbound, body_text="We are on it.", idempotency_key=key)
    assert sent.thread_id == inbound.thread_id
    assert sent.in_reply_to == inbound.message_id
    assert sent.subject == "Re: Help with my order"
    assert [a.lower() for a in sent.to_addresses] == ["dana@example.com"]
    stored = world.admin.messages.get(world.agent.id, sent.id)
    assert stored.headers[AUTO_SUBMITTED_HEADER] == "auto-replied"
    assert stored.headers[IDEMPOTENCY_HEADER] == key
    (out,) = world.sandbox.outbox(include_raw=True)
    raw = out["raw"] if isinstance(out["raw"], bytes) else str(out["raw"]).encode()
    assert b"X-Robotomail-Auto-Submitted: auto-replied" in raw


def test_another_account_mailbox_is_ours(world):
    inbound = world.from_mailbox()
    verdict = world.guard().should_answer(inbound)
    assert (verdict.answer, verdict.rule) == (False, "own-address")


def test_agent_to_agent_loop_is_cut_by_the_marker_alone(world):
    # Count only the receiving mailbox as ours, so the marker header is what stops the loop.
    policy = GuardPolicy(account_mailboxes_are_own=False)
    inbound = world.from_mailbox()
    agent_guard = world.guard(policy)
    assert agent_guard.should_answer(inbound).answer
    agent_guard.reply(world.agent.id, inbound, body_text="Auto answer", idempotency_key="k-a")
    copy = world.admin.messages.list(world.customer.id, direction="INBOUND").messages[0]
    assert copy.headers[AUTO_SUBMITTED_HEADER] == "auto-replied"
    other = world.guard(policy)
    verdict = other.should_answer(copy)
    assert not verdict.answer and verdict.rule == AUTO_SUBMITTED_HEADER
    with pytest.raises(LoopDetected) as info:
        other.reply(world.customer.id, copy, body_text="Auto answer to the auto answer")
    assert info.value.code == "loop"
    assert len(world.outbound(world.customer.id)) == 1  # only the first, human-sent message


def test_reply_all_copies_the_other_participants_but_not_us(world):
    inbound = world.inbound(cc=["lee@example.com", world.agent.full_address], to=world.agent.full_address)
    sent = world.guard().reply(world.agent.id, inbound, body_text="Both of you", reply_all=True)
    assert [a.lower() for a in sent.to_addresses] == ["dana@example.com"]
    assert [a.lower() for a in sent.cc_addresses] == ["lee@example.com"]


@pytest.mark.parametrize(
    ("headers", "sender", "rule"),
    [
        ({"Auto-Submitted": "auto-replied"}, "dana@example.com", "Auto-Submitted"),
        ({"Precedence": "bulk"}, "dana@example.com", "Precedence"),
        ({"List-Id": "<news.shop.example>"}, "news@shop.example", "List-Id"),
        ({"List-Unsubscribe": "<mailto:unsub@shop.example>"}, "news@shop.example", "List-Unsubscribe"),
        ({}, "mailer-daemon@mx.example.net", "sender"),
        ({}, "no-reply@shop.example", "sender"),
        ({"X-Robotomail-Auto-Submitted": "auto-replied"}, "bot@other.example", "X-Robotomail-Auto-Submitted"),
    ],
)
def test_inbound_that_must_not_be_answered(world, headers, sender, rule):
    inbound = world.inbound(headers=headers, **{"from": sender})
    g = world.guard()
    verdict = g.should_answer(inbound)
    assert (verdict.answer, verdict.rule) == (False, rule)
    with pytest.raises(LoopDetected):
        g.reply(world.agent.id, inbound, body_text="Thanks")
    assert world.outbound() == []


def test_person_is_answered_and_own_mailboxes_are_not(world):
    g = world.guard()
    assert g.should_answer(world.inbound()).answer
    assert g.should_answer(world.inbound(headers={"Auto-Submitted": "no"})).answer
    own = world.inbound(**{"from": world.agent.full_address})  # spoofed as ourselves
    verdict = g.should_answer(own)
    assert not verdict.answer and verdict.rule == "own-address"


# -- recipient policy -------------------------------------------------------------------


def test_new_conversation_needs_permission(world):
    g = world.guard()
    with pytest.raises(NewConversationNotAllowed) as info:
        g.send(world.agent.id, to="stranger@example.com", subject="Hello", body_text="Hi")
    assert info.value.code == "new_conversation_not_allowed"
    assert world.outbound() == []
    sent = world.guard(OPEN).send(world.agent.id, to="stranger@example.com", subject="Hello", body_text="Hi")
    assert sent.thread_id is not None


def test_thread_participants_only(world):
    inbound = world.from_customer()
    g = world.guard()
    with pytest.raises(RecipientNotAllowed) as info:
        g.send(
            world.agent.id,
            to="eve@evil.example",
            subject="Re: x",
            body_text="the data you asked for",
            thread_id=inbound.thread_id,
            in_reply_to=inbound.message_id,
        )
    assert info.value.details["recipients"] == ["eve@evil.example"]
    with pytest.raises(RecipientNotAllowed):
        g.send(
            world.agent.id,
            to="dana@example.com",
            bcc="eve@evil.example",
            subject="Re: x",
            body_text="hi",
            thread_id=inbound.thread_id,
        )
    assert world.outbound() == []
    ok = g.send(
        world.agent.id, to="dana@example.com", subject="Re: x", body_text="hi", thread_id=inbound.thread_id
    )
    assert ok.thread_id == inbound.thread_id
    allowed = world.guard(GuardPolicy(allowed_domains=["partner.example"]))
    allowed.send(
        world.agent.id,
        to="ops@partner.example",
        subject="Re: x",
        body_text="fyi",
        thread_id=inbound.thread_id,
    )


# -- suppression and mailbox status -----------------------------------------------------


def test_account_suppression_list_is_enforced_before_the_server(world):
    world.admin.suppressions.create("gone@example.com", reason="MANUAL")
    g = world.guard(OPEN)
    with pytest.raises(SuppressedRecipient) as info:
        g.send(world.agent.id, to="Gone@Example.com", subject="Hi", body_text="x")
    assert "suppression list" in info.value.reason
    assert world.trap.sprung == 0 and world.outbound() == []


def test_stale_suppression_cache_still_refused_by_server_as_typed_refusal(world):
    g = world.guard(OPEN.model_copy(update={"suppression_ttl_seconds": 3600}))
    g.send(world.agent.id, to="first@example.com", subject="Hi", body_text="x")  # caches the (empty) list
    world.admin.suppressions.create("late@example.com")
    with pytest.raises(SuppressedRecipient) as info:
        g.send(world.agent.id, to="late@example.com", subject="Hi", body_text="x", idempotency_key="k-late")
    assert "server" in info.value.reason
    assert g.pending() == []  # a definite refusal leaves no pending intent
    world.clock.advance(3601)
    with pytest.raises(SuppressedRecipient):
        g.send(world.agent.id, to="late@example.com", subject="Hi", body_text="x")


def test_local_suppression_persists(world, tmp_path):
    path = tmp_path / "guards.db"
    g = world.guard(OPEN, state_path=path)
    g.suppress("Opted.Out@example.com", "asked us to stop")
    g2 = world.guard(OPEN, state_path=path)
    with pytest.raises(SuppressedRecipient):
        g2.send(world.agent.id, to="opted.out@example.com", subject="Hi", body_text="x")
    assert g2.unsuppress("opted.out@example.com")
    g2.send(world.agent.id, to="opted.out@example.com", subject="Hi", body_text="x")
    policy_local = world.guard(OPEN.model_copy(update={"suppressed_addresses": frozenset({"x@example.com"})}))
    with pytest.raises(SuppressedRecipient):
        policy_local.send(world.agent.id, to="x@example.com", subject="Hi", body_text="x")


def test_paused_mailbox_is_refused(world):
    world.admin.mailboxes.update(world.agent.id, status="PAUSED")
    with pytest.raises(MailboxNotActive) as info:
        world.guard(OPEN).send(world.agent.id, to="a@example.com", subject="Hi", body_text="x")
    assert info.value.code == "mailbox_not_active" and "PAUSED" in info.value.reason


# -- stateless refusals send nothing ------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"subject": "Hi\r\nBcc: eve@evil.example"}, HeaderInjection),
        ({"headers": {"Bcc": "eve@evil.example"}}, HeaderInjection),
        ({"headers": {"X-Custom-Note": "a\nb"}}, HeaderInjection),
        ({"to": "a@example.com\r\nBcc: eve@evil.example"}, HeaderInjection),
        ({"body_text": "x" * (512 * 1024 + 1)}, MessageTooLarge),
        ({"to": [f"p{i}@example.com" for i in range(51)]}, MessageTooLarge),
    ],
)
def test_refusals_send_nothing(world, kwargs, error):
    args = {"to": "a@example.com", "subject": "Hi", "body_text": "x", **kwargs}
    with pytest.raises(error):
        world.guard(OPEN).send(world.agent.id, **args)
    assert world.trap.sprung == 0 and world.outbound() == []


# -- rate limit and reply cap, persisted --------------------------------------------------


def test_rate_limit_survives_restart(world, tmp_path):
    path = tmp_path / "guards.db"
    policy = OPEN.model_copy(update={"rate_per_minute": 2.0, "burst": 2})
    g = world.guard(policy, state_path=path)
    for i in range(2):
        g.send(world.agent.id, to=f"p{i}@example.com", subject="Hi", body_text="x")
    with pytest.raises(RateLimited) as info:
        g.send(world.agent.id, to="p3@example.com", subject="Hi", body_text="x")
    assert info.value.retry_after == pytest.approx(30.0, abs=0.5)
    g.close()
    restarted = world.guard(policy, state_path=path)
    with pytest.raises(RateLimited):
        restarted.send(world.agent.id, to="p3@example.com", subject="Hi", body_text="x")
    world.clock.advance(30.0)
    restarted.send(world.agent.id, to="p3@example.com", subject="Hi", body_text="x")
    assert len(world.outbound()) == 3


def test_reply_cap_per_thread_survives_restart(world, tmp_path):
    path = tmp_path / "guards.db"
    policy = GuardPolicy(max_replies_per_thread=2, reply_window_seconds=600)
    inbound = world.from_customer()
    g = world.guard(policy, state_path=path)
    for i in range(2):
        g.reply(world.agent.id, inbound, body_text=f"answer {i}", idempotency_key=f"cap-{i}")
    verdict = g.should_answer(inbound)
    assert (verdict.answer, verdict.code) == (False, "reply_cap")
    with pytest.raises(ReplyCapReached) as info:
        g.reply(world.agent.id, inbound, body_text="third", idempotency_key="cap-2")
    assert info.value.retry_after == pytest.approx(600, abs=1)
    restarted = world.guard(policy, state_path=path)
    with pytest.raises(ReplyCapReached):
        restarted.reply(world.agent.id, inbound, body_text="third", idempotency_key="cap-2")
    # a repeat of an already-sent key is not a new reply: it returns the original
    assert (
        restarted.reply(world.agent.id, inbound, body_text="again", idempotency_key="cap-0").body_text
        == "answer 0"
    )
    world.clock.advance(601)
    restarted.reply(world.agent.id, inbound, body_text="third", idempotency_key="cap-2")
    assert len(world.outbound()) == 3


@pytest.mark.parametrize("sandbox_limits", [SandboxLimits(mailbox_sends_per_minute=1)])
def test_server_rate_limit_becomes_a_refusal_and_frees_the_key(world):
    g = world.guard(OPEN)
    g.send(world.agent.id, to="a@example.com", subject="Hi", body_text="x")
    with pytest.raises(RateLimited) as info:
        g.send(world.agent.id, to="b@example.com", subject="Hi", body_text="x", idempotency_key="k-b")
    assert info.value.retry_after is not None and "server" in info.value.reason
    assert g.pending() == []


# -- exactly once -------------------------------------------------------------------------


def test_repeated_key_returns_the_original(world):
    inbound = world.from_customer()
    g = world.guard()
    key = idempotency_key("evt_9", "reply")
    first = g.reply(world.agent.id, inbound, body_text="First draft", idempotency_key=key)
    again = g.reply(world.agent.id, inbound, body_text="A different draft", idempotency_key=key)
    assert again.id == first.id and again.body_text == "First draft"
    assert len(world.outbound()) == 1


def test_ambiguous_failure_after_the_server_got_it_is_reconciled(world):
    inbound = world.from_customer()
    g = world.guard()
    key = idempotency_key("evt_2", "reply")
    world.trap.arm("after")
    sent = g.reply(world.agent.id, inbound, body_text="Once only", idempotency_key=key)
    assert world.trap.sprung == 1
    assert sent.headers[IDEMPOTENCY_HEADER] == key
    assert [m.id for m in world.outbound()] == [sent.id]
    assert g.reply(world.agent.id, inbound, body_text="Once only", idempotency_key=key).id == sent.id
    assert g.pending() == []


def test_ambiguous_failure_of_a_new_conversation_is_reconciled(world):
    g = world.guard(OPEN)
    world.trap.arm("after")
    sent = g.send(
        world.agent.id, to="new@example.com", subject="Hello", body_text="x", idempotency_key="new-1"
    )
    assert [m.id for m in world.outbound()] == [sent.id]


def test_ambiguous_failure_before_the_server_got_it_sends_once_later(world, tmp_path):
    inbound = world.from_customer()
    g = world.guard(state_path=tmp_path / "guards.db")
    key = idempotency_key("evt_3", "reply")
    world.trap.arm("before")
    with pytest.raises(AmbiguousSendError) as info:
        g.reply(world.agent.id, inbound, body_text="Once only", idempotency_key=key)
    assert key in str(info.value)
    assert [r.key for r in g.pending()] == [key]
    assert world.outbound() == []
    # too early: the first attempt could still land
    with pytest.raises(SendInFlight) as early:
        g.reply(world.agent.id, inbound, body_text="Once only", idempotency_key=key)
    assert early.value.code == "in_flight" and 0 < early.value.retry_after <= 60
    world.clock.advance(61)
    sent = g.reply(world.agent.id, inbound, body_text="Once only", idempotency_key=key)
    assert [m.id for m in world.outbound()] == [sent.id]
    assert g.pending() == []
    assert g.reply(world.agent.id, inbound, body_text="Once only", idempotency_key=key).id == sent.id


def test_crash_between_send_and_record(world, tmp_path):
    path = tmp_path / "guards.db"
    inbound = world.from_customer()
    key = idempotency_key("evt_4", "reply")
    crashing = CrashAfterSend(world.client)
    g = world.guard(state_path=path, client=crashing)
    with pytest.raises(Crash):
        g.reply(world.agent.id, inbound, body_text="Sent before the crash", idempotency_key=key)
    assert len(world.outbound()) == 1
    g.close()
    # the worker restarts (new guard, same state file) and handles the same event again
    restarted = world.guard(state_path=path)
    sent = restarted.reply(
        world.agent.id, inbound, body_text="A new draft after restart", idempotency_key=key
    )
    assert sent.body_text == "Sent before the crash"
    assert len(world.outbound()) == 1
    assert restarted.pending() == []


def test_crash_before_the_request_left_sends_after_grace(world, tmp_path):
    path = tmp_path / "guards.db"
    inbound = world.from_customer()
    key = idempotency_key("evt_5", "reply")
    g = world.guard(state_path=path)
    world.trap.arm("before")
    with pytest.raises(AmbiguousSendError):
        g.reply(world.agent.id, inbound, body_text="x", idempotency_key=key)
    g.close()
    restarted = world.guard(state_path=path)
    with pytest.raises(SendInFlight):
        restarted.reply(world.agent.id, inbound, body_text="x", idempotency_key=key)
    world.clock.advance(120)
    restarted.reply(world.agent.id, inbound, body_text="x", idempotency_key=key)
    assert len(world.outbound()) == 1


def test_without_a_key_each_call_is_its_own_send(world):
    inbound = world.from_customer()
    g = world.guard()
    a = g.reply(world.agent.id, inbound, body_text="one")
    b = g.reply(world.agent.id, inbound, body_text="two")
    assert a.id != b.id
    assert a.headers[IDEMPOTENCY_HEADER] != b.headers[IDEMPOTENCY_HEADER]


def test_every_refusal_is_a_guard_refusal_with_an_actionable_reason(world):
    g = world.guard()
    with pytest.raises(GuardRefusal) as info:
        g.send(world.agent.id, to="x@example.com", subject="Hi", body_text="x")
    err = info.value
    assert err.to_dict()["code"] == err.code
    assert err.reason[0].isupper() and err.reason.endswith(".")
    assert str(err) == err.reason


def test_reply_needs_a_message_id(world):
    inbound = world.from_customer().model_copy(update={"message_id": ""})
    with pytest.raises(InvalidRequestError):
        world.guard().reply(world.agent.id, inbound, body_text="x")


def test_in_reply_to_must_belong_to_the_given_thread(world):
    first = world.from_customer(subject="First topic")
    other = world.from_customer(subject="Unrelated topic", **{"from": "lee@example.com"})
    assert first.thread_id != other.thread_id
    with pytest.raises(InvalidRequestError, match="not a message of thread"):
        world.guard().send(
            world.agent.id,
            to="dana@example.com",
            subject="Re: First topic",
            body_text="x",
            thread_id=first.thread_id,
            in_reply_to=other.message_id,
        )
    assert world.outbound() == []


def test_mailbox_scoped_key_relies_on_server_suppression(world, caplog):
    """A scoped key may not read the suppression list (403): the guard warns and the server's check applies."""
    created = world.admin.api_keys.create(name="agent-only", mailbox_ids=[world.agent.id])
    world.admin.suppressions.create("gone@example.com")
    make = world.sandbox.client if world.mode == "sync" else world.sandbox.async_client
    scoped = make(api_key=created.key)
    try:
        g = world.guard(OPEN, client=scoped)
        with caplog.at_level("WARNING", logger="agentmail_tools"), pytest.raises(SuppressedRecipient):
            g.send(world.agent.id, to="gone@example.com", subject="Hi", body_text="x")
        assert "suppression list" in caplog.text
        assert g.send(world.agent.id, to="fine@example.com", subject="Hi", body_text="x").id
    finally:
        world.run(scoped.close())


def test_concurrent_sends_with_one_key_send_once(world, tmp_path):
    """Two workers (threads / tasks) handle the same event at once: one sends, the other is told to wait."""
    import asyncio
    import threading

    path = tmp_path / "guards.db"
    inbound = world.from_customer()
    key = idempotency_key("evt_race", "reply")
    first, second = world.guard(state_path=path), world.guard(state_path=path)
    world.trap.arm("hold")

    if world.mode == "sync":
        results: dict[str, object] = {}
        worker = threading.Thread(
            target=lambda: results.update(
                sent=first.reply(world.agent.id, inbound, body_text="one", idempotency_key=key)
            )
        )
        worker.start()
        assert world.trap.entered.wait(10)
        with pytest.raises(SendInFlight):
            second.reply(world.agent.id, inbound, body_text="two", idempotency_key=key)
        world.trap.gate.set()
        worker.join(10)
        sent = results["sent"]
    else:

        async def race():
            task = asyncio.ensure_future(
                first.guard.reply(world.agent.id, inbound, body_text="one", idempotency_key=key)
            )
            deadline = asyncio.get_running_loop().time() + 10
            while not world.trap.entered.is_set():
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.002)
            with pytest.raises(SendInFlight):
                await second.guard.reply(world.agent.id, inbound, body_text="two", idempotency_key=key)
            world.trap.gate.set()
            return await task

        sent = world.run(race())
    assert second.reply(world.agent.id, inbound, body_text="two", idempotency_key=key).id == sent.id
    assert len(world.outbound()) == 1


def test_server_error_after_the_send_landed_is_reconciled(world):
    inbound = world.from_customer()
    g = world.guard()
    world.trap.arm("500-after")
    sent = g.reply(world.agent.id, inbound, body_text="Once", idempotency_key="k-502")
    assert [m.id for m in world.outbound()] == [sent.id]


def test_server_error_before_anything_landed_frees_the_key(world):
    from agentmail_tools import InternalServerError

    inbound = world.from_customer()
    g = world.guard()
    world.trap.arm("500-before")
    with pytest.raises(InternalServerError):
        g.reply(world.agent.id, inbound, body_text="Once", idempotency_key="k-500")
    assert g.pending() == [] and world.outbound() == []
    sent = g.reply(world.agent.id, inbound, body_text="Once", idempotency_key="k-500")
    assert [m.id for m in world.outbound()] == [sent.id]


def test_should_answer_takes_event_data(world):
    from agentmail_tools import MessageReceivedData

    newsletter = MessageReceivedData.model_validate(
        {
            "message_id": "m1",
            "mailbox_id": world.agent.id,
            "from": "news@shop.example",
            "headers": {"List-Id": "<x>"},
        }
    )
    person = MessageReceivedData.model_validate(
        {"message_id": "m2", "mailbox_id": world.agent.id, "from": "Dana <dana@example.com>", "headers": {}}
    )
    g = world.guard()
    assert g.should_answer(newsletter).rule == "List-Id"
    assert g.should_answer(person).answer


def test_reply_must_leave_from_the_receiving_mailbox(world):
    inbound = world.from_customer()
    with pytest.raises(InvalidRequestError, match="belongs to mailbox"):
        world.guard().reply(world.customer.id, inbound, body_text="x")
    assert world.outbound(world.customer.id) == []


def test_backend_that_drops_custom_headers_still_sends_once(world, caplog):
    inbound = world.from_customer()
    g = world.guard()
    world.trap.strip_headers = True
    world.trap.arm("after")
    with caplog.at_level("WARNING", logger="agentmail_tools"):
        sent = g.reply(
            world.agent.id, inbound, body_text="Once, even without headers", idempotency_key="k-strip"
        )
    assert "echo custom headers" in caplog.text
    assert IDEMPOTENCY_HEADER not in sent.headers
    assert [m.id for m in world.outbound()] == [sent.id]
