"""The ``agentmail-tools`` CLI on the embedded sandbox in a temporary data folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentmail_tools.cli._app import _register_extensions, app

_register_extensions()
runner = CliRunner()

GROUPS = [
    "sandbox",
    "mailboxes",
    "threads",
    "webhooks",
    "queue",
    "decisions",
    "index",
    "worker",
    "review",
    "eval",
]


def run(data: Path, *args: str) -> str:
    result = runner.invoke(app, ["--data", str(data), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("group", [None, *GROUPS])
def test_every_command_group_has_help(group: str | None) -> None:
    result = runner.invoke(app, [group, "--help"] if group else ["--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_top_level_help_lists_every_command() -> None:
    output = runner.invoke(app, ["--help"]).output
    for name in [*GROUPS, "send", "search", "demo"]:
        assert name in output


def test_mailbox_send_threads_and_search_persist_across_invocations(tmp_path: Path) -> None:
    created = run(tmp_path, "mailboxes", "create", "support", "--display-name", "Support")
    assert "created" in created
    mailbox_id = created.split("(")[1].split(")")[0]
    # Ids are printed whole (never cut or wrapped) even on an 80-column terminal: they are pasted.
    assert mailbox_id in run(tmp_path, "mailboxes", "list")
    sent = run(
        tmp_path,
        "send",
        "-m",
        "support",
        "--to",
        "ana@example.com",
        "--subject",
        "Your parcel 88 is on its way",
        "--body",
        "The courier picks it up tomorrow morning.",
    )
    thread_id = sent.split("in thread ")[1].split()[0]
    listing = run(tmp_path, "threads", "list", "-m", "support")
    assert "parcel" in listing and thread_id in listing
    shown = run(tmp_path, "threads", "show", "-m", "support", thread_id)
    assert "courier picks it up" in shown
    assert "1 match(es)" in run(tmp_path, "search", "-m", "support", "courier")
    assert "0 match(es)" in run(tmp_path, "search", "-m", "support", "zeppelin")


def test_queue_decisions_and_review_start_empty(tmp_path: Path) -> None:
    assert "ready" in run(tmp_path, "queue", "stats")
    assert "outcome" in run(tmp_path, "decisions", "list")
    assert "subject" in run(tmp_path, "review", "list")


def test_index_sync_is_idempotent(tmp_path: Path) -> None:
    run(tmp_path, "mailboxes", "create", "support")
    run(
        tmp_path,
        "send",
        "-m",
        "support",
        "--to",
        "a@example.com",
        "--subject",
        "Hello",
        "--body",
        "First words.",
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "faq.md").write_text("# Returns\n\nReturns are free within 30 days.\n", encoding="utf-8")
    first = run(tmp_path, "index", "sync", "-m", "support", "--docs", str(docs))
    assert "1 indexed" in first
    assert "0 indexed, 1 unchanged" in run(tmp_path, "index", "sync", "-m", "support")
    assert "faq.md" in run(tmp_path, "index", "query", "-m", "support", "are returns free?")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["threads", "list", "-m", "nobody"], "no mailbox 'nobody'"),
        (["review", "approve", "rev_missing"], "rev_missing"),
        (["queue", "requeue", "evt_missing"], "no dead-lettered event"),
        (["webhooks", "listen"], "no webhook secret"),
        (["eval", "run", "--items", "missing.yaml"], "cannot read the labelled set"),
        (["eval", "run", "--config", "missing.yaml"], "cannot read mailbox configuration"),
    ],
)
def test_user_mistakes_get_a_readable_error_and_no_traceback(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROBOTOMAIL_")}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from agentmail_tools.cli import main; main()",
            "--data",
            str(tmp_path),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_sandbox_serve_on_a_busy_port_says_so(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "from agentmail_tools.cli import main; main()",
                "sandbox",
                "serve",
                "--data",
                str(tmp_path / "box"),
                "--port",
                str(port),
                "--smtp-port",
                "0",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"cannot listen on 127.0.0.1 (HTTP port {port}" in " ".join(proc.stderr.split())
    assert "Traceback" not in proc.stderr + proc.stdout
    assert (tmp_path / "box").is_dir()  # --data names the sandbox's own folder


def test_hosted_api_errors_are_readable(tmp_path: Path) -> None:
    """A bad base URL is a library error (MailError): one line, exit 1, no traceback."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from agentmail_tools.cli import main; main()",
            "--api-key",
            "rm_test",
            "--base-url",
            "http://example.com/v1",
            "mailboxes",
            "list",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "error:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_decisions_show_the_mailbox_only_when_there_are_several(tmp_path: Path) -> None:
    from agentmail_tools.guards import DecisionLog

    with DecisionLog(tmp_path / "decisions.db") as log:
        log.record("evt_1", "mbx_one", "ignored", "no reply needed", thread_id="thr_1")
        one = run(tmp_path, "decisions", "list")
        log.record("evt_2", "mbx_two", "replied", "answered", thread_id="thr_2")
        two = run(tmp_path, "decisions", "list")
    assert "thr_1" in one and "mailbox" not in one
    assert "mbx_one" in two and "mbx_two" in two and "mailbox" in two
