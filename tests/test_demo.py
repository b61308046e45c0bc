"""The main job end to end: real SMTP in, SSE into the durable queue, the crews flow, replies in thread."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.crewai]


def test_demo_answers_what_it_should_and_nothing_else(tmp_path: Path) -> None:
    from agentmail_tools.guards import DecisionLog
    from agentmail_tools.sandbox import Sandbox
    from crews.demo._run import run_demo

    out = io.StringIO()
    result = run_demo(tmp_path / "demo", console=Console(file=out, width=140))
    text = out.getvalue()

    assert result.sent == 10
    # questions the help centre answers: replied (the follow-up on tracking too)
    for key in ("tracking", "password", "billing", "tracking-2"):
        assert result.outcomes[key] == "replied", (key, result.outcomes)
    # must-not-reply mail is never answered
    for key in ("newsletter", "autoreply", "bounce"):
        assert result.outcomes[key] == "ignored", (key, result.outcomes)
    # a chargeback threat and a prompt injection go to a person, never out by themselves
    assert result.outcomes["refund"] == "held"
    assert result.outcomes["injection"] == "held"
    assert "offline model" in text

    decisions = DecisionLog(tmp_path / "demo" / "decisions.db").list(limit=100)
    assert sum(d.outcome == "replied" for d in decisions) == 4

    # the replies went out in the customers' threads, and only to them
    sandbox = Sandbox(tmp_path / "demo" / "sandbox")
    try:
        client = sandbox.client()
        outbound = list(client.messages.iter(result.mailbox_id, direction="OUTBOUND"))
        assert len(outbound) == 4
        recipients = {a for m in outbound for a in m.to_addresses}
        assert recipients == {
            "alice.moreno@example.com",
            "bob.nakamura@example.org",
            "carol.dubois@example.net",
        }
        for message in outbound:
            thread = client.threads.get(result.mailbox_id, message.thread_id)
            assert thread.messages[0].direction == "INBOUND"
            assert message.in_reply_to
        tracking = next(t for t in client.threads.list(result.mailbox_id) if "4417" in t.subject)
        assert tracking.message_count == 4  # question, reply, follow-up, second reply
    finally:
        sandbox.close()
