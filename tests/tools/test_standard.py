"""langchain_tests standard suites for every mail tool.

Unit suites construct each tool over an in-process sandbox (no socket). Integration
suites run each tool against the sandbox served on a loopback port, through a real
``MailClient`` (sync paths) and ``AsyncMailClient`` (native async paths).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass
from email.message import EmailMessage
from functools import cache
from typing import Any

import pytest
from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from agentmail_tools import AsyncMailClient, MailClient
from agentmail_tools.sandbox import Sandbox
from agentmail_tools.tools import (
    CreateMailboxTool,
    GetAttachmentTool,
    GetMessageTool,
    ListMailboxesTool,
    ListThreadsTool,
    MailContext,
    MailTool,
    MailToolkit,
    ReadThreadTool,
    ReplyToMessageTool,
    SearchMessagesTool,
    SendEmailTool,
)


@dataclass
class Seeded:
    context: MailContext
    ids: dict[str, str]


def _seed(sandbox: Sandbox, client: MailClient) -> dict[str, str]:
    mailbox = client.mailboxes.create("standard")
    msg = EmailMessage()
    msg["From"] = "ann@example.com"
    msg["To"] = mailbox.full_address
    msg["Subject"] = "Order 42"
    msg.set_content("Where is order 42?")
    msg.add_attachment(b"Tracking: 1Z999", maintype="text", subtype="plain", filename="tracking.txt")
    stored = sandbox.inject(bytes(msg))[0]
    message = client.messages.get(mailbox.id, stored["id"])
    return {
        "mailbox_id": mailbox.id,
        "message_id": message.id,
        "thread_id": message.thread_id or "",
        "attachment_id": message.attachments[0].id,
    }


@cache
def unit_world() -> Seeded:
    """In-process sandbox: constructing tools needs no socket."""
    sandbox = Sandbox()
    client = sandbox.client()
    ids = _seed(sandbox, client)
    atexit.register(sandbox.close)
    toolkit = MailToolkit(client, mailbox_id=ids["mailbox_id"], allow_new_conversations=True)
    return Seeded(toolkit.context, ids)


@dataclass
class Served:
    server: Any
    client: MailClient
    ids: dict[str, str]
    state_path: str

    def context(self) -> MailContext:
        # A fresh AsyncMailClient per tool: pytest-asyncio gives each test its own event
        # loop and an httpx pool must not outlive the loop it was made on. The guard state
        # file is shared, so a repeated tool call is still recognised and sent once.
        async_client = AsyncMailClient(api_key=self.server.api_key, base_url=self.server.base_url)
        toolkit = MailToolkit(
            self.client,
            async_client=async_client,
            mailbox_id=self.ids["mailbox_id"],
            allow_new_conversations=True,
            guard_state_path=self.state_path,
        )
        return toolkit.context


@cache
def served_world() -> Served:
    """The sandbox on a real loopback port, reached over HTTP by both client flavours."""
    sandbox = Sandbox()
    server = sandbox.serve()
    client = MailClient(api_key=server.api_key, base_url=server.base_url)
    ids = _seed(sandbox, client)
    state_dir = tempfile.mkdtemp(prefix="tools-standard-")

    def stop() -> None:
        client.close()
        server.stop()
        sandbox.close()
        shutil.rmtree(state_dir, ignore_errors=True)

    atexit.register(stop)
    return Served(server, client, ids, os.path.join(state_dir, "guard.sqlite3"))


def _examples(ids: dict[str, str]) -> dict[type[MailTool], dict[str, Any]]:
    return {
        SendEmailTool: {"to": ["dave@example.com"], "subject": "Hello", "body": "Welcome aboard."},
        ReplyToMessageTool: {"message_id": ids["message_id"], "body": "It ships Friday."},
        ReadThreadTool: {"thread_id": ids["thread_id"]},
        SearchMessagesTool: {"query": "order"},
        ListThreadsTool: {"limit": 5},
        GetMessageTool: {"message_id": ids["message_id"]},
        GetAttachmentTool: {"message_id": ids["message_id"], "attachment_id": ids["attachment_id"]},
        ListMailboxesTool: {},
        # Creating the same mailbox twice is a conflict; the integration suite invokes 4 times.
        CreateMailboxTool: {"address": "created-by-standard-tests"},
    }


class _Unit(ToolsUnitTests):
    cls: type[MailTool]

    @property
    def tool_constructor(self) -> type[MailTool]:
        return self.cls

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"context": unit_world().context}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return _examples(unit_world().ids)[self.cls]


class _Integration(ToolsIntegrationTests):
    cls: type[MailTool]

    @property
    def tool_constructor(self) -> type[MailTool]:
        return self.cls

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        # Errors raise instead of becoming error messages, so a failing call fails the test.
        return {"context": served_world().context(), "handle_tool_error": False}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return _examples(served_world().ids)[self.cls]


def _make(base: type, cls: type[MailTool], marks: list[pytest.MarkDecorator]) -> type:
    suite = type(f"Test{cls.__name__}{base.__name__.strip('_')}", (base,), {"cls": cls})
    for mark in marks:
        suite = mark(suite)
    return suite


_TOOLS = [
    SendEmailTool,
    ReplyToMessageTool,
    ReadThreadTool,
    SearchMessagesTool,
    ListThreadsTool,
    GetMessageTool,
    GetAttachmentTool,
    ListMailboxesTool,
]
for _cls in _TOOLS:
    _unit = _make(_Unit, _cls, [])
    _integ = _make(_Integration, _cls, [pytest.mark.integration])
    globals()[_unit.__name__] = _unit
    globals()[_integ.__name__] = _integ
globals()["TestCreateMailboxToolUnit"] = _make(_Unit, CreateMailboxTool, [])


@pytest.mark.integration
class TestCreateMailboxToolIntegration(_Integration):
    """Creating a mailbox is not idempotent: each standard invocation gets a fresh address."""

    cls = CreateMailboxTool
    _counter = 0

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        type(self)._counter += 1
        return {"address": f"standard-{type(self)._counter}"}
