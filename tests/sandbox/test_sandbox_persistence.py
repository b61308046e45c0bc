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
