"""SQLiteQueue: de-duplication, leases, expiry, retries with backoff, dead letters, inspection."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from agentmail_tools.inbound import InboundEvent, InboundQueue, SQLiteQueue

from .conftest import FakeClock, envelope, make_event


def test_is_an_inbound_queue(queue: SQLiteQueue) -> None:
    assert isinstance(queue, InboundQueue)


def test_each_delivery_repeated_five_times_is_enqueued_once(queue: SQLiteQueue) -> None:
    event = make_event("m1", delivery_id="d1")
    results = [queue.put(event) for _ in range(5)]
    assert results == [True, False, False, False, False]
    assert queue.stats().ready == 1


def test_same_message_by_another_transport_or_delivery_is_a_duplicate(queue: SQLiteQueue) -> None:
    assert queue.put(make_event("m1", delivery_id="d1"))
    # A webhook retry with a new delivery id, the SSE frame and the poll of the same message.
    assert not queue.put(make_event("m1", delivery_id="d2"))
    assert not queue.put(InboundEvent.from_envelope(envelope("m1"), source="sse", delivery_id="17"))
    # A different event about the same message, or the same id in another mailbox, is new.
    assert queue.put(make_event("m1", event="message.delivered"))
    assert queue.put(make_event("m1", mailbox_id="mbx_2"))
    assert len(queue) == 3


def test_same_delivery_id_with_other_payload_is_a_duplicate(queue: SQLiteQueue) -> None:
    assert queue.put(make_event("m1", delivery_id="d1"))
    assert not queue.put(make_event("m2", delivery_id="d1"))


def test_lease_is_fifo_exclusive_and_none_when_empty(queue: SQLiteQueue) -> None:
    assert queue.lease("w") is None
    for i in range(3):
        queue.put(make_event(f"m{i}"))
    a, b, c = (queue.lease(f"w{i}") for i in range(3))
    assert a and b and c
    assert [x.event.message_id for x in (a, b, c)] == ["m0", "m1", "m2"]
    assert queue.lease("w") is None
    assert a.attempt == 1 and a.worker_id == "w0"
    assert queue.stats().leased == 3


def test_ack_finishes_and_a_second_ack_is_refused(queue: SQLiteQueue) -> None:
    queue.put(make_event("m1"))
    lease = queue.lease("w")
    assert lease is not None
    assert queue.ack(lease) is True
    assert queue.ack(lease) is False
    assert queue.stats().done == 1 and len(queue) == 0
    assert queue.lease("w") is None


def test_expired_lease_is_redelivered_and_the_stale_worker_cannot_ack(
    queue: SQLiteQueue, clock: FakeClock
) -> None:
    queue.put(make_event("m1"))
    first = queue.lease("crashed", visibility_timeout=30)
    assert first is not None
    clock.advance(29)
    assert queue.lease("other") is None
    clock.advance(2)
    second = queue.lease("other", visibility_timeout=30)
    assert second is not None and second.item_id == first.item_id and second.attempt == 2
    assert queue.ack(first) is False
    assert queue.fail(first, "late") is False
    assert queue.ack(second) is True


def test_extend_keeps_a_lease_alive(queue: SQLiteQueue, clock: FakeClock) -> None:
    queue.put(make_event("m1"))
    lease = queue.lease("w", visibility_timeout=10)
    assert lease is not None
    clock.advance(8)
    renewed = queue.extend(lease, visibility_timeout=10)
    assert renewed is not None and renewed.expires_at == clock.now + 10
    clock.advance(8)
    assert queue.lease("thief") is None
    assert queue.ack(renewed)
    assert queue.extend(renewed) is None


def test_fail_retries_with_growing_backoff_then_dead_letters(queue_factory, clock: FakeClock) -> None:
    queue = queue_factory(max_attempts=3, backoff_base=10, backoff_max=1000)
    queue.put(make_event("poison"))
    delays = []
    for attempt in (1, 2):
        lease = queue.lease("w")
        assert lease is not None and lease.attempt == attempt
        assert queue.fail(lease, ValueError(f"boom {attempt}"))
        item = queue.list()[0]
        assert item.state == "scheduled" and item.last_error == f"ValueError: boom {attempt}"
        delays.append(item.available_at - clock.now)
        assert queue.lease("w") is None  # not before its retry time
        clock.advance(delays[-1])
    assert 5 <= delays[0] <= 10 and 10 <= delays[1] <= 20
    lease = queue.lease("w")
    assert lease is not None and lease.attempt == 3
    assert queue.fail(lease, "boom 3")
    stats = queue.stats()
    assert (stats.dead, stats.pending, stats.leased) == (1, 0, 0)
    (dead,) = queue.dead_letters()
    assert dead.event.message_id == "poison" and dead.attempts == 3 and dead.error == "boom 3"
    clock.advance(10_000)
    assert queue.lease("w") is None


def test_backoff_is_capped_and_jittered(queue_factory) -> None:
    queue = queue_factory(backoff_base=1, backoff_max=60)
    samples = [queue.retry_delay(20) for _ in range(200)]
    assert all(30 <= s <= 60 for s in samples)
    assert len(set(samples)) > 100
    assert all(0.5 <= queue.retry_delay(1) <= 1 for _ in range(50))


def test_fail_with_retry_in_and_permanent(queue: SQLiteQueue, clock: FakeClock) -> None:
    queue.put(make_event("a"))
    queue.put(make_event("b"))
    la = queue.lease("w")
    assert la is not None
    queue.fail(la, "rate limited", retry_in=120)
    assert queue.list(state="scheduled")[0].available_at == clock.now + 120
    lb = queue.lease("w")
    assert lb is not None and lb.event.message_id == "b"
    queue.fail(lb, "unprocessable", permanent=True)
    assert [d.event.message_id for d in queue.dead_letters()] == ["b"]


def test_defer_waits_without_spending_attempts(queue_factory, clock: FakeClock) -> None:
    queue = queue_factory(max_attempts=2)
    queue.put(make_event("rate-limited"))
    for _ in range(5):  # more deferrals than max_attempts: never dead-lettered
        lease = queue.lease("w")
        assert lease is not None and lease.attempt == 1
        assert queue.defer(lease, 30, reason="rate limited, retry in 30s")
        assert queue.lease("w") is None
        clock.advance(30)
    item = queue.list()[0]
    assert item.state == "ready" and item.attempts == 0 and item.last_error == "rate limited, retry in 30s"
    lease = queue.lease("w")
    assert lease is not None
    assert queue.ack(lease) and queue.defer(lease, 1) is False


def test_worker_that_keeps_dying_dead_letters_the_event(queue_factory, clock: FakeClock) -> None:
    queue = queue_factory(max_attempts=2)
    queue.put(make_event("kills-workers"))
    for _ in range(2):
        assert queue.lease("w", visibility_timeout=5) is not None
        clock.advance(6)  # the worker died: its lease expires without ack or fail
    assert queue.lease("w") is None
    (dead,) = queue.dead_letters()
    assert "lease expired" in (dead.error or "")


def test_requeue_dead_gives_fresh_attempts(queue_factory) -> None:
    queue = queue_factory(max_attempts=1)
    queue.put(make_event("m"))
    lease = queue.lease("w")
    assert lease is not None
    queue.fail(lease, "nope")
    (dead,) = queue.dead_letters()
    assert queue.requeue_dead(dead.item_id) is True
    assert queue.requeue_dead(dead.item_id) is False
    assert queue.requeue_dead("no-such-event") is False
    again = queue.lease("w")
    assert again is not None and again.attempt == 1
    assert queue.dead_letters() == []


def test_requeue_dead_by_event_id_as_the_cli_shows_it(queue_factory) -> None:
    queue = queue_factory(max_attempts=1)
    queue.put(make_event("m"))
    lease = queue.lease("w")
    assert lease is not None
    queue.fail(lease, "nope")
    assert queue.requeue_dead("message.received:mbx_1:m") is True
    assert queue.stats().ready == 1
    assert vars(queue.stats())["ready"] == 1  # plain dataclass: the CLI renders vars(stats)


def test_list_and_stats_show_every_state(queue: SQLiteQueue, clock: FakeClock) -> None:
    for name in ("ready", "leased", "scheduled", "done", "dead"):
        queue.put(make_event(name))
    leases = {lease.event.message_id: lease for lease in iter(lambda: queue.lease("w"), None)}
    queue.fail(leases["scheduled"], "later")
    queue.ack(leases["done"])
    queue.fail(leases["dead"], "never", permanent=True)
    queue.fail(leases["ready"], "now", retry_in=0)
    states = {item.event.message_id: item.state for item in queue.list()}
    assert states == {
        "ready": "ready",
        "leased": "leased",
        "scheduled": "scheduled",
        "done": "done",
        "dead": "dead",
    }
    stats = queue.stats()
    assert (stats.ready, stats.leased, stats.scheduled, stats.done, stats.dead, stats.total) == (
        1,
        1,
        1,
        1,
        1,
        5,
    )
    assert stats.pending == 2 and stats.oldest_ready_age == 0
    assert [i.event.message_id for i in queue.list("leased")] == ["leased"]
    assert queue.list("leased")[0].leased_by == "w"
    assert queue.list(mailbox_id="nope") == []
    assert queue.get(leases["done"].item_id).state == "done"  # type: ignore[union-attr]
    assert queue.get(999) is None
    with pytest.raises(ValueError):
        queue.list("bogus")  # type: ignore[arg-type]


def test_purge_keeps_dedup_keys_unless_asked(queue: SQLiteQueue, clock: FakeClock) -> None:
    event = make_event("m", delivery_id="d")
    queue.put(event)
    lease = queue.lease("w")
    assert lease is not None
    queue.ack(lease)
    clock.advance(100)
    assert queue.purge(older_than=50) == 1
    assert queue.stats().total == 0
    assert queue.put(event) is False
    lease = queue.lease("w")
    assert lease is None
    assert queue.purge(older_than=0, forget_keys=True) == 0


def test_bad_arguments_are_refused(queue: SQLiteQueue) -> None:
    with pytest.raises(TypeError):
        queue.put({"event": "message.received"})  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        queue.lease("w", visibility_timeout=0)
    with pytest.raises(ValueError):
        SQLiteQueue(max_attempts=0)


def test_file_queue_survives_reopen_with_leases_intact(queue_factory, clock: FakeClock) -> None:
    first = queue_factory("durable.db")
    for i in range(3):
        first.put(make_event(f"m{i}", delivery_id=f"d{i}"))
    lease = first.lease("w", visibility_timeout=60)
    assert lease is not None
    first.close()
    second = queue_factory("durable.db")
    assert second.stats().ready == 2 and second.stats().leased == 1
    assert second.put(make_event("m0", delivery_id="d0")) is False
    assert second.ack(lease) is True  # the lease is state in the file, not in the object


def test_in_memory_queue_works_across_threads(queue_factory) -> None:
    queue = queue_factory(None)
    for i in range(200):
        queue.put(make_event(f"m{i}"))
    seen: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while (lease := queue.lease(name)) is not None:
            with lock:
                seen.append(lease.event.message_id or "")
            queue.ack(lease)

    threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert Counter(seen) == Counter(f"m{i}" for i in range(200))


def test_concurrent_producers_of_the_same_events_enqueue_each_once(tmp_path) -> None:
    path = tmp_path / "shared.db"
    events = [make_event(f"m{i}", delivery_id=f"d{i}") for i in range(100)]
    results: list[bool] = []
    lock = threading.Lock()

    def producer() -> None:
        q = SQLiteQueue(path, durable=False)
        try:
            for e in events:
                ok = q.put(e)
                with lock:
                    results.append(ok)
        finally:
            q.close()

    threads = [threading.Thread(target=producer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results.count(True) == 100 and len(results) == 400
    with SQLiteQueue(path) as q:
        assert q.stats().ready == 100
