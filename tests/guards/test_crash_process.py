"""A real process killed (SIGKILL) after the server accepted a send, before the guard recorded it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from agentmail_tools.guards import MailGuard, idempotency_key
from agentmail_tools.sandbox import Sandbox

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from agentmail_tools.guards import MailGuard
    from agentmail_tools.guards._state import GuardState
    from agentmail_tools.sandbox import Sandbox

    sandbox_path, state_path, mailbox_id, message_id, key = sys.argv[1:6]

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    GuardState.complete_send = die  # the server has the message; the process dies before recording it
    sandbox = Sandbox(sandbox_path)
    client = sandbox.client()
    guard = MailGuard(client, state_path=state_path)
    inbound = client.messages.get(mailbox_id, message_id)
    guard.reply(mailbox_id, inbound, body_text="Sent before the crash", idempotency_key=key)
    sys.exit(3)  # not reached
    """
)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_sigkill_between_send_and_record_never_sends_twice(tmp_path):
    sandbox_path, state_path = tmp_path / "sandbox", tmp_path / "guards.db"
    with Sandbox(sandbox_path) as sandbox:
        client = sandbox.client()
        agent = client.mailboxes.create("agent")
        stored = sandbox.inject(
            {"from": "dana@example.com", "to": agent.full_address, "subject": "Refund", "bodyText": "Hi"}
        )
        client.close()
    key = idempotency_key("evt_kill", "reply")
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(sandbox_path), str(state_path), agent.id, stored[0]["id"], key],
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]

    with Sandbox(sandbox_path) as sandbox:
        client = sandbox.client()
        assert len(client.messages.list(agent.id, direction="OUTBOUND").messages) == 1
        with MailGuard(client, state_path=state_path) as guard:
            assert [r.key for r in guard.pending()] == [key]
            inbound = client.messages.get(agent.id, stored[0]["id"])
            again = guard.reply(
                agent.id, inbound, body_text="A second draft after restart", idempotency_key=key
            )
            assert again.body_text == "Sent before the crash"
            assert guard.pending() == []
        assert len(client.messages.list(agent.id, direction="OUTBOUND").messages) == 1
        client.close()
