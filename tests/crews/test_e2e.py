"""The whole path on real loopback servers: SMTP in, SSE events, queue, worker, crews, reply out."""

from __future__ import annotations

import smtplib
import threading
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from _waiting import wait_for

pytestmark = [pytest.mark.crewai, pytest.mark.integration]

crewai = pytest.importorskip("crewai")


from agentmail_tools.inbound import SQLiteQueue, SSEListener  # noqa: E402
from crews import EmailAgent, OfflineLLM, Worker, run_inbox  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def smtp_send(server: Any, to: str, subject: str, body: str, in_reply_to: str | None = None) -> None:
    mail = EmailMessage()
    mail["From"] = "Alice Moreno <alice.moreno@example.com>"
    mail["To"] = to
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain="example.com")
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
        mail["References"] = in_reply_to
    mail.set_content(body)
    with smtplib.SMTP(server.smtp_host, server.smtp_port, timeout=10) as smtp:
        smtp.send_message(mail)


def test_customer_email_over_smtp_gets_a_cited_reply_in_the_same_thread(
    tmp_path: Path, help_index: Any, support_config: Any
) -> None:
    from agentmail_tools.sandbox import Sandbox

    with Sandbox(tmp_path / "sandbox") as sandbox, sandbox.serve() as server, server.client() as client:
        mailbox = client.mailboxes.create("support", display_name="Brightpath Home Support")
        queue = SQLiteQueue(tmp_path / "queue.db")
        agent = EmailAgent(
            client,
            mailbox.id,
            config=support_config,
            llm=OfflineLLM(),
            index=help_index,
            state_dir=tmp_path / "state",
        )
        listener = SSEListener(client, queue, mailbox_id=mailbox.id, events=["message.received"])
        stop = threading.Event()
        threads = [
            threading.Thread(target=listener.run, args=(stop,), daemon=True),
            threading.Thread(target=Worker(queue, agent, poll_interval=0.05).run, args=(stop,), daemon=True),
        ]
        for thread in threads:
            thread.start()
        try:
            smtp_send(
                server,
                mailbox.full_address,
                "Where is my order #4417?",
                "Hi, the tracking shows no movement. How long does standard delivery take to the US?",
            )

            def outbound() -> list[Any]:
                return list(client.messages.iter(mailbox.id, direction="OUTBOUND"))

            wait_for(lambda: len(outbound()) == 1, "the agent's reply", 120)
            [inbound] = list(client.messages.iter(mailbox.id, direction="INBOUND"))
            [reply] = outbound()
            assert reply.thread_id == inbound.thread_id and reply.in_reply_to == inbound.message_id
            assert reply.to_addresses == ["alice.moreno@example.com"]
            assert "3–5 business days" in reply.body_text and "[doc:shipping.md#" in reply.body_text
            # The customer answers the reply over SMTP: the follow-up and its answer stay in the thread.
            smtp_send(
                server,
                mailbox.full_address,
                "Re: Where is my order #4417?",
                "It has now been 8 days without a tracking update. What happens if the parcel is lost?",
                in_reply_to=reply.message_id,
            )
            wait_for(lambda: len(outbound()) == 2, "the answer to the follow-up", 120)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        thread_detail = client.threads.get(mailbox.id, inbound.thread_id)
        assert [m.direction for m in thread_detail.messages] == ["INBOUND", "OUTBOUND", "INBOUND", "OUTBOUND"]
        assert (
            "replacement" in thread_detail.messages[-1].body_text
            or "investigation" in thread_detail.messages[-1].body_text
        )
        decisions = agent.decisions.list(mailbox.id)
        assert [d.outcome for d in decisions] == ["replied", "replied"]


def test_run_inbox_answers_what_is_new_and_nothing_twice(
    tmp_path: Path, help_index: Any, support_config: Any
) -> None:
    from agentmail_tools.sandbox import Sandbox

    with Sandbox() as sandbox, sandbox.client() as client:
        mailbox = client.mailboxes.create("support")
        for subject, body, headers in [
            ("Reset link expired", "My password reset link expired. What now?", {}),
            ("Weekly", "Read more", {"List-Id": "<w.example>"}),
        ]:
            mail = EmailMessage()
            mail["From"], mail["To"], mail["Subject"] = "bob@example.org", mailbox.full_address, subject
            for key, value in headers.items():
                mail[key] = value
            mail.set_content(body)
            sandbox.inject(mail.as_bytes())
        agent = EmailAgent(
            client, mailbox.id, config=support_config, llm=OfflineLLM(), index=help_index, state_dir=tmp_path
        )
        run = run_inbox(client, mailbox.id, agent=agent, state_dir=tmp_path)
        assert run.enqueued == 2 and run.offline_model
        assert run.outcomes == {"replied": 1, "ignored": 1}
        assert run.llm_calls == 3 and run.prompt_tokens > 0
        again = run_inbox(client, mailbox.id, agent=agent, state_dir=tmp_path)
        assert again.enqueued == 0 and again.results == []
        assert len(list(client.messages.iter(mailbox.id, direction="OUTBOUND"))) == 1
