"""The public surface of agentmail_tools.inbound, pinned; importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import agentmail_tools.inbound as inbound

EXPECTED = [
    "AsyncPoller",
    "AsyncSSEListener",
    "DeadLetter",
    "EventSource",
    "InboundEvent",
    "InboundQueue",
    "InvalidEventError",
    "ItemState",
    "Lease",
    "ListenerStats",
    "Poller",
    "QueueItem",
    "QueueStats",
    "SQLiteQueue",
    "SSEListener",
    "WebhookReceiver",
]


def test_all_is_pinned_and_sorted() -> None:
    assert inbound.__all__ == EXPECTED == sorted(EXPECTED)
    for name in EXPECTED:
        assert getattr(inbound, name) is not None


def test_import_does_not_pull_in_servers_or_frameworks() -> None:
    code = (
        "import sys, agentmail_tools.inbound; "
        "print(','.join(m for m in ('starlette', 'uvicorn', 'crewai', 'chromadb', 'langchain_core') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_sqlite_queue_satisfies_the_protocol() -> None:
    assert isinstance(inbound.SQLiteQueue(), inbound.InboundQueue)
