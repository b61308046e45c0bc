"""Worker over the durable queue: concurrency, duplicates, shutdown, and a crash mid-flow."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _waiting import wait_for

pytestmark = pytest.mark.crewai

crewai = pytest.importorskip("crewai")


from agentmail_tools.inbound import InboundEvent, SQLiteQueue  # noqa: E402
from crews import OfflineLLM, Worker  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).resolve().parent / "worker_child.py"


def customer_mail(env: Any, n: int) -> Any:
    return env.deliver(
        f"customer{n}@example.com",
        f"Password reset link expired ({n})",
        "My password reset link says it has expired. What am I doing wrong?",
    )


def test_drain_with_concurrency_answers_each_event_once(env: Any) -> None:
    queue = SQLiteQueue()
    agent = env.agent(OfflineLLM())
    messages = [customer_mail(env, n) for n in range(3)]
    messages.append(
        env.deliver("news@list.example", "Weekly", "Read more", headers={"List-Id": "<l.example>"})
    )
    for message in messages:
        assert queue.put(env.event(message)) is True
        assert queue.put(env.event(message)) is False  # the same event again: not enqueued
    seen: list[Any] = []
    worker = Worker(queue, agent, concurrency=3, on_result=seen.append)
    stats = worker.drain(timeout=120)
    assert stats.processed == 4 and len(seen) == 4
    assert stats.outcomes == {"replied": 3, "ignored": 1}
    assert stats.llm_calls == 9  # 3 per reply, 0 for the list mail
    assert len(env.outbound()) == 3
    assert queue.stats().done == 4
    # The same message arriving again through another transport is answered once.
    redelivered = InboundEvent.from_message(messages[0]).model_copy(
        update={"source": "webhook", "delivery_id": "d-9"}
    )
    queue.put(redelivered)
    worker.drain()
    assert len(env.outbound()) == 3


def test_run_until_stopped_finishes_in_flight_events(env: Any) -> None:
    queue = SQLiteQueue()
    worker = Worker(queue, env.agent(OfflineLLM()), concurrency=2, poll_interval=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    for n in range(2):
        queue.put(env.event(customer_mail(env, n)))
    wait_for(lambda: worker.stats.processed == 2, "two events processed")
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert queue.stats().leased == 0 and len(env.outbound()) == 2


def test_event_for_an_unknown_mailbox_is_dead_lettered(env: Any) -> None:
    queue = SQLiteQueue()
    event = InboundEvent(
        event_id="message.received:mbx_other:m1",
        event="message.received",
        mailbox_id="mbx_other",
        message_id="m1",
    )
    queue.put(event)
    worker = Worker(queue, env.agent(OfflineLLM()))
    worker.drain()
    assert worker.stats.dead_lettered == 1
    [dead] = queue.dead_letters()
    assert "no agent configured" in str(dead.last_error if hasattr(dead, "last_error") else dead)


def test_transport_failure_is_retried_not_lost(env: Any) -> None:
    queue = SQLiteQueue(backoff_base=0.0, backoff_max=0.0)
    agent = env.agent(OfflineLLM())
    message = customer_mail(env, 1)
    queue.put(env.event(message))
    real_get = agent.client.messages.get
    calls = {"n": 0}

    def flaky_get(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("network down")
        return real_get(*args, **kwargs)

    agent.fetch_message = lambda mailbox_id, message_id, payload: flaky_get(mailbox_id, message_id)  # type: ignore[method-assign]
    worker = Worker(queue, agent)
    worker.drain(timeout=60)
    assert worker.stats.failed == 1 and worker.stats.outcomes == {"replied": 1}
    assert len(env.outbound()) == 1


def _child(
    server: Any, mailbox_id: str, tmp_path: Path, mode: str, queue: Path | None = None
) -> tuple[subprocess.Popen[str], Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    marker = tmp_path / f"{mode}.marker"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            str(CHILD),
            server.base_url,
            server.api_key,
            mailbox_id,
            str(tmp_path / "state"),
            str(queue or tmp_path / "queue.db"),
            mode,
            str(marker),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    return proc, marker


def _kill_at(proc: subprocess.Popen[str], marker: Path) -> None:
    try:
        wait_for(lambda: marker.exists() or proc.poll() is not None, f"the child to reach {marker.stem}", 120)
        assert marker.exists(), proc.communicate()[1][-2000:]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


@contextlib.contextmanager
def served_support(tmp_path: Path) -> Iterator[tuple[Any, Any, Any, Any]]:
    """A sandbox on disk, served on loopback (the worker processes connect over HTTP)."""
    from agentmail_tools.sandbox import Sandbox

    with (
        Sandbox(tmp_path / "sandbox") as sandbox,
        sandbox.serve(smtp_port=None) as server,
        server.client() as client,
    ):
        yield sandbox, server, client, client.mailboxes.create("support")


def reset_link_mail(sandbox: Any, client: Any, mailbox: Any, sender: str, subject: str) -> Any:
    """A customer's password question, delivered as raw MIME; returns the stored message."""
    from email.message import EmailMessage

    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, mailbox.full_address, subject
    mail.set_content("My password reset link says it has expired. What am I doing wrong?")
    return client.messages.get(mailbox.id, sandbox.inject(mail.as_bytes())[0]["id"])


@pytest.mark.integration
@pytest.mark.slow
def test_worker_killed_mid_flow_then_restarted_sends_exactly_one_reply(tmp_path: Path) -> None:
    with served_support(tmp_path) as (sandbox, server, client, mailbox):
        inbound = reset_link_mail(sandbox, client, mailbox, "bob@example.org", "Reset link expired")
        queue = SQLiteQueue(tmp_path / "queue.db")
        assert queue.put(InboundEvent.from_message(inbound))

        def outbound() -> list[Any]:
            return list(client.messages.iter(mailbox.id, direction="OUTBOUND"))

        # 1. Killed after the reply left, before the decision was recorded or the event acked.
        _kill_at(*_child(server, mailbox.id, tmp_path, "hang-after-send"))
        assert len(outbound()) == 1
        # 2. Restarted: the event is redelivered, the idempotency key finds the reply: no second send.
        proc, _ = _child(server, mailbox.id, tmp_path, "complete")
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-2000:]
        assert json.loads(out.strip().splitlines()[-1])["outcomes"] == {"replied": 1}
        [reply] = outbound()
        assert reply.thread_id == inbound.thread_id and reply.in_reply_to == inbound.message_id
        stats = queue.stats()
        assert (stats.done, stats.ready, stats.leased, stats.dead) == (1, 0, 0, 0)


def test_worker_build_from_yaml_configs(env: Any, tmp_path: Path) -> None:
    queue = SQLiteQueue()
    config_path = ROOT / "crews" / "config" / "support.yaml"
    worker = Worker.build(
        queue,
        env.client,
        {env.mailbox.id: config_path},
        llm=OfflineLLM(),
        state_dir=tmp_path,
        docs=ROOT / "crews" / "demo" / "data" / "helpcentre",
    )
    [agent] = worker.agents.values()
    assert agent.config.persona.company == "Brightpath Home"
    queue.put(env.event(customer_mail(env, 7)))
    stats = worker.drain(timeout=120)
    assert stats.outcomes == {"replied": 1}
    assert (tmp_path / "decisions.db").exists() and (tmp_path / "chroma").is_dir()
    assert (tmp_path / "mailboxes" / env.mailbox.id / "guards.db").exists()


@pytest.mark.integration
@pytest.mark.slow
def test_two_worker_processes_share_one_queue_and_answer_each_email_once(tmp_path: Path) -> None:
    with served_support(tmp_path) as (sandbox, server, client, mailbox):
        queue = SQLiteQueue(tmp_path / "queue.db")
        for n in range(4):
            inbound = reset_link_mail(
                sandbox, client, mailbox, f"customer{n}@example.org", f"Reset link expired ({n})"
            )
            queue.put(InboundEvent.from_message(inbound))
        # Separate state folders on purpose: only the queue file is shared (guards, decisions
        # and reviews could be shared too; the point here is that leases never overlap).
        procs = [
            _child(server, mailbox.id, tmp_path / f"p{i}", "complete", tmp_path / "queue.db")[0]
            for i in range(2)
        ]
        outcomes: dict[str, int] = {}
        for proc in procs:
            out, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err[-2000:]
            for outcome, count in json.loads(out.strip().splitlines()[-1])["outcomes"].items():
                outcomes[outcome] = outcomes.get(outcome, 0) + count
        sent = list(client.messages.iter(mailbox.id, direction="OUTBOUND"))
        assert len(sent) == 4 and len({m.thread_id for m in sent}) == 4
        assert outcomes == {"replied": 4}
        assert queue.stats().done == 4
