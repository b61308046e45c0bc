"""sync_mailbox and apply_event against the embedded sandbox: paged, idempotent, fresh."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from retrieval import MailIndex, SyncResult, ThreadSummaries, apply_event, sync_mailbox
from retrieval._sync import async_sync_mailbox, follow_events

sandbox_mod = pytest.importorskip("agentmail_tools.sandbox")


@pytest.fixture
def sandbox() -> Iterator[Any]:
    with sandbox_mod.Sandbox() as sb:
        yield sb


def _inject(sb: Any, box: Any, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        sb.inject(
            {
                "from": f"customer{i}@example.com",
                "to": box.full_address,
                "subject": f"Order {i} is late",
                "bodyText": f"My order {i} has not arrived.\n\nOn Mon, Mar 2, 2026 at 9:00 AM Shop <s@x.com> wrote:\n> shipped",
            }
        )


def test_backfill_is_paged_and_running_again_changes_nothing(sandbox: Any, index: MailIndex) -> None:
    client = sandbox.client()
    box = client.mailboxes.create("support")
    _inject(sandbox, box, 7)
    pages: list[tuple[int, int]] = []
    summaries = ThreadSummaries()
    first = sync_mailbox(
        client,
        index,
        box.id,
        progress=lambda r: pages.append((r.pages, r.seen)),
        page_size=3,
        summaries=summaries,
    )
    assert pages == [(1, 3), (2, 6), (3, 7)]
    assert (first.seen, first.indexed, first.unchanged) == (7, 7, 0)
    assert len(first.threads) == 7
    assert all(summaries.get(box.id, t) is not None for t in first.threads)
    generation = index.generation
    again = sync_mailbox(client, index, box.id, page_size=3, summaries=summaries)
    assert (again.seen, again.indexed, again.unchanged) == (7, 0, 7)
    assert index.generation == generation
    assert index.count("messages", mailbox_id=box.id) == 7
    stored = index.get_messages(box.id)
    assert all("shipped" not in h.text for h in stored)  # quotes stripped before indexing
    # New mail: only the new message is indexed.
    _inject(sandbox, box, 1, start=7)
    third = sync_mailbox(client, index, box.id, page_size=3)
    assert (third.indexed, third.unchanged) == (1, 7)


def test_events_keep_the_index_fresh_and_are_idempotent(sandbox: Any, index: MailIndex) -> None:
    client = sandbox.client()
    box = client.mailboxes.create("support")
    sync_mailbox(client, index, box.id)
    _inject(sandbox, box, 1)
    # The envelope the webhook/SSE paths carry (snake_case data); streaming itself is the inbound suite's.
    message = client.messages.list(box.id).messages[0]
    data = {
        "message_id": message.id,
        "mailbox_id": box.id,
        "from": message.from_address,
        "subject": message.subject,
        "body_text": message.body_text,
        "thread_id": message.thread_id,
        "received_at": message.created_at.isoformat() if message.created_at else None,
    }
    envelope = {"event": "message.received", "timestamp": "2026-03-02T09:00:00Z", "data": data}
    first = apply_event(index, envelope)
    assert first is not None and first.indexed == 1
    assert apply_event(index, envelope).unchanged == 1  # type: ignore[union-attr]
    assert index.query(box.id, "order has not arrived", k=1)[0].metadata["message_id"] == message.id
    assert apply_event(index, {"event": "message.delivered", "data": data}) is None
    # A payload without a body is fetched through the client.
    bare = {"event": "message.received", "data": {"message_id": message.id, "mailbox_id": box.id}}
    assert apply_event(index, bare, client=client).unchanged == 1  # type: ignore[union-attr]
    # A status event without a body and no client to fetch it is skipped, not indexed empty.
    assert (
        apply_event(index, {"event": "message.sent", "data": {"message_id": "new", "mailbox_id": box.id}})
        is None
    )
    assert index.count("messages", mailbox_id=box.id) == 1
    # Then a sync finds nothing new.
    assert sync_mailbox(client, index, box.id).indexed == 0


def test_inbound_event_model_is_accepted(sandbox: Any, index: MailIndex) -> None:
    inbound = pytest.importorskip("agentmail_tools.inbound")
    client = sandbox.client()
    box = client.mailboxes.create("support")
    _inject(sandbox, box, 1)
    message = client.messages.list(box.id).messages[0]
    event = inbound.InboundEvent(
        event_id=f"message.received:{box.id}:{message.id}",
        event="message.received",
        mailbox_id=box.id,
        message_id=message.id,
        payload={"message_id": message.id, "mailbox_id": box.id, "subject": message.subject},
    )
    stats = apply_event(index, event, client=client)
    assert stats is not None and stats.indexed == 1
    assert index.thread_messages(box.id, message.thread_id)[0]["text"] == "My order 0 has not arrived."


async def test_async_sync(sandbox: Any, index: MailIndex) -> None:
    client = sandbox.client()
    box = client.mailboxes.create("support")
    _inject(sandbox, box, 4)
    async with sandbox.async_client() as aclient:
        result = await async_sync_mailbox(aclient, index, box.id, page_size=2)
    assert isinstance(result, SyncResult)
    assert (result.pages, result.indexed) == (3, 4)


def test_bad_page_size(sandbox: Any, index: MailIndex) -> None:
    with pytest.raises(ValueError, match="page_size"):
        sync_mailbox(sandbox.client(), index, "mb", page_size=0)


def test_follow_events_indexes_new_mail_and_resumes(sandbox: Any, index: MailIndex) -> None:
    client = sandbox.client()
    box = client.mailboxes.create("support")
    _inject(sandbox, box, 2)
    resume = follow_events(client, index, mailbox_id=box.id, last_event_id="0", max_events=2, read_timeout=10)
    assert resume is not None
    assert index.count("messages", mailbox_id=box.id) == 2
    _inject(sandbox, box, 1, start=2)
    follow_events(client, index, mailbox_id=box.id, last_event_id=resume, max_events=1, read_timeout=10)
    assert index.count("messages", mailbox_id=box.id) == 3
    assert sync_mailbox(client, index, box.id).indexed == 0
