"""SQLiteQueue across real processes: no double lease, and nothing acknowledged is lost to SIGKILL."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

from agentmail_tools.inbound import SQLiteQueue

from .conftest import make_event

ROOT = Path(__file__).resolve().parents[2]


def _drain(path: str, worker: str, barrier: mp.synchronize.Barrier, out: mp.Queue) -> None:
    # Atomicity is under test, not durability: skip the per-commit fsync to keep it quick.
    queue = SQLiteQueue(path, durable=False)
    got: list[tuple[int, int]] = []
    barrier.wait(timeout=60)
    while (lease := queue.lease(worker, visibility_timeout=600)) is not None:
        got.append((lease.item_id, lease.attempt))
        queue.ack(lease)
    queue.close()
    out.put((worker, got))


def test_two_processes_leasing_one_file_never_double_lease(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    with SQLiteQueue(path, durable=False) as queue:
        for i in range(300):
            queue.put(make_event(f"m{i}"))
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    out: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_drain, args=(path, f"p{i}", barrier, out)) for i in range(2)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    leased = Counter(item for got in results.values() for item, _ in got)
    assert len(leased) == 300
    assert max(leased.values()) == 1, "an item was leased twice"
    assert all(attempt == 1 for got in results.values() for _, attempt in got)
    with SQLiteQueue(path) as queue:
        assert queue.stats().done == 300


_PRODUCER = textwrap.dedent(
    """
    import sys
    from agentmail_tools.inbound import InboundEvent, SQLiteQueue
    queue = SQLiteQueue(sys.argv[1])
    i = 0
    while True:
        body = {"event": "message.received", "data": {"message_id": f"m{i}", "mailbox_id": "mbx"}}
        queue.put(InboundEvent.from_webhook(body, delivery_id=f"d{i}"))
        if i == 5:
            queue.lease("doomed-worker", visibility_timeout=60)
        sys.stdout.write(f"{i}\\n")
        sys.stdout.flush()
        i += 1
    """
)


def test_sigkill_mid_stream_loses_no_acknowledged_put(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", _PRODUCER, str(path)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    acknowledged: list[int] = []
    deadline = time.monotonic() + 60
    while len(acknowledged) < 60 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acknowledged.append(int(line))
    os.kill(proc.pid, signal.SIGKILL)
    acknowledged += [int(line) for line in proc.stdout.read().split()]
    proc.wait(timeout=30)
    assert len(acknowledged) >= 60

    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    now = time.time()
    with SQLiteQueue(path, clock=lambda: now + 61) as queue:
        stored = {item.event.message_id for item in queue.list(limit=100_000)}
        assert {f"m{i}" for i in acknowledged} <= stored
        # The lease held by the killed worker expires and the event is delivered again.
        leases = list(iter(lambda: queue.lease("survivor"), None))
        assert len(leases) == len(stored)
        redelivered = [lease for lease in leases if lease.event.message_id == "m0"]
        assert redelivered and redelivered[0].attempt == 2


_WORKER = textwrap.dedent(
    """
    import os, signal, sys, time
    from agentmail_tools.inbound import SQLiteQueue
    path, log, kill_on = sys.argv[1], sys.argv[2], sys.argv[3]
    queue = SQLiteQueue(path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lease = queue.lease(f"worker-{os.getpid()}", visibility_timeout=0.5)
        if lease is None:
            if queue.stats().pending == 0 and queue.stats().leased == 0:
                break
            time.sleep(0.02)
            continue
        with open(log, "a") as fh:
            fh.write(f"{lease.event.message_id} {lease.attempt}\\n")
        if lease.event.message_id == kill_on:
            os.kill(os.getpid(), signal.SIGKILL)  # dies mid-event, lease held, no ack
        queue.ack(lease)
    """
)


def test_worker_sigkilled_mid_event_then_restarted_loses_nothing(tmp_path: Path) -> None:
    path, log = tmp_path / "work.db", tmp_path / "processed.log"
    with SQLiteQueue(path) as queue:
        for i in range(20):
            queue.put(make_event(f"m{i}"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    crashed = subprocess.run(
        [sys.executable, "-c", _WORKER, str(path), str(log), "m7"], env=env, cwd=ROOT, timeout=60
    )
    assert crashed.returncode == -signal.SIGKILL
    restarted = subprocess.run(
        [sys.executable, "-c", _WORKER, str(path), str(log), "-"], env=env, cwd=ROOT, timeout=60
    )
    assert restarted.returncode == 0

    lines = [line.split() for line in log.read_text().splitlines()]
    attempts = Counter(mid for mid, _ in lines)
    assert set(attempts) == {f"m{i}" for i in range(20)}
    # Only the event in flight at the kill is processed again (attempt 2); nothing else twice.
    assert attempts.pop("m7") == 2 and set(attempts.values()) == {1}
    assert ["m7", "2"] in lines
    with SQLiteQueue(path) as queue:
        stats = queue.stats()
        assert (stats.done, stats.pending, stats.leased, stats.dead) == (20, 0, 0, 0)
