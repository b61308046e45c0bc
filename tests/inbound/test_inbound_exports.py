"""The public surface of agentmail_tools.inbound: sorted, resolvable, light (pinned in test_public_api)."""

from __future__ import annotations

import subprocess
import sys

import agentmail_tools.inbound as inbound


def test_all_is_sorted_and_resolves() -> None:
    # The names themselves are pinned in tests/test_public_api.py.
    assert inbound.__all__ == sorted(inbound.__all__)
    for name in inbound.__all__:
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
