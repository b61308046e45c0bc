"""ReviewQueue storage: idempotent holds, persistence, edits, rejections and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from crews._review import ReviewError, ReviewQueue


def hold(queue: ReviewQueue, event_id: str = "evt-1", body: str = "Hi Alice, 3–5 days.") -> str:
    item = queue.add(
        event_id=event_id,
        mailbox_id="mbx",
        message_id="msg-1",
        thread_id="thr-1",
        sender="alice@example.com",
        subject="Re: Order",
        body_text=body,
        citations=["doc:shipping.md#1"],
        reasons=["review: hold"],
        escalation="billing@example.com",
    )
    return item.id


def test_holding_the_same_event_twice_keeps_one_item(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "review.db")
    first = hold(queue)
    second = hold(queue, body="a different draft from a redelivered event")
    assert first == second
    [item] = queue.list()
    assert item.body_text == "Hi Alice, 3–5 days." and item.citations == ["doc:shipping.md#1"]
    assert queue.get_by_event("evt-1") == item and queue.get_by_event("evt-2") is None


def test_items_survive_a_restart(tmp_path: Path) -> None:
    item_id = hold(ReviewQueue(tmp_path / "review.db"))
    reopened = ReviewQueue(tmp_path / "review.db")
    assert reopened.get(item_id).escalation == "billing@example.com"


def test_edit_and_reject() -> None:
    queue = ReviewQueue()
    item_id = hold(queue)
    assert queue.edit(item_id, body_text="New text", subject="Re: Your order").subject == "Re: Your order"
    with pytest.raises(ReviewError, match="must not be empty"):
        queue.edit(item_id, body_text="   ")
    assert queue.get(item_id).body_text == "New text"  # the bad edit lost nothing
    assert queue.reject(item_id, note="handled by phone").status == "rejected"
    assert queue.list() == [] and [i.id for i in queue.list(status="rejected")] == [item_id]
    with pytest.raises(ReviewError, match="not pending"):
        queue.edit(item_id, body_text="again")


def test_list_filters_and_errors() -> None:
    queue = ReviewQueue()
    hold(queue, "evt-1")
    hold(queue, "evt-2")
    assert len(queue.list(mailbox_id="mbx")) == 2
    assert queue.list(mailbox_id="other") == []
    assert len(queue.list(status=None, limit=1)) == 1
    with pytest.raises(ReviewError, match="unknown status"):
        queue.list(status="approved-ish")
    with pytest.raises(ReviewError, match="no review item"):
        queue.get("rev_missing")


def test_approve_needs_a_guard_and_a_draft() -> None:
    pytest.importorskip("agentmail_tools.guards")
    queue = ReviewQueue()
    item_id = hold(queue)
    with pytest.raises(ReviewError, match="needs a MailGuard"):
        queue.approve(item_id)
    empty = hold(queue, "evt-empty", body="")
    with pytest.raises(ReviewError, match="has no draft"):
        queue.approve(empty, guard=object(), client=object())
    assert queue.get(item_id).status == "pending"
