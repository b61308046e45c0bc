"""File mode: SQLite in WAL plus blobs in one folder; everything survives a restart."""

from __future__ import annotations

import sqlite3

from agentmail_tools.sandbox import Sandbox


def test_state_survives_restart(tmp_path):
    data = tmp_path / "sb"
    with Sandbox(data) as first, first.client() as client:
        key = first.api_key
        mb = client.mailboxes.create("keep", display_name="Keeper")
        up = client.attachments.upload(b"blob bytes", filename="b.txt")
        sent = client.messages.send(
            mb.id, to="x@example.com", subject="Persist me", body_text="searchable words", attachments=[up.id]
        )
        first.inject(
            {"from": "y@example.com", "to": mb.full_address, "subject": "Re: Persist me", "bodyText": "r"}
        )
        hook = client.webhooks.create("https://h.example.com/x", events=["message.sent"])
        client.suppressions.create("no@example.com")
        scoped = client.api_keys.create(mailbox_ids=[mb.id])
        last_event = first.service.log.last_id()
    assert (data / "sandbox.db").exists() and any((data / "blobs").iterdir())
    assert sqlite3.connect(data / "sandbox.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    with Sandbox(data) as second, second.client() as client:
        assert second.api_key == key
        assert [m.display_name for m in client.mailboxes.list()] == ["Keeper"]
        messages = client.messages.list(mb.id).messages
        assert len(messages) == 2 and len({m.thread_id for m in messages}) == 1
        assert client.attachments.download(up.id) == b"blob bytes"
        assert client.messages.get(mb.id, sent.id).attachments[0].filename == "b.txt"
        assert client.messages.search(mb.id, "searchable").total == 1
        assert client.webhooks.get(hook.id).url == "https://h.example.com/x"
        assert [s.email for s in client.suppressions.list()] == ["no@example.com"]
        with second.client(api_key=scoped.key) as scoped_client:
            assert [m.id for m in scoped_client.mailboxes.list()] == [mb.id]
        # Event ids keep increasing across restarts, so Last-Event-ID stays meaningful.
        client.messages.send(mb.id, to="x@example.com", subject="after restart", body_text="b")
        assert second.service.log.last_id() > last_event
        with client.events.stream(last_event_id=str(last_event)) as stream:
            assert next(iter(stream)).event == "message.sent"
        assert len(second.outbox()) == 2


def test_in_memory_sandboxes_are_independent():
    with Sandbox() as a, Sandbox() as b, a.client() as ca, b.client() as cb:
        ca.mailboxes.create("only-in-a")
        assert cb.mailboxes.list() == []
        assert a.api_key != b.api_key


def test_two_sandboxes_on_one_folder_share_events_and_deliver_webhooks_once(tmp_path):
    """Like `sandbox serve` in one process and a CLI command in another on the same --data."""
    import time

    import httpx

    calls: list[str] = []
    transport = httpx.MockTransport(
        lambda r: calls.append(r.headers["X-Robotomail-Delivery-Id"]) or httpx.Response(200)
    )
    with (
        Sandbox(tmp_path, webhook_transport=transport) as server_side,
        Sandbox(tmp_path, webhook_transport=transport) as cli_side,
    ):
        assert server_side.api_key == cli_side.api_key
        mb = server_side.create_mailbox("shared")
        with server_side.client() as client:
            client.webhooks.create("https://hooks.example.com/x", events=["message.received"])
            with client.events.stream(last_event_id=str(server_side.service.log.last_id())) as stream:
                started = time.monotonic()
                cli_side.inject(
                    {"from": "a@example.com", "to": mb["fullAddress"], "subject": "from cli", "bodyText": "b"}
                )
                event = next(iter(stream))
                assert event.data.data["subject"] == "from cli"
                assert time.monotonic() - started < 5
        deadline = time.monotonic() + 10
        while not calls and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # give a (wrong) second delivery the chance to happen
        assert len(calls) == 1


def test_inbound_quota_warning_headers():
    import httpx

    from agentmail_tools.sandbox import SandboxLimits

    with Sandbox(limits=SandboxLimits(monthly_inbound_limit=4)) as sb:
        mb = sb.create_mailbox("quota")
        seen = []
        with httpx.Client(transport=sb.transport(), base_url="http://localhost") as http:
            for _ in range(4):
                sb.inject({"from": "a@example.com", "to": mb["fullAddress"], "subject": "s", "bodyText": "b"})
                response = http.get("/v1/mailboxes", headers={"Authorization": f"Bearer {sb.api_key}"})
                seen.append(
                    (
                        response.headers["X-Robotomail-Inbound-Quota"],
                        response.headers.get("X-Robotomail-Inbound-Warning"),
                    )
                )
        assert seen == [("1/4", None), ("2/4", None), ("3/4", "approaching"), ("4/4", "reached")]
