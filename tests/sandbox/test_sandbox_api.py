"""Every contract route of the sandbox, driven through MailClient in-process (no socket).

The ``client`` fixture validates every JSON response against the shared OpenAPI contract.
"""

from __future__ import annotations

import json

import httpx
import pytest

from agentmail_tools import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
)
from agentmail_tools.sandbox import DEFAULT_DOMAIN, Sandbox, SandboxLimits


def raw(sandbox: Sandbox, method: str, path: str, *, key: str | None = None, **kw: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key or sandbox.api_key}", **kw.pop("headers", {})}  # type: ignore[dict-item]
    with httpx.Client(transport=sandbox.transport(), base_url="http://localhost") as http:
        return http.request(method, path, headers=headers, **kw)  # type: ignore[arg-type]


def test_account_and_quota_header(client, sandbox):
    account = client.account.get()
    assert account.plan == "sandbox"
    assert account.mailbox_count == 0
    response = raw(sandbox, "GET", "/v1/account")
    assert response.headers["X-Robotomail-Inbound-Quota"] == "0/unlimited"


def test_missing_or_wrong_key_is_401_json(sandbox):
    for headers in ({}, {"Authorization": "Bearer rm_nope"}, {"Authorization": "Basic x"}):
        with httpx.Client(transport=sandbox.transport(), base_url="http://localhost") as http:
            response = http.get("/v1/mailboxes", headers=headers)
        assert response.status_code == 401
        assert "error" in response.json()


def test_unknown_path_is_structured_json_404(sandbox):
    response = raw(sandbox, "GET", "/v1/nothing/here")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "NOT_FOUND" and body["resolution"]["commonEndpoints"]
    assert raw(sandbox, "PUT", "/v1/mailboxes").headers["content-type"].startswith("application/json")


def test_api_keys_create_list_revoke(client, sandbox):
    keys = client.api_keys.list()
    assert len(keys) == 1 and keys[0].enabled
    created = client.api_keys.create(name="ci")
    assert created.key.startswith("rm_") and not created.scoped
    assert created.key.startswith(created.prefix)
    listed = client.api_keys.list()
    assert {k.name for k in listed} == {"bootstrap", "ci"}
    new = next(k for k in listed if k.name == "ci")
    client.api_keys.delete(new.id)
    assert raw(sandbox, "GET", "/v1/account", key=created.key).status_code == 401
    # The only full-access key cannot be revoked.
    with pytest.raises(BadRequestError):
        client.api_keys.delete(keys[0].id)
    with pytest.raises(NotFoundError):
        client.api_keys.delete("missing")


def test_mailbox_crud(client):
    mb = client.mailboxes.create("Support", display_name="Acme Support")
    assert mb.address == "support"
    assert mb.full_address == f"support@{DEFAULT_DOMAIN}"
    assert mb.status == "ACTIVE" and mb.daily_send_limit == 1000
    with pytest.raises(ConflictError):
        client.mailboxes.create("support")
    for bad in ("", "has space", "a" * 65, "ü", ".lead", "two..dots"):
        with pytest.raises((BadRequestError, Exception)):
            client.mailboxes.create(bad)
    assert [m.id for m in client.mailboxes.list()] == [mb.id]
    paused = client.mailboxes.update(mb.id, status="PAUSED", display_name="Paused")
    assert paused.status == "PAUSED" and paused.display_name == "Paused"
    with pytest.raises(BadRequestError, match="PAUSED"):
        client.messages.send(mb.id, to="a@example.com", subject="s", body_text="b")
    client.mailboxes.update(mb.id, status="ACTIVE")
    client.messages.send(mb.id, to="a@example.com", subject="s", body_text="b")
    client.mailboxes.delete(mb.id)
    with pytest.raises(NotFoundError):
        client.mailboxes.get(mb.id)
    assert client.mailboxes.list() == []


def test_bad_json_and_wrong_types_are_400_and_change_nothing(sandbox, client):
    mb = client.mailboxes.create("box")
    path = f"/v1/mailboxes/{mb.id}/messages"
    for body in (b"{not json", b"[]", b'"x"', b'{"to": 5, "subject": "s", "bodyText": "b"}',
                 b'{"to": ["a@example.com"], "subject": "", "bodyText": "b"}',
                 b'{"to": ["not-an-address"], "subject": "s", "bodyText": "b"}',
                 b'{"to": ["a@example.com"], "subject": "s\\r\\nBcc: x@y.com", "bodyText": "b"}',
                 b'{"to": ["a@example.com"], "subject": "s", "bodyText": "b", "inReplyTo": "x\\ny"}',
                 b'{"to": ["a@example.com"], "subject": "s", "bodyText": "b", "headers": {"X-Custom-A": "1\\r\\nB: 2"}}'):  # fmt: skip
        response = raw(sandbox, "POST", path, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, body
        assert isinstance(response.json()["error"], str)
    assert client.messages.list(mb.id).messages == []
    assert sandbox.outbox() == []


def test_send_list_get_and_filters(client, sandbox):
    mb = client.mailboxes.create("agent")
    sent = [
        client.messages.send(mb.id, to=f"user{i}@example.com", subject=f"Topic {i}", body_text=f"body {i}")
        for i in range(5)
    ]
    assert all(m.status == "SENT" and m.direction == "OUTBOUND" for m in sent)
    assert all(m.message_id.startswith("<") and m.message_id.endswith(f"@{DEFAULT_DOMAIN}>") for m in sent)
    page = client.messages.list(mb.id)
    assert [m.id for m in page.messages] == [m.id for m in reversed(sent)]  # newest first
    assert all(m.status == "DELIVERED" for m in page.messages)
    page2 = client.messages.list(mb.id, limit=2, offset=2)
    assert [m.id for m in page2.messages] == [sent[2].id, sent[1].id]
    assert client.messages.list(mb.id, direction="INBOUND").messages == []
    assert [m.id for m in client.messages.list(mb.id, thread_id=sent[0].thread_id).messages] == [sent[0].id]
    assert len(list(client.messages.iter(mb.id, page_size=2))) == 5
    future = client.messages.list(mb.id, since="2999-01-01T00:00:00Z")
    assert future.messages == []
    got = client.messages.get(mb.id, sent[0].id)
    assert got.body_text == "body 0" and got.attachments == []
    with pytest.raises(NotFoundError):
        client.messages.get(mb.id, "nope")
    assert raw(sandbox, "GET", f"/v1/mailboxes/{mb.id}/messages?limit=0").status_code == 400
    assert raw(sandbox, "GET", f"/v1/mailboxes/{mb.id}/messages?limit=101").status_code == 400
    assert raw(sandbox, "GET", f"/v1/mailboxes/{mb.id}/messages?since=yesterday").status_code == 400
    assert raw(sandbox, "GET", f"/v1/mailboxes/{mb.id}/messages?direction=SIDEWAYS").status_code == 400
    assert [m["to"] for m in sandbox.outbox()] == [[f"user{i}@example.com"] for i in range(5)]


def test_only_custom_headers_survive(client):
    mb = client.mailboxes.create("hdr")
    m = client.messages.send(
        mb.id, to="a@example.com", subject="s", body_text="b",
        headers={"X-Custom-Tag": "t1", "X-Robotomail-Idempotency-Key": "k1", "X-Mailer": "evil"},
    )  # fmt: skip
    assert m.headers == {"X-Custom-Tag": "t1", "X-Robotomail-Idempotency-Key": "k1"}


def test_local_delivery_between_sandbox_mailboxes(client):
    a = client.mailboxes.create("alice")
    b = client.mailboxes.create("bob")
    sent = client.messages.send(a.id, to=b.full_address, subject="Lunch?", body_text="Noon?")
    inbound = client.messages.list(b.id, direction="INBOUND").messages
    assert len(inbound) == 1
    got = inbound[0]
    assert got.message_id == sent.message_id and got.status == "RECEIVED"
    assert got.from_address == a.full_address and got.to_addresses == [b.full_address]
    reply = client.messages.send(
        b.id, to=a.full_address, subject="Re: Lunch?", body_text="Yes", in_reply_to=got.message_id
    )
    assert reply.thread_id == got.thread_id
    back = client.messages.list(a.id, direction="INBOUND").messages[0]
    assert back.thread_id == sent.thread_id and back.in_reply_to == sent.message_id


def test_attachments_upload_send_download_delete(client, sandbox, tmp_path):
    mb = client.mailboxes.create("files")
    up = client.attachments.upload(b"%PDF-1.4 fake", filename="invoice.pdf", content_type="application/pdf")
    assert up.size_bytes == 13 and up.filename == "invoice.pdf"
    meta = client.attachments.get(up.id)
    assert meta.message_id is None and "/v1/sandbox/attachments/" in meta.url
    assert client.attachments.download(up.id) == b"%PDF-1.4 fake"
    # The signed URL needs no key; a tampered one is refused.
    with httpx.Client(transport=sandbox.transport()) as http:
        assert http.get(meta.url).content == b"%PDF-1.4 fake"
        assert http.get(meta.url.replace("signature=", "signature=0")).status_code == 403
        assert http.get(meta.url.split("?")[0]).status_code == 403
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    up2 = client.attachments.upload(path)
    sent = client.messages.send(
        mb.id, to="x@example.com", subject="files", body_text="see", attachments=[up.id, up2.id]
    )
    assert sent.has_attachments
    full = client.messages.get(mb.id, sent.id)
    assert sorted(a.filename for a in full.attachments) == ["invoice.pdf", "notes.txt"]
    assert all(a.message_id == sent.id for a in full.attachments)
    raw_mime = sandbox.outbox(include_raw=True)[0]["raw"]
    assert "invoice.pdf" in raw_mime
    client.attachments.delete(up2.id)
    with pytest.raises(NotFoundError):
        client.attachments.get(up2.id)
    with pytest.raises(BadRequestError, match="Unknown attachment"):
        client.messages.send(mb.id, to="x@example.com", subject="s", body_text="b", attachments=["nope"])


def test_upload_refuses_non_multipart_and_missing_field(sandbox):
    assert raw(sandbox, "POST", "/v1/attachments", content=b"abc").status_code == 400
    response = raw(sandbox, "POST", "/v1/attachments", files={"other": ("a.txt", b"x")})
    assert response.status_code == 400 and "file" in response.json()["error"]


def test_upload_too_large_is_413():
    with Sandbox(limits=SandboxLimits(max_upload_bytes=1000)) as sb, sb.client() as client:
        with pytest.raises(PayloadTooLargeError):
            client.attachments.upload(b"x" * 1001, filename="big.bin")
        assert client.attachments.upload(b"x" * 1000, filename="ok.bin").size_bytes == 1000


def test_suppressions(client):
    mb = client.mailboxes.create("sup")
    s = client.suppressions.create("Blocked@Example.COM")
    assert s.email == "blocked@example.com" and s.reason == "MANUAL"
    with pytest.raises(ConflictError):
        client.suppressions.create("blocked@example.com", reason="BOUNCE")
    with pytest.raises(BadRequestError, match="suppression"):
        client.messages.send(
            mb.id, to=["ok@example.com"], cc="BLOCKED@example.com", subject="s", body_text="b"
        )
    assert client.messages.list(mb.id).messages == []
    assert [x.email for x in client.suppressions.list()] == ["blocked@example.com"]
    client.suppressions.delete(s.id)
    with pytest.raises(NotFoundError):
        client.suppressions.delete(s.id)
    client.messages.send(mb.id, to="blocked@example.com", subject="s", body_text="b")


def test_domains_records_and_verification():
    from agentmail_tools.sandbox._domains import StaticResolver

    holder: dict[str, object] = {}

    class Resolver:
        def txt(self, name: str) -> list[str]:
            r = holder.get("resolver")
            return r.txt(name) if r else []  # type: ignore[attr-defined]

        def mx(self, name: str) -> list[str]:
            r = holder.get("resolver")
            return r.mx(name) if r else []  # type: ignore[attr-defined]

    with Sandbox(resolver=Resolver()) as sb:
        transport = __import__("_sandbox_contract").ContractTransport(sb.transport())
        from agentmail_tools import MailClient

        with MailClient(sb.api_key, "http://localhost/v1", transport=transport) as client:
            created = client.domains.create("Mail.Example.com")
            assert created.domain.domain == "mail.example.com"
            assert created.domain.status == "PENDING_VERIFICATION"
            assert created.dns_records.dkim and created.domain.dkim_public_key
            with pytest.raises(ConflictError):
                client.domains.create("mail.example.com")
            with pytest.raises(BadRequestError):
                client.mailboxes.create("hello", domain_id=created.domain.id)
            failed = client.domains.verify(created.domain.id)
            assert failed.verification.all_verified is False
            records = client.domains.get(created.domain.id).dns_records
            holder["resolver"] = StaticResolver.publishing(records.model_dump(by_alias=True))
            ok = client.domains.verify(created.domain.id)
            assert ok.verification.all_verified and ok.domain.status == "VERIFIED"
            mb = client.mailboxes.create("hello", domain_id=created.domain.id)
            assert mb.full_address == "hello@mail.example.com"
            with pytest.raises(ConflictError):
                client.domains.delete(created.domain.id)
            client.mailboxes.delete(mb.id)
            client.domains.delete(created.domain.id)
            assert client.domains.list() == []
        assert transport.violations == []


def test_webhook_crud_masks_headers_and_shows_secret_once(client, sandbox):
    mb = client.mailboxes.create("hooks")
    hook = client.webhooks.create(
        "http://127.0.0.1:9/hook",
        events=["message.received"],
        mailbox_id=mb.id,
        headers={"X-Token": "s3cret"},
    )
    assert hook.secret and hook.secret.startswith("whsec_")
    got = client.webhooks.get(hook.id)
    assert got.secret is None and got.headers == {"X-Token": "********"}
    updated = client.webhooks.update(hook.id, events=["message.sent", "message.received"], status="PAUSED")
    assert updated.status == "PAUSED" and updated.events == ["message.sent", "message.received"]
    assert [h.id for h in client.webhooks.list()] == [hook.id]
    assert client.webhooks.deliveries(hook.id) == []
    for bad_url in ("http://example.com/hook", "ftp://127.0.0.1/x", "not a url", 5):
        response = raw(sandbox, "POST", "/v1/webhooks", json={"url": bad_url, "events": ["message.received"]})
        assert response.status_code == 400, bad_url
    with pytest.raises(BadRequestError):
        client.webhooks.create("https://example.com/h", events=["message.exploded"])
    assert client.webhooks.create("https://hooks.example.com/h", events=["message.sent"]).status == "ACTIVE"
    client.webhooks.delete(hook.id)
    with pytest.raises(NotFoundError):
        client.webhooks.get(hook.id)


def test_search_ranks_and_snippets(client):
    mb = client.mailboxes.create("search")
    client.messages.send(
        mb.id, to="a@example.com", subject="Invoice 2291 is wrong", body_text="charged twice for March"
    )
    client.messages.send(mb.id, to="b@example.com", subject="Shipping", body_text="where is my parcel")
    client.messages.send(mb.id, to="c@example.com", subject="Refund", body_text="the invoice refund")
    result = client.messages.search(mb.id, "invoice")
    assert result.total == 2
    assert result.hits[0].subject == "Invoice 2291 is wrong"  # subject matches weigh more
    assert "[" in result.hits[0].snippet
    assert client.messages.search(mb.id, "parcel").hits[0].subject == "Shipping"
    assert client.messages.search(mb.id, 'AND OR "( NEAR').total == 0  # operators are quoted, not parsed
    assert client.messages.search(mb.id, "invoice", limit=1, offset=1).hits[0].subject == "Refund"
    other = client.mailboxes.create("other")
    assert client.messages.search(other.id, "invoice").total == 0


def test_reset_keeps_key(client, sandbox):
    client.mailboxes.create("gone")
    response = raw(sandbox, "POST", "/v1/sandbox/reset")
    assert response.status_code == 200
    assert client.mailboxes.list() == []
    assert client.account.get().mailbox_count == 0


async def test_async_client_in_process(aclient):
    mb = await aclient.mailboxes.create("async")
    sent = await aclient.messages.send(mb.id, to="a@example.com", subject="hi", body_text="there")
    page = await aclient.messages.list(mb.id)
    assert [m.id for m in page.messages] == [sent.id]
    with pytest.raises(AuthenticationError):
        from agentmail_tools import AsyncMailClient

        async with AsyncMailClient(
            "rm_wrong", "http://localhost/v1", transport=aclient._http._transport
        ) as bad:
            await bad.account.get()


def test_sql_built_message_json_matches_python_serializer(client, sandbox):
    from agentmail_tools.sandbox._wire import MESSAGE_JSON_SQL, message_json

    mb = client.mailboxes.create("same")
    up = client.attachments.upload(b"x", filename="x.txt")
    client.messages.send(mb.id, to=["a@example.com"], cc="c@example.com", subject="Ünïcode \"quoted\"\ttab",
                         body_text="line1\nline2 \\ \u2028", body_html="<p>x</p>", attachments=[up.id],
                         headers={"X-Custom-A": "1"})  # fmt: skip
    sandbox.inject({"from": "b@example.com", "to": mb.full_address, "subject": "in", "bodyText": "b"})
    rows = sandbox.store.all(f"SELECT *, {MESSAGE_JSON_SQL} AS j FROM messages")
    assert len(rows) == 2
    for row in rows:
        assert json.loads(row["j"]) == message_json(row)


def test_unexpected_failure_is_a_json_500_and_the_server_keeps_going(sandbox, monkeypatch, caplog):
    def boom(*args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(sandbox.service, "list_suppressions", boom)
    response = raw(sandbox, "GET", "/v1/suppressions")
    assert response.status_code == 500
    assert response.json() == {"error": "Internal sandbox error", "detail": "RuntimeError"}
    assert raw(sandbox, "GET", "/v1/mailboxes").status_code == 200


def test_download_of_non_ascii_filename(client, sandbox):
    up = client.attachments.upload(b"data", filename="résumé 日本.pdf", content_type="application/pdf")
    meta = client.attachments.get(up.id)
    assert meta.filename == "résumé 日本.pdf"
    with httpx.Client(transport=sandbox.transport()) as http:
        response = http.get(meta.url)
    assert response.status_code == 200 and response.content == b"data"
    disposition = response.headers["content-disposition"]
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20%E6%97%A5%E6%9C%AC.pdf" in disposition
    assert response.headers["content-type"] == "application/pdf"


def test_download_with_hostile_content_type_is_served_as_octet_stream(client, sandbox):
    up = client.attachments.upload(b"data", filename="x.bin", content_type="text/html")
    sandbox.store.run(
        "UPDATE attachments SET content_type = ? WHERE id = ?", ("text/html\r\nX-Evil: 1", up.id)
    )
    with httpx.Client(transport=sandbox.transport()) as http:
        response = http.get(client.attachments.get(up.id).url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert "x-evil" not in response.headers
