"""Mailbox-scoped keys: 403 on account-level operations, 404 on other mailboxes (contract)."""

from __future__ import annotations

import pytest
from _sandbox_contract import make_client

from agentmail_tools import BadRequestError, NotFoundError, PermissionDeniedError

FULL_ACCESS = "This operation requires a full-access API key"


def test_scoped_key_rules(client, sandbox):
    mine = client.mailboxes.create("mine")
    theirs = client.mailboxes.create("theirs")
    created = client.api_keys.create(name="scoped", mailbox_ids=[mine.id])
    assert created.scoped
    scoped, transport = make_client(sandbox, created.key)
    with scoped:
        # Account-level operations: 403 with the contract's message.
        for call in (
            scoped.account.get,
            scoped.api_keys.list,
            lambda: scoped.api_keys.create(name="x"),
            lambda: scoped.mailboxes.create("new"),
            lambda: scoped.mailboxes.delete(mine.id),
            scoped.domains.list,
            lambda: scoped.domains.create("example.com"),
            scoped.suppressions.list,
            lambda: scoped.suppressions.create("a@example.com"),
            lambda: scoped.attachments.upload(b"x", filename="a.txt"),
        ):
            with pytest.raises(PermissionDeniedError) as info:
                call()
            assert info.value.status_code == 403 and FULL_ACCESS in str(info.value.body)
        # Its own mailbox works; the other one does not exist for it.
        assert [m.id for m in scoped.mailboxes.list()] == [mine.id]
        assert scoped.mailboxes.get(mine.id).id == mine.id
        sent = scoped.messages.send(mine.id, to="a@example.com", subject="s", body_text="b")
        assert scoped.messages.get(mine.id, sent.id).id == sent.id
        assert scoped.threads.list(mine.id)
        for call in (
            lambda: scoped.mailboxes.get(theirs.id),
            lambda: scoped.mailboxes.update(theirs.id, display_name="x"),
            lambda: scoped.messages.list(theirs.id),
            lambda: scoped.messages.send(theirs.id, to="a@example.com", subject="s", body_text="b"),
            lambda: scoped.threads.list(theirs.id),
            lambda: scoped.messages.search(theirs.id, "x"),
            lambda: scoped.webhooks.create(
                "http://127.0.0.1:9/h", events=["message.sent"], mailbox_id=theirs.id
            ),
        ):
            with pytest.raises(NotFoundError):
                call()
        # Webhooks: scoped to its mailbox is fine; an account-wide webhook needs full access.
        hook = scoped.webhooks.create("http://127.0.0.1:9/h", events=["message.sent"], mailbox_id=mine.id)
        assert [h.id for h in scoped.webhooks.list()] == [hook.id]
        with pytest.raises(PermissionDeniedError):
            scoped.webhooks.create("http://127.0.0.1:9/h", events=["message.sent"])
        # An attachment of another mailbox's message is hidden too.
        up = client.attachments.upload(b"data", filename="d.txt")
        other_msg = client.messages.send(
            theirs.id, to="a@example.com", subject="s", body_text="b", attachments=[up.id]
        )
        assert other_msg.has_attachments
        with pytest.raises(NotFoundError):
            scoped.attachments.get(up.id)
        # ...and it cannot be smuggled out by re-sending it from the scoped mailbox.
        with pytest.raises(BadRequestError, match="Unknown attachment"):
            scoped.messages.send(mine.id, to="x@example.com", subject="s", body_text="b", attachments=[up.id])
    assert transport.violations == []


def test_deleting_the_only_scoped_mailbox_disables_the_key(client, sandbox):
    mb = client.mailboxes.create("temp")
    created = client.api_keys.create(mailbox_ids=[mb.id])
    client.mailboxes.delete(mb.id)
    scoped, _ = make_client(sandbox, created.key)
    with scoped, pytest.raises(Exception) as info:
        scoped.mailboxes.list()
    assert getattr(info.value, "status_code", None) == 401


def test_scoped_key_for_unknown_mailbox_is_refused(sandbox, client):
    from agentmail_tools import BadRequestError

    with pytest.raises(BadRequestError):
        client.api_keys.create(mailbox_ids=["no-such-mailbox"])
