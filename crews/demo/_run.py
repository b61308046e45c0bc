"""The main job: a support agent on a real (embedded) mail server, end to end.

Steps, each printed as it happens: serve the sandbox (HTTP + SMTP on loopback) in a data
folder; create ``support@`` in code; index the help centre; listen to the server's event
stream into the durable queue; send a realistic inbox over SMTP; let the worker run the
crews flow on every event; print per email what the agent decided and why; send the
customers' follow-ups into the same threads; print the threads.
"""

from __future__ import annotations

import shutil
import smtplib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from .inbox import FOLLOW_UPS, INBOX, DemoEmail

if TYPE_CHECKING:
    from agentmail_tools import MailClient, Message

__all__ = ["DemoResult", "HELP_CENTRE", "run_demo"]

HELP_CENTRE = Path(__file__).resolve().parent / "data" / "helpcentre"
CONFIG = Path(__file__).resolve().parents[1] / "config" / "support.yaml"
OUTCOME_STYLE = {
    "replied": "green",
    "held": "yellow",
    "blocked": "red",
    "ignored": "dim",
    "failed": "bold red",
}


@dataclass
class DemoResult:
    """What the demo did, for tests and for the closing summary."""

    mailbox_id: str = ""
    sent: int = 0
    outcomes: dict[str, str] = field(default_factory=dict)  # demo email key -> outcome
    llm_calls: int = 0
    seconds: float = 0.0


def _mime(email: DemoEmail, to: str, *, in_reply_to: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = formataddr((email.from_name, email.from_address))
    msg["To"] = to
    msg["Subject"] = email.subject
    msg["Message-ID"] = make_msgid(domain=email.from_address.split("@")[1])
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for name, value in email.headers.items():
        msg[name] = value
    msg.set_content(email.body)
    return msg


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            msg = f"timed out after {timeout:.0f} s waiting for {what}"
            raise TimeoutError(msg)
        time.sleep(0.05)


def _find_inbound(client: MailClient, mailbox_id: str, email: DemoEmail) -> Message | None:
    for message in client.messages.iter(mailbox_id, direction="INBOUND"):
        if message.from_address == email.from_address and message.subject == email.subject:
            return message
    return None


def _latest_outbound(client: MailClient, mailbox_id: str, thread_id: str) -> Message | None:
    outbound = client.messages.list(mailbox_id, direction="OUTBOUND", thread_id=thread_id).messages
    return outbound[0] if outbound else None


def _decision_table(title: str, rows: list[tuple[DemoEmail, dict[str, Any]]]) -> Table:
    table = Table(title=title, show_lines=True, expand=True)
    table.add_column("email", ratio=3)
    table.add_column("triage", ratio=2)
    table.add_column("policy", ratio=2)
    table.add_column("decision", ratio=1)
    table.add_column("why", ratio=4)
    for email, info in rows:
        outcome = str(info.get("outcome", "—"))
        style = OUTCOME_STYLE.get(outcome, "")
        table.add_row(
            f"[bold]{email.subject}[/]\n[dim]{email.from_address}[/]\n[italic]expected: {email.expected}[/]",
            str(info.get("triage", "—")),
            str(info.get("policy", "—")),
            f"[{style}]{outcome}[/]" if style else outcome,
            str(info.get("reason", "")),
        )
    return table


def run_demo(data_dir: Path, *, console: Console | None = None, fresh: bool = True) -> DemoResult:
    """Run the demo in ``data_dir`` (wiped first when ``fresh``) and print it with rich."""
    from agentmail_tools.cli._render import print_thread
    from agentmail_tools.sandbox import Sandbox

    console = console or Console()
    started = time.perf_counter()
    result = DemoResult()
    if fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)

    agent = _Agent.create(data_dir, console)
    sandbox = Sandbox(data_dir / "sandbox")
    with sandbox.serve() as server, server.client() as client:
        smtp_port = server.smtp_port
        assert smtp_port is not None  # serve() listens for SMTP unless told not to
        console.rule("[bold]1 · the mail server")
        console.print(f"sandbox at {server.base_url}, SMTP on {server.smtp_host}:{smtp_port}")
        mailbox = client.mailboxes.create("support", display_name="Brightpath Home Support")
        result.mailbox_id = mailbox.id
        console.print(f"created mailbox [bold]{mailbox.full_address}[/] ({mailbox.id}) in code")

        console.rule("[bold]2 · the help centre")
        agent.index_docs(client, mailbox.id, HELP_CENTRE)

        agent.start_listening(client, mailbox.id)
        try:
            console.rule("[bold]3 · the inbox arrives over SMTP")
            with smtplib.SMTP(server.smtp_host, smtp_port, timeout=10) as smtp:
                for email in INBOX:
                    smtp.send_message(_mime(email, mailbox.full_address))
                    console.print(f"  ← {email.from_address:34} {email.subject}")
                    result.sent += 1
            agent.wait_for_events(len(INBOX))

            console.rule("[bold]4 · the agent works through the queue")
            rows = agent.process(client, mailbox.id, INBOX)
            console.print(_decision_table("round one", rows))

            console.rule("[bold]5 · follow-ups land in their threads")
            follow_rows: list[DemoEmail] = []
            with smtplib.SMTP(server.smtp_host, smtp_port, timeout=10) as smtp:
                for email in FOLLOW_UPS:
                    original = next(e for e in INBOX if e.key == email.follows)
                    first = _find_inbound(client, mailbox.id, original)
                    reply = (
                        _latest_outbound(client, mailbox.id, first.thread_id)
                        if first and first.thread_id
                        else None
                    )
                    if reply is None:
                        console.print(f"  (no reply to answer for {original.key!r}; skipping its follow-up)")
                        continue
                    smtp.send_message(_mime(email, mailbox.full_address, in_reply_to=reply.message_id))
                    console.print(f"  ← {email.from_address:34} {email.subject}")
                    follow_rows.append(email)
                    result.sent += 1
            agent.wait_for_events(len(INBOX) + len(follow_rows))
            rows2 = agent.process(client, mailbox.id, follow_rows)
            console.print(_decision_table("round two", rows2))
            for email, info in rows + rows2:
                result.outcomes[email.key] = str(info.get("outcome", ""))
        finally:
            agent.stop_listening()

        console.rule("[bold]6 · the threads")
        for thread in client.threads.list(mailbox.id):
            detail = client.threads.get(mailbox.id, thread.id)
            if any(m.direction == "OUTBOUND" for m in detail.messages):
                print_thread(detail)
        agent.print_review_queue()

    result.llm_calls = agent.llm_calls
    result.seconds = time.perf_counter() - started
    counts: dict[str, int] = {}
    for outcome in result.outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    console.print(
        Panel(
            f"{result.sent} emails in, "
            + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
            + f"; {result.llm_calls} LLM calls; {result.seconds:.1f} s.\n"
            f"Everything is in {data_dir}: try [bold]agentmail-tools --data {data_dir} decisions list[/]",
            title="demo done",
            border_style="green",
        )
    )
    return result


class _Agent:
    """The agent side of the demo: the crews agent, the queue, the SSE listener and the worker."""

    def __init__(self, data_dir: Path, console: Console) -> None:
        self.data_dir = data_dir
        self.console = console
        self.llm_calls = 0
        self._stop = threading.Event()
        self._listener_thread: threading.Thread | None = None
        self._listener_client: MailClient | None = None
        self.llm: Any = None
        self._agent: Any = None
        self._queue: Any = None

    @classmethod
    def create(cls, data_dir: Path, console: Console) -> _Agent:
        from crews import default_llm, is_offline

        agent = cls(data_dir, console)
        agent.llm = default_llm()
        if is_offline(agent.llm):
            console.print(
                Panel(
                    "No OPENAI_API_KEY in the environment: the crews run on the [bold]offline "
                    "deterministic model[/] (rule-based triage, extractive cited replies) through "
                    "CrewAI's real execution path. Set OPENAI_API_KEY (and optionally "
                    "OPENAI_MODEL_NAME, OPENAI_BASE_URL) to use a real model.",
                    title="offline model",
                    border_style="yellow",
                )
            )
        else:
            console.print(f"model: [bold]{getattr(agent.llm, 'model', agent.llm)}[/] (from OPENAI_*)")
        return agent

    def index_docs(self, client: MailClient, mailbox_id: str, folder: Path) -> None:
        from agentmail_tools.inbound import SQLiteQueue
        from crews import EmailAgent, load_config

        config = load_config(CONFIG)
        self._agent = EmailAgent(client, mailbox_id, config=config, llm=self.llm, state_dir=self.data_dir)
        files = self._agent.index_docs(folder)
        chunks = self._agent.index.count("docs") if self._agent.index is not None else 0
        docs = sorted(p.name for p in folder.glob("*.md"))
        self.console.print(f"indexed {files} documents ({chunks} chunks): {', '.join(docs)}")
        self._queue = SQLiteQueue(self.data_dir / "queue.db")

    def start_listening(self, client: MailClient, mailbox_id: str) -> None:
        """Follow the server's event stream (SSE) into the durable queue, in a thread."""
        from agentmail_tools.inbound import SSEListener

        listener = SSEListener(client, self._queue, mailbox_id=mailbox_id, events=["message.received"])
        self._listener_thread = threading.Thread(
            target=listener.run, args=(self._stop,), name="demo-sse", daemon=True
        )
        self._listener_thread.start()
        self._poll_client = client
        self._mailbox_id = mailbox_id
        self.console.print("listening to the event stream (SSE) → durable queue")

    def wait_for_events(self, count: int) -> None:
        """Wait for the events, with a poll as the backstop (the queue de-duplicates by message)."""
        from agentmail_tools.inbound import Poller

        def queued() -> int:
            stats = self._queue.stats()
            return int(stats.total)

        try:
            _wait_for(lambda: queued() >= count, f"{count} events in the queue", timeout=10)
        except TimeoutError:
            added = Poller(self._poll_client, self._queue, self._mailbox_id).poll_once()
            self.console.print(
                f"[dim]poller backstop queued {added} event(s) the stream had not delivered[/]"
            )
        self.console.print(f"{queued()} events in the queue")

    def process(
        self, client: MailClient, mailbox_id: str, emails: tuple[DemoEmail, ...] | list[DemoEmail]
    ) -> list[tuple[DemoEmail, dict[str, Any]]]:
        from crews import Worker

        results: list[Any] = []
        stats = Worker(self._queue, self._agent, on_result=results.append).drain(timeout=120)
        self.llm_calls += stats.llm_calls
        rows: list[tuple[DemoEmail, dict[str, Any]]] = []
        for email in emails:
            match = next(
                (r for r in results if r.sender == email.from_address and r.subject == email.subject), None
            )
            rows.append((email, _describe(match)))
        return rows

    def stop_listening(self) -> None:
        self._stop.set()
        if self._listener_thread is not None:
            self._listener_thread.join(timeout=10)

    def print_review_queue(self) -> None:
        items = self._agent.reviews.list()
        if not items:
            return
        self.console.rule("[bold]7 · held for a person")
        for item in items:
            self.console.print(
                Panel(
                    item.body_text.strip() or "[dim](no draft: handed over as it is)[/]",
                    title=f"draft {item.id} · {item.subject}",
                    subtitle=f"to {item.sender} · {'; '.join(item.reasons)}"
                    + (f" · escalate to {item.escalation}" if item.escalation else ""),
                    border_style="yellow",
                    title_align="left",
                )
            )
        self.console.print(
            f"[dim]approve one with: agentmail-tools --data {self.data_dir} review approve ID[/]"
        )


def _describe(result: Any) -> dict[str, Any]:
    if result is None:
        return {"outcome": "—", "reason": "no event processed for this email"}
    triage = result.triage
    policy = result.policy
    return {
        "outcome": result.outcome,
        "reason": result.reason
        + (
            f"\n[dim]cites {', '.join(result.draft.citations)}[/]"
            if result.draft and result.draft.citations
            else ""
        )
        + f"\n[dim]{result.stats.llm_calls} LLM call(s)[/]",
        "triage": (
            f"{triage.category} · {triage.urgency}\n{triage.intent}"
            if triage is not None
            else "(rules: no reply)"
        ),
        "policy": (
            f"{', '.join(policy.allowed_actions)} ({policy.decided_by})"
            + (f"\nescalate: {policy.escalation}" if policy.escalation else "")
            if policy is not None
            else "—"
        ),
    }
