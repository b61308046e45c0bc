"""`agentmail-tools worker run` as a user runs it: its own process, a served sandbox, real SMTP."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.crewai]

ROOT = Path(__file__).resolve().parents[2]


def _wait_for(proc: subprocess.Popen[str], lines: list[str], needle: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline() if proc.stdout else ""
        if line:
            lines.append(line)
            if needle in line:
                return
        elif proc.poll() is not None:
            break
    raise AssertionError(f"no {needle!r} from the worker; it printed:\n{''.join(lines)}")


def test_worker_run_answers_mail_from_the_event_stream_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    from agentmail_tools.sandbox import Sandbox

    with Sandbox(tmp_path / "server") as sandbox, sandbox.serve() as server, server.client() as client:
        mailbox = client.mailboxes.create("support")
        env = {
            **os.environ,
            "ROBOTOMAIL_BASE_URL": server.base_url,
            "ROBOTOMAIL_API_KEY": server.api_key,
            "COLUMNS": "200",
        }
        env.pop("OPENAI_API_KEY", None)
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("agentmail-tools")),
                "--data",
                str(tmp_path / "agent"),
                "worker",
                "run",
                "-m",
                "support",
                "--docs",
                str(ROOT / "crews" / "demo" / "data" / "helpcentre"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        lines: list[str] = []
        try:
            _wait_for(proc, lines, "Ctrl-C stops")
            mail = EmailMessage()
            mail["From"], mail["To"], mail["Subject"] = (
                "zoe@example.com",
                mailbox.full_address,
                "Refund timing",
            )
            mail.set_content("I returned my speaker last week. How long until the refund reaches my card?")
            with smtplib.SMTP(server.smtp_host, server.smtp_port or 0) as smtp:
                smtp.send_message(mail)
            _wait_for(proc, lines, "replied")
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=60)
            lines.append(out)
        finally:
            if proc.poll() is None:
                proc.kill()
        printed = "".join(lines)
        assert proc.returncode == 0, printed
        assert "indexed 5 documents" in printed and "processed 1: {'replied': 1}" in printed
        assert "skipped" not in printed  # only received mail is fed to the flow
        [reply] = client.messages.list(mailbox.id, direction="OUTBOUND").messages
        assert reply.to_addresses == ["zoe@example.com"] and "doc:refunds.md" in (reply.body_text or "")
