"""Guard state: token bucket, reply cap, idempotency records, local suppressions; restart persistence."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentmail_tools.guards._state import GuardState

RATE = 20 / 60  # tokens per second


def reserve(state, *, now, mailbox="mbx", thread=None, key="k", burst=3, max_replies=3, window=3600.0):
    return state.reserve(
        mailbox,
        thread,
        key,
        now=now,
        rate_per_second=RATE,
        burst=burst,
        max_replies=max_replies,
        window=window,
    )


def test_bucket_allows_burst_then_refills():
    state = GuardState()
    assert [reserve(state, now=0.0, key=f"k{i}").granted for i in range(4)] == [True, True, True, False]
    refused = reserve(state, now=0.0, key="k5")
    assert refused.rule == "rate_limited"
    assert refused.retry_after == pytest.approx(3.0)  # one token per 3 s at 20/min
    assert not reserve(state, now=2.9, key="k6").granted
    assert reserve(state, now=3.0 + 2.9, key="k7").granted  # refilled while refusing too
    # buckets are per mailbox
    assert reserve(state, now=0.0, mailbox="other", key="o1").granted


def test_bucket_never_exceeds_burst():
    state = GuardState()
    reserve(state, now=0.0, key="a")
    granted = [reserve(state, now=10_000.0, key=f"b{i}").granted for i in range(5)]
    assert granted == [True, True, True, False, False]


def test_reply_cap_per_thread_and_window():
    state = GuardState()
    for i in range(3):
        assert reserve(state, now=float(i), thread="t1", key=f"r{i}", burst=100).granted
    refused = reserve(state, now=10.0, thread="t1", key="r3", burst=100)
    assert (refused.granted, refused.rule, refused.count) == (False, "reply_cap", 3)
    assert refused.retry_after == pytest.approx(3600.0 - 10.0)
    # another thread is unaffected; a refusal spent no token
    assert reserve(state, now=10.0, thread="t2", key="x", burst=100).granted
    assert state.reply_count("mbx", "t1", now=10.0, window=3600.0) == (3, pytest.approx(3600.0))
    # the oldest leaves the window
    assert reserve(state, now=3600.5, thread="t1", key="r4", burst=100).granted


def test_refused_reservation_spends_nothing():
    state = GuardState()
    for i in range(2):
        assert reserve(state, now=0.0, thread="t", key=f"r{i}", burst=3, max_replies=2).granted
    for _ in range(5):
        assert reserve(state, now=0.0, thread="t", key="again", burst=3, max_replies=2).rule == "reply_cap"
    assert reserve(state, now=0.0, thread="other", key="z", burst=3).granted  # the 3rd token is still there


def test_same_key_reserves_one_reply_slot():
    state = GuardState()
    assert reserve(state, now=0.0, thread="t", key="same", burst=10, max_replies=1).granted
    assert reserve(state, now=1.0, thread="t", key="same", burst=10, max_replies=1).granted
    assert not reserve(state, now=1.0, thread="t", key="other", burst=10, max_replies=1).granted
    state.release_reply("same")
    assert reserve(state, now=1.0, thread="t", key="other", burst=10, max_replies=1).granted


def test_zero_replies_allowed_never_frees():
    state = GuardState()
    refused = reserve(state, now=0.0, thread="t", max_replies=0)
    assert refused.rule == "reply_cap" and refused.retry_after is None


def test_state_survives_restart(tmp_path):
    path = tmp_path / "sub" / "guards.db"
    state = GuardState(path)
    for i in range(3):
        reserve(state, now=0.0, thread="t", key=f"r{i}")
    assert state.begin_send("key-1", "mbx", "t", "fp", now=1.0) is None
    state.begin_send("key-2", "mbx", None, "fp", now=1.0)
    state.complete_send("key-2", {"id": "msg_2", "threadId": "t9"}, "t9", now=2.0)
    state.suppress("Gone@example.com", "bounced", now=0.0)
    state.close()

    state = GuardState(path)
    assert not reserve(state, now=0.5, key="r9").granted  # bucket still empty
    assert state.reply_count("mbx", "t", now=1.0, window=3600.0)[0] == 3
    pending = state.get_send("key-1")
    assert pending is not None and pending.state == "pending" and pending.claimed_at == 1.0
    done = state.get_send("key-2")
    assert done is not None and done.state == "sent" and done.message == {"id": "msg_2", "threadId": "t9"}
    assert done.thread_id == "t9"
    assert [r.key for r in state.pending_sends()] == ["key-1"]
    assert state.suppressed() == {"gone@example.com"}
    assert state.unsuppress("GONE@example.com") and not state.suppressed()
    state.close()


def test_begin_send_returns_existing_record_and_reclaim_is_exclusive():
    state = GuardState()
    assert state.begin_send("k", "mbx", None, "fp", now=100.0) is None
    existing = state.begin_send("k", "mbx", None, "fp", now=101.0)
    assert existing is not None and existing.state == "pending" and existing.attempts == 1
    assert not state.reclaim_send("k", now=120.0, stale_before=60.0)  # not stale yet
    assert state.reclaim_send("k", now=200.0, stale_before=140.0)
    assert not state.reclaim_send("k", now=200.0, stale_before=140.0)  # someone just took it
    assert state.get_send("k").attempts == 2
    state.abandon_send("k")
    assert state.get_send("k") is None


def test_sent_records_are_not_abandoned():
    state = GuardState()
    state.begin_send("k", "mbx", "t", "fp", now=0.0)
    state.complete_send("k", {"id": "m"}, None, now=1.0)
    state.abandon_send("k")
    assert state.get_send("k").state == "sent"
    assert state.get_send("k").thread_id == "t"


def test_concurrent_connections_share_one_bucket(tmp_path):
    """Two guard processes share a file: each token is spent once (BEGIN IMMEDIATE)."""
    path = tmp_path / "guards.db"
    states = [GuardState(path) for _ in range(4)]
    results: list[bool] = []
    lock = threading.Lock()

    def worker(state: GuardState, n: int) -> None:
        for i in range(10):
            granted = reserve(state, now=0.0, key=f"{n}-{i}", burst=15).granted
            with lock:
                results.append(granted)

    threads = [threading.Thread(target=worker, args=(s, n)) for n, s in enumerate(states)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 40
    assert results.count(True) == 15
    for s in states:
        s.close()


def test_guards_with_different_windows_can_share_a_file(tmp_path):
    path = tmp_path / "guards.db"
    long_window, short_window = GuardState(path), GuardState(path)
    for i in range(2):
        assert reserve(
            long_window, now=float(i), mailbox="a", thread="t", key=f"a{i}", max_replies=2, window=3600
        ).granted
    # a guard with a 60 s window on another mailbox must not prune mailbox a's history
    assert reserve(short_window, now=1000.0, mailbox="b", thread="t", key="b0", window=60).granted
    refused = reserve(long_window, now=1000.0, mailbox="a", thread="t", key="a2", max_replies=2, window=3600)
    assert refused.rule == "reply_cap"


def test_prune_forgets_old_sent_keys_but_never_pending_ones():
    state = GuardState()
    state.begin_send("old-sent", "mbx", None, "fp", now=0.0)
    state.complete_send("old-sent", {"id": "m"}, None, now=10.0)
    state.begin_send("old-pending", "mbx", None, "fp", now=0.0)
    state.begin_send("new-sent", "mbx", None, "fp", now=1000.0)
    state.complete_send("new-sent", {"id": "n"}, None, now=1000.0)
    assert state.prune(now=1010.0, keep_seconds=100.0) == 1
    assert state.get_send("old-sent") is None
    assert state.get_send("old-pending") is not None and state.get_send("new-sent") is not None


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.floats(min_value=0, max_value=10, allow_nan=False), min_size=1, max_size=60),
    burst=st.integers(min_value=1, max_value=5),
)
def test_property_bucket_never_grants_more_than_burst_plus_refill(steps, burst):
    state = GuardState()
    now, grants = 0.0, []
    for i, step in enumerate(steps):
        now += step
        if reserve(state, now=now, key=f"k{i}", burst=burst).granted:
            grants.append(now)
    # in any interval [a, b] the grants are at most burst + rate * (b - a)
    for i in range(len(grants)):
        for j in range(i, len(grants)):
            assert j - i + 1 <= burst + RATE * (grants[j] - grants[i]) + 1e-9
    state.close()
