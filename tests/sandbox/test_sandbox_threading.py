"""Threading as Robotomail does it: In-Reply-To/References, then normalised subject, else new."""

from __future__ import annotations

from agentmail_tools.sandbox import Sandbox


def inbound(sandbox: Sandbox, to: str, subject: str, **extra: object) -> dict:
    fields = {"from": "dana@example.com", "to": to, "subject": subject, "bodyText": "text", **extra}
    return sandbox.inject(fields)[0]


def test_reply_by_in_reply_to_joins_thread_even_with_new_subject(client, sandbox):
    mb = client.mailboxes.create("t1")
    first = inbound(sandbox, mb.full_address, "Invoice 2291")
    reply = client.messages.send(
        mb.id,
        to="dana@example.com",
        subject="Completely different",
        body_text="x",
        in_reply_to=first["messageId"],
    )
    assert reply.thread_id == first["threadId"]
    assert reply.in_reply_to == first["messageId"]
    follow = inbound(sandbox, mb.full_address, "Another subject", inReplyTo=reply.message_id)
    assert follow["threadId"] == first["threadId"]


def test_references_chain_matches_when_in_reply_to_is_unknown(client, sandbox):
    mb = client.mailboxes.create("t2")
    first = inbound(sandbox, mb.full_address, "Order 7")
    other = inbound(sandbox, mb.full_address, "Unrelated")
    follow = inbound(
        sandbox,
        mb.full_address,
        "New words",
        inReplyTo="<unknown@elsewhere.example>",
        references=[first["messageId"], "<unknown@elsewhere.example>"],
    )
    assert follow["threadId"] == first["threadId"] != other["threadId"]


def test_normalised_subject_joins_thread(client, sandbox):
    mb = client.mailboxes.create("t3")
    first = inbound(sandbox, mb.full_address, "Refund  request")
    for variant in (
        "Re: refund request",
        "RE: Fwd:  Refund request",
        "FW: REFUND REQUEST",
        "Aw: Refund request",
    ):
        assert inbound(sandbox, mb.full_address, variant)["threadId"] == first["threadId"], variant
    thread = client.threads.get(mb.id, first["threadId"])
    assert thread.message_count == 5 and len(thread.messages) == 5


def test_new_subject_new_thread_and_per_mailbox_isolation(client, sandbox):
    a = client.mailboxes.create("t4a")
    b = client.mailboxes.create("t4b")
    x = inbound(sandbox, a.full_address, "Topic X")
    y = inbound(sandbox, a.full_address, "Topic Y")
    z = inbound(sandbox, b.full_address, "Topic X")
    assert len({x["threadId"], y["threadId"], z["threadId"]}) == 3
    # In-Reply-To pointing into another mailbox does not cross mailboxes.
    w = inbound(sandbox, b.full_address, "Other", inReplyTo=y["messageId"])
    assert w["threadId"] not in (x["threadId"], y["threadId"])


def test_empty_subjects_do_not_collapse_into_one_thread(client, sandbox):
    mb = client.mailboxes.create("t5")
    one = inbound(sandbox, mb.full_address, "")
    two = inbound(sandbox, mb.full_address, "Re:")
    assert one["threadId"] != two["threadId"]


def test_thread_list_newest_activity_first_and_messages_oldest_first(client, sandbox):
    mb = client.mailboxes.create("t6")
    old = inbound(sandbox, mb.full_address, "Old topic")
    new = inbound(sandbox, mb.full_address, "New topic")
    assert [t.id for t in client.threads.list(mb.id)] == [new["threadId"], old["threadId"]]
    reply = client.messages.send(
        mb.id,
        to="dana@example.com",
        subject="Re: Old topic",
        body_text="answer",
        in_reply_to=old["messageId"],
    )
    threads = client.threads.list(mb.id)
    assert [t.id for t in threads] == [old["threadId"], new["threadId"]]
    assert set(threads[0].participants) == {"dana@example.com", mb.full_address}
    detail = client.threads.get(mb.id, old["threadId"])
    assert [m.id for m in detail.messages] == [old["id"], reply.id]
    assert detail.messages[1].headers == {}


def test_server_sets_references_for_replies(client, sandbox):
    mb = client.mailboxes.create("t7")
    first = inbound(sandbox, mb.full_address, "Chain", references=["<root@example.com>"])
    reply = client.messages.send(
        mb.id, to="dana@example.com", subject="Re: Chain", body_text="r", in_reply_to=first["messageId"]
    )
    raw = sandbox.outbox(include_raw=True)[-1]["raw"]
    assert f"In-Reply-To: {first['messageId']}" in raw
    assert "<root@example.com>" in raw and first["messageId"] in raw.split("References:")[1]
    assert reply.thread_id == first["threadId"]
