"""MailToolkit against the in-process sandbox: every tool, every refusal path, sync and async."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.tools import ToolException

from agentmail_tools import ThreadDetail
from agentmail_tools.guards import GuardPolicy, MailGuard
from agentmail_tools.tools import MailToolError, MailToolkit

from ._docs import make_docx, make_pdf
from .conftest import World, raw_with_attachments, tool_by_name


def call(tool: Any, **args: Any) -> ToolMessage:
    result = tool.invoke({"type": "tool_call", "id": "call-1", "name": tool.name, "args": args})
    assert isinstance(result, ToolMessage)
    return result


async def acall(tool: Any, **args: Any) -> ToolMessage:
    result = await tool.ainvoke({"type": "tool_call", "id": "call-1", "name": tool.name, "args": args})
    assert isinstance(result, ToolMessage)
    return result


def strict(world: World, name: str, **kwargs: Any) -> Any:
    """A tool that raises ToolException instead of answering the model with the error."""
    return tool_by_name(world.toolkit(handle_tool_error=False, **kwargs), name)


# --------------------------------------------------------------------------- toolkit shape


def test_tool_names_and_new_conversation_gate(world: World) -> None:
    names = [t.name for t in world.toolkit().get_tools()]
    assert names == [
        "reply_to_message",
        "read_thread",
        "search_messages",
        "list_threads",
        "get_message",
        "get_attachment",
        "list_mailboxes",
        "create_mailbox",
    ]
    assert [t.name for t in world.toolkit(allow_new_conversations=True).get_tools()][0] == "send_email"


def test_every_argument_is_described_for_the_model(world: World) -> None:
    for tool in world.toolkit(allow_new_conversations=True).get_tools():
        assert tool.response_format == "content_and_artifact"
        assert len(tool.description) > 40
        schema = tool.tool_call_schema.model_json_schema()
        for name, prop in schema.get("properties", {}).items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"


def test_toolkit_needs_a_client_and_a_valid_mailbox_id(world: World) -> None:
    with pytest.raises(ValueError, match="needs a MailClient"):
        MailToolkit(mailbox_id="x")
    with pytest.raises(ValueError, match="mailbox_id"):
        MailToolkit(world.client, mailbox_id="..")


# --------------------------------------------------------------------------- reading


def test_read_thread(world: World) -> None:
    result = call(tool_by_name(world.toolkit(), "read_thread"), thread_id=world.inbound.thread_id)
    assert isinstance(result.artifact, ThreadDetail)
    assert len(result.artifact.messages) == 2
    assert "Any news on order 42? It was due Monday." in result.content
    assert f"message_id={world.inbound.id}" in result.content
    assert "<untrusted_email" in result.content


def test_read_thread_long_thread_within_budget(world: World) -> None:
    from agentmail_tools._tokens import count_tokens

    last = world.inbound
    for i in range(60):
        last = world.inject(
            subject="Re: Order 42 is late",
            bodyText=f"Follow-up {i}: still waiting for the parcel, tracking shows nothing new. " * 4,
            inReplyTo=last.message_id,
        )
    toolkit = world.toolkit(budget_tokens=800)
    result = call(tool_by_name(toolkit, "read_thread"), thread_id=last.thread_id)
    assert count_tokens(result.content) <= 800
    assert "Follow-up 59: still waiting" in result.content
    assert "read_thread(thread_id=" in result.content and "up_to=" in result.content


def test_list_threads_and_get_message(world: World) -> None:
    listed = call(tool_by_name(world.toolkit(), "list_threads"))
    assert f"thread_id={world.inbound.thread_id}" in listed.content
    assert listed.artifact[0].id == world.inbound.thread_id
    got = call(tool_by_name(world.toolkit(), "get_message"), message_id=world.inbound.id)
    assert got.artifact.id == world.inbound.id
    assert "cc bob@example.com" in got.content


def test_unknown_ids_become_tool_exceptions(world: World) -> None:
    cases = [
        ("read_thread", {"thread_id": "no-such-thread"}),
        ("get_message", {"message_id": "no-such-message"}),
        ("reply_to_message", {"message_id": "no-such-message", "body": "hi"}),
        ("get_attachment", {"message_id": "no-such-message", "attachment_id": "a"}),
    ]
    for name, args in cases:
        with pytest.raises(ToolException, match="Not found") as info:
            strict(world, name).invoke(args)
        assert isinstance(info.value, MailToolError) and info.value.code == "not_found"


def test_errors_reach_the_model_as_error_tool_messages(world: World) -> None:
    result = call(tool_by_name(world.toolkit(), "get_message"), message_id="no-such-message")
    assert result.status == "error"
    assert "find ids with list_threads or search_messages" in result.content


def test_validation_errors_are_readable(world: World) -> None:
    result = call(tool_by_name(world.toolkit(), "read_thread"), thread_id="")
    assert result.status == "error"
    assert "Invalid arguments" in result.content and "thread_id" in result.content
    result = call(tool_by_name(world.toolkit(), "search_messages"), query="x", limit=500)
    assert "limit" in result.content and "less than or equal to 25" in result.content


# --------------------------------------------------------------------------- search


def test_search_full_text_and_filters(world: World) -> None:
    other = world.inject(
        subject="Invoice question", bodyText="Please resend invoice 7", **{"from": "carol@acme.test"}
    )
    tool = tool_by_name(world.toolkit(), "search_messages")
    hits = call(tool, query="order").artifact
    assert {h["message_id"] for h in hits} >= {world.inbound.id}
    assert other.id not in {h["message_id"] for h in hits}
    assert call(tool, query="invoice", sender="carol@acme.test").artifact[0]["message_id"] == other.id
    assert call(tool, query="invoice", sender="acme.test").artifact[0]["message_id"] == other.id
    assert call(tool, query="invoice", sender="ann@example.com").artifact == []
    assert call(tool, query="order", thread_id=other.thread_id).artifact == []
    assert call(tool, query="order", direction="outbound").artifact == []
    assert call(tool, query="order", direction="inbound").artifact
    future = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert call(tool, query="order", since=future).artifact == []
    assert call(tool, query="order", until=future).artifact


class _StaticSearch:
    """A MessageSearch implementation (the protocol retrieval's HybridSearch implements)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.calls: list[dict[str, Any]] = []

    def search(self, mailbox_id: str, query: str, **kwargs: Any) -> list[Any]:
        self.calls.append({"mailbox_id": mailbox_id, "query": query, **kwargs})
        m = self.world.inbound

        class Match:
            message_id = m.id
            thread_id = m.thread_id
            score = 0.9
            snippet = "semantic hit: parcel delayed"

        return [Match()]


def test_pluggable_message_search(world: World) -> None:
    search = _StaticSearch(world)
    result = call(
        tool_by_name(world.toolkit(search=search), "search_messages"), query="delivery", direction="inbound"
    )
    assert search.calls == [
        {
            "mailbox_id": world.mailbox.id,
            "query": "delivery",
            "limit": 10,
            "thread_id": None,
            "sender": None,
            "direction": "INBOUND",
            "since": None,
            "until": None,
        }
    ]
    assert "semantic hit: parcel delayed" in result.content
    assert result.artifact[0]["message_id"] == world.inbound.id


class _NoSearchClient:
    """The hosted API has no search route: the client raises NotFoundError there."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.messages = self

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def search(self, *args: Any, **kwargs: Any) -> Any:
        from agentmail_tools import NotFoundError

        raise NotFoundError("Not found", status_code=404, error="Not found")

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self._client.messages.get(*args, **kwargs)

    def list(self, *args: Any, **kwargs: Any) -> Any:
        return self._client.messages.list(*args, **kwargs)


def test_search_falls_back_to_a_keyword_scan_without_backend_search(world: World) -> None:
    toolkit = MailToolkit(_NoSearchClient(world.client), mailbox_id=world.mailbox.id)
    result = call(tool_by_name(toolkit, "search_messages"), query="Monday")
    assert [h["message_id"] for h in result.artifact] == [world.inbound.id]
    assert "keyword scan" in result.content


# --------------------------------------------------------------------------- sending


def test_reply_threads_and_is_sent_once(world: World) -> None:
    tool = tool_by_name(world.toolkit(), "reply_to_message")
    first = call(tool, message_id=world.inbound.id, body="It ships Friday.")
    reply = first.artifact
    assert reply.in_reply_to == world.inbound.message_id  # the RFC Message-ID, not the API id
    assert reply.thread_id == world.inbound.thread_id
    assert reply.to_addresses == ["ann@example.com"] and reply.cc_addresses == []
    assert reply.subject == "Re: Order 42 is late"
    # The same tool call repeated (a retrying agent) must not send twice.
    again = call(tool, message_id=world.inbound.id, body="It ships Friday.")
    assert again.artifact.id == reply.id
    assert len(world.sandbox.outbox()) == 1


def test_reply_all(world: World) -> None:
    tool = tool_by_name(world.toolkit(), "reply_to_message")
    reply = call(tool, message_id=world.inbound.id, body="Looping Bob in.", reply_all=True).artifact
    assert set(reply.to_addresses) | set(reply.cc_addresses) == {"ann@example.com", "bob@example.com"}


def test_send_email_refused_unless_allowed(world: World) -> None:
    toolkit = world.toolkit(allow_new_conversations=False, handle_tool_error=False)
    from agentmail_tools.tools import SendEmailTool

    tool = SendEmailTool(context=toolkit.context, handle_tool_error=False)
    with pytest.raises(ToolException, match="new conversations is not allowed") as info:
        tool.invoke({"to": ["ann@example.com"], "subject": "Hello", "body": "Hi"})
    assert info.value.code == "new_conversation_not_allowed"  # type: ignore[attr-defined]
    assert world.sandbox.outbox() == []


def test_send_email_when_allowed_starts_a_thread(world: World) -> None:
    tool = tool_by_name(world.toolkit(allow_new_conversations=True), "send_email")
    sent = call(tool, to="dave@example.com, erin@example.com", subject="Welcome", body="Hello!").artifact
    assert sent.to_addresses == ["dave@example.com", "erin@example.com"]
    assert sent.thread_id and sent.thread_id != world.inbound.thread_id
    assert sent.in_reply_to is None


def test_subject_header_injection_is_a_validation_error(world: World) -> None:
    tool = strict(world, "send_email", allow_new_conversations=True)
    result = tool.invoke(
        {
            "type": "tool_call",
            "id": "c",
            "name": "send_email",
            "args": {"to": ["a@example.com"], "subject": "Hi\r\nBcc: x@evil.test", "body": "x"},
        }
    )
    assert result.status == "error" and "single line" in result.content
    assert world.sandbox.outbox() == []


def _guarded(world: World, **policy: Any) -> MailToolkit:
    guard = MailGuard(world.client, policy=GuardPolicy(**policy))
    return world.toolkit(guard=guard, handle_tool_error=False, allow_new_conversations=True)


def test_guard_refusals_become_tool_exceptions(world: World) -> None:
    # suppressed: the account's suppression list
    world.client.suppressions.create("ann@example.com")
    reply = tool_by_name(_guarded(world), "reply_to_message")
    with pytest.raises(ToolException, match=r"Not sent \(suppressed\)") as info:
        reply.invoke({"message_id": world.inbound.id, "body": "hello"})
    assert info.value.code == "suppressed"  # type: ignore[attr-defined]
    assert world.sandbox.outbox() == []


def test_rate_limited_says_when_to_retry(world: World) -> None:
    reply = tool_by_name(
        _guarded(world, rate_per_minute=1, burst=1, max_replies_per_thread=10), "reply_to_message"
    )
    reply.invoke({"message_id": world.inbound.id, "body": "first"})
    with pytest.raises(ToolException, match=r"Not sent \(rate_limited\).*retry after \d+ seconds") as info:
        reply.invoke({"message_id": world.inbound.id, "body": "second"})
    assert info.value.retry_after and info.value.retry_after > 0  # type: ignore[attr-defined]


def test_reply_cap(world: World) -> None:
    reply = tool_by_name(_guarded(world, max_replies_per_thread=1), "reply_to_message")
    reply.invoke({"message_id": world.inbound.id, "body": "first"})
    with pytest.raises(ToolException, match=r"\(reply_cap\)"):
        reply.invoke({"message_id": world.inbound.id, "body": "second"})


def test_recipient_not_allowed(world: World) -> None:
    send = tool_by_name(
        _guarded(world, allow_new_conversations=True, allowed_domains=["example.com"]), "send_email"
    )
    with pytest.raises(ToolException, match=r"\(recipient_not_allowed\)"):
        send.invoke({"to": ["mallory@evil.test"], "subject": "Hi", "body": "x"})


def test_new_conversation_refused_by_the_guard_policy(world: World) -> None:
    # The toolkit offers send_email, but the guard's policy forbids new threads.
    send = tool_by_name(_guarded(world, allow_new_conversations=False), "send_email")
    with pytest.raises(ToolException, match=r"\(new_conversation_not_allowed\)"):
        send.invoke({"to": ["ann@example.com"], "subject": "Hi", "body": "x"})


def test_loop_refused(world: World) -> None:
    auto = world.inject(
        subject="Out of office", bodyText="I am away.", headers={"Auto-Submitted": "auto-replied"}
    )
    reply = tool_by_name(_guarded(world), "reply_to_message")
    with pytest.raises(ToolException, match=r"\(loop\)"):
        reply.invoke({"message_id": auto.id, "body": "ok"})


def test_too_large(world: World) -> None:
    reply = tool_by_name(_guarded(world, max_body_bytes=100), "reply_to_message")
    with pytest.raises(ToolException, match=r"\(too_large\)"):
        reply.invoke({"message_id": world.inbound.id, "body": "x" * 500})


def test_mailbox_not_active(world: World) -> None:
    world.client.mailboxes.update(world.mailbox.id, status="PAUSED")
    reply = tool_by_name(_guarded(world), "reply_to_message")
    with pytest.raises(ToolException, match=r"\(mailbox_not_active\)"):
        reply.invoke({"message_id": world.inbound.id, "body": "ok"})


# --------------------------------------------------------------------------- attachments


def test_get_attachment_extracts_pdf_docx_text_and_describes_others(world: World) -> None:
    message = world.inject_raw(
        raw_with_attachments(
            world.mailbox.full_address,
            [
                ("invoice.pdf", "application/pdf", make_pdf([["Invoice 42", "Total 99 EUR"]])),
                (
                    "terms.docx",
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    make_docx(["Payment within 30 days"]),
                ),
                ("notes.txt", "text/plain", b"Deliver to the back door."),
                ("photo.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64),
            ],
        )
    )
    by_name = {a.filename: a for a in message.attachments}
    tool = tool_by_name(world.toolkit(), "get_attachment")
    pdf = call(tool, message_id=message.id, attachment_id=by_name["invoice.pdf"].id)
    assert "Total 99 EUR" in pdf.content and "<untrusted_email" in pdf.content
    assert pdf.artifact["attachment"].id == by_name["invoice.pdf"].id
    assert (
        "Payment within 30 days"
        in call(tool, message_id=message.id, attachment_id=by_name["terms.docx"].id).content
    )
    assert "back door" in call(tool, message_id=message.id, attachment_id=by_name["notes.txt"].id).content
    png = call(tool, message_id=message.id, attachment_id=by_name["photo.png"].id)
    assert "image/png" in png.content and "cannot be shown as text" in png.content
    # An attachment id from another message is refused: ids are account-wide.
    with pytest.raises(ToolException, match="has no attachment"):
        strict(world, "get_attachment").invoke(
            {"message_id": world.inbound.id, "attachment_id": by_name["notes.txt"].id}
        )
    # Size cap: described as too large, nothing downloaded.
    with pytest.raises(ToolException, match="too large to read") as info:
        strict(world, "get_attachment", max_attachment_bytes=10).invoke(
            {"message_id": message.id, "attachment_id": by_name["invoice.pdf"].id}
        )
    assert info.value.code == "too_large"  # type: ignore[attr-defined]


def test_get_attachment_output_is_budgeted(world: World) -> None:
    from agentmail_tools._tokens import count_tokens

    message = world.inject_raw(
        raw_with_attachments(
            world.mailbox.full_address, [("big.txt", "text/plain", b"lorem ipsum dolor " * 5000)]
        )
    )
    result = call(
        tool_by_name(world.toolkit(budget_tokens=300), "get_attachment"),
        message_id=message.id,
        attachment_id=message.attachments[0].id,
    )
    assert count_tokens(result.content) <= 300
    assert "cut to fit" in result.content


# --------------------------------------------------------------------------- mailboxes


def test_list_and_create_mailboxes(world: World) -> None:
    created = call(tool_by_name(world.toolkit(), "create_mailbox"), address="billing", display_name="Billing")
    assert created.artifact.address == "billing"
    listed = call(tool_by_name(world.toolkit(), "list_mailboxes"))
    assert "billing@" in listed.content and "support@" in listed.content
    with pytest.raises(ToolException, match="Conflict"):
        strict(world, "create_mailbox").invoke({"address": "billing"})


# --------------------------------------------------------------------------- async


async def test_async_tools_use_the_async_client(world: World) -> None:
    async_client = world.sandbox.async_client()
    toolkit = MailToolkit(async_client, mailbox_id=world.mailbox.id)
    assert toolkit.context.client is None and toolkit.context.async_client is async_client
    read = tool_by_name(toolkit, "read_thread")
    result = await acall(read, thread_id=world.inbound.thread_id)
    assert "It was due Monday" in result.content
    reply = await acall(
        tool_by_name(toolkit, "reply_to_message"), message_id=world.inbound.id, body="Async reply"
    )
    assert reply.artifact.in_reply_to == world.inbound.message_id
    hits = await acall(tool_by_name(toolkit, "search_messages"), query="order", direction="inbound")
    assert hits.artifact
    missing = await acall(tool_by_name(toolkit, "get_message"), message_id="nope")
    assert missing.status == "error" and "Not found" in missing.content
    # Sync use of an async-only toolkit says what to do instead of blocking.
    sync_attempt = call(read, thread_id=world.inbound.thread_id)
    assert sync_attempt.status == "error" and "ainvoke" in sync_attempt.content
    await async_client.aclose() if hasattr(async_client, "aclose") else await async_client.close()


async def test_async_guard_refusal(world: World) -> None:
    world.client.suppressions.create("ann@example.com")
    toolkit = MailToolkit(world.sandbox.async_client(), mailbox_id=world.mailbox.id, handle_tool_error=False)
    with pytest.raises(ToolException, match=r"\(suppressed\)"):
        await tool_by_name(toolkit, "reply_to_message").ainvoke({"message_id": world.inbound.id, "body": "x"})


async def test_sync_and_async_default_guards_share_state(world: World) -> None:
    async_client = world.sandbox.async_client()
    toolkit = MailToolkit(world.client, async_client=async_client, mailbox_id=world.mailbox.id)
    tool = tool_by_name(toolkit, "reply_to_message")
    first = tool.invoke({"message_id": world.inbound.id, "body": "Once only."})
    second = await tool.ainvoke({"message_id": world.inbound.id, "body": "Once only."})
    assert first == second
    assert len(world.sandbox.outbox()) == 1


@pytest.mark.parametrize(
    ("to", "code"),
    [
        (["a@example.com\r\nBcc: x@evil.test"], "header_injection"),
        (["not-an-address"], "invalid"),
    ],
)
def test_bad_recipients_are_refused_before_sending(world: World, to: list[str], code: str) -> None:
    send = strict(world, "send_email", allow_new_conversations=True)
    with pytest.raises(ToolException) as info:
        send.invoke({"to": to, "subject": "Hi", "body": "x"})
    assert info.value.code == code  # type: ignore[attr-defined]
    assert world.sandbox.outbox() == []


def test_pluggable_search_filters_are_trusted_where_hits_lack_fields(world: World) -> None:
    search = _StaticSearch(world)  # its matches carry no sender and no date
    tool = tool_by_name(world.toolkit(search=search), "search_messages")
    result = call(tool, query="parcel", sender="ann@example.com", since="2026-01-01")
    assert [h["message_id"] for h in result.artifact] == [world.inbound.id]
    assert search.calls[-1]["sender"] == "ann@example.com"
    assert search.calls[-1]["since"] == datetime(2026, 1, 1, tzinfo=UTC)
    # A field the hit does carry is still checked.
    assert call(tool, query="parcel", thread_id="another-thread").artifact == []


async def test_sync_only_toolkit_still_serves_ainvoke(world: World) -> None:
    # Without an AsyncMailClient the async path runs the sync client in a worker thread.
    toolkit = world.toolkit()
    read = await acall(tool_by_name(toolkit, "read_thread"), thread_id=world.inbound.thread_id)
    assert "It was due Monday" in read.content
    reply = await acall(
        tool_by_name(toolkit, "reply_to_message"), message_id=world.inbound.id, body="Threaded"
    )
    assert reply.artifact.in_reply_to == world.inbound.message_id


async def test_async_get_attachment(world: World) -> None:
    message = world.inject_raw(
        raw_with_attachments(
            world.mailbox.full_address,
            [("invoice.pdf", "application/pdf", make_pdf([["Amount due 12 EUR"]]))],
        )
    )
    toolkit = MailToolkit(world.sandbox.async_client(), mailbox_id=world.mailbox.id)
    result = await acall(
        tool_by_name(toolkit, "get_attachment"),
        message_id=message.id,
        attachment_id=message.attachments[0].id,
    )
    assert "Amount due 12 EUR" in result.content


def test_get_tool_get_guard_and_close(world: World) -> None:
    toolkit = world.toolkit(handle_tool_error=False)
    reply = toolkit.get_tool("reply_to_message")
    assert reply.name == "reply_to_message"
    with pytest.raises(KeyError, match="send_email.*it has: .*read_thread"):
        toolkit.get_tool("send_email")  # new conversations are not allowed here
    # The default guard is reachable: a local suppression stops the model's reply.
    toolkit.get_guard().suppress("ann@example.com", "asked not to be mailed")
    with pytest.raises(ToolException, match=r"Not sent \(suppressed\)"):
        reply.invoke({"message_id": world.inbound.id, "body": "hello"})
    assert world.sandbox.outbox() == []
    built = toolkit.get_guard()
    toolkit.close()
    with pytest.raises(sqlite3.ProgrammingError):
        built.suppress("x@example.com")
    # Closed means closed: no fresh, empty guard that has forgotten the suppression.
    with pytest.raises(RuntimeError, match="closed"):
        toolkit.get_guard()
    with pytest.raises((RuntimeError, ToolException), match="closed"):
        reply.invoke({"message_id": world.inbound.id, "body": "hello again"})
    assert world.sandbox.outbox() == []
    # A guard the caller passed in is the caller's: close() leaves it open.
    mine = MailGuard(world.client)
    MailToolkit(world.client, mailbox_id=world.mailbox.id, guard=mine).close()
    mine.suppress("y@example.com")
    mine.close()
