"""Fixtures: an in-process sandbox (no socket) with a mailbox and a seeded thread."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import pytest

from agentmail_tools import Mailbox, MailClient, Message
from agentmail_tools.sandbox import Sandbox
from agentmail_tools.tools import MailToolkit


@dataclass
class World:
    sandbox: Sandbox
    client: MailClient
    mailbox: Mailbox
    inbound: Message  # the latest message of the seeded thread (from ann, cc bob)

    def inject(self, **fields: Any) -> Message:
        payload = {"from": "ann@example.com", "to": [self.mailbox.full_address], **fields}
        stored = self.sandbox.inject(payload)
        return self.client.messages.get(self.mailbox.id, stored[0]["id"])

    def inject_raw(self, raw: bytes) -> Message:
        stored = self.sandbox.inject(raw)
        return self.client.messages.get(self.mailbox.id, stored[0]["id"])

    def toolkit(self, **kwargs: Any) -> MailToolkit:
        kwargs.setdefault("mailbox_id", self.mailbox.id)
        return MailToolkit(self.client, **kwargs)


def raw_with_attachments(to: str, attachments: list[tuple[str, str, bytes]], subject: str = "Docs") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ann <ann@example.com>"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("Please see the attached files.")
    for filename, ctype, data in attachments:
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return bytes(msg)


@pytest.fixture
def world() -> Iterator[World]:
    with Sandbox() as sandbox:
        client = sandbox.client()
        mailbox = client.mailboxes.create("support", display_name="Support")
        w = World(sandbox, client, mailbox, inbound=None)  # type: ignore[arg-type]
        first = w.inject(subject="Order 42 is late", bodyText="Hi, where is my order 42?")
        w.inbound = w.inject(
            subject="Re: Order 42 is late",
            bodyText="Any news on order 42? It was due Monday.",
            cc=["bob@example.com"],
            inReplyTo=first.message_id,
        )
        assert w.inbound.thread_id == first.thread_id
        yield w
        client.close()


def tool_by_name(toolkit: MailToolkit, name: str) -> Any:
    return next(t for t in toolkit.get_tools() if t.name == name)
