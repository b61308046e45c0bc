"""Shared fixtures for the crews tests: MIME builders, a help-centre index, sandbox agents."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUPPORT_YAML = ROOT / "crews" / "config" / "support.yaml"
HELP_CENTRE = ROOT / "crews" / "demo" / "data" / "helpcentre"


def mime(
    sender: str,
    to: str,
    subject: str,
    body: str,
    *,
    name: str | None = None,
    headers: dict[str, str] | None = None,
    in_reply_to: str | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = formataddr((name, sender)) if name else sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    return msg.as_bytes()


@pytest.fixture(scope="session")
def support_config() -> Any:
    from crews import load_config

    return load_config(SUPPORT_YAML)


@pytest.fixture(scope="session")
def help_index() -> Iterator[Any]:
    """One in-memory index with the help centre shared with every mailbox (embedding is the slow part)."""
    from retrieval import MailIndex

    index = MailIndex()
    for path in sorted(HELP_CENTRE.glob("*.md")):
        index.add_document(path.read_text(encoding="utf-8"), source=path.name)
    yield index


class Env:
    """A sandbox, a client, the support mailbox and helpers to deliver mail and build agents."""

    def __init__(self, sandbox: Any, client: Any, mailbox: Any, index: Any, config: Any) -> None:
        self.sandbox = sandbox
        self.client = client
        self.mailbox = mailbox
        self.index = index
        self.config = config

    def deliver(self, sender: str, subject: str, body: str, **kwargs: Any) -> Any:
        stored = self.sandbox.inject(mime(sender, self.mailbox.full_address, subject, body, **kwargs))
        return self.client.messages.get(self.mailbox.id, stored[0]["id"])

    def event(self, message: Any) -> Any:
        from agentmail_tools.inbound import InboundEvent

        return InboundEvent.from_message(message)

    def agent(self, llm: Any, **kwargs: Any) -> Any:
        from crews import EmailAgent

        kwargs.setdefault("config", self.config)
        return EmailAgent(self.client, self.mailbox.id, llm=llm, index=self.index, **kwargs)

    def outbound(self) -> list[Any]:
        return list(self.client.messages.iter(self.mailbox.id, direction="OUTBOUND"))


@pytest.fixture
def env(help_index: Any, support_config: Any) -> Iterator[Env]:
    from agentmail_tools.sandbox import Sandbox

    with Sandbox() as sandbox, sandbox.client() as client:
        mailbox = client.mailboxes.create("support", display_name="Brightpath Home Support")
        yield Env(sandbox, client, mailbox, help_index, support_config)
