"""Every resource method, sync and async: the request on the wire and the model it returns.

The fake API validates request bodies and the fixture responses against the OpenAPI contract.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from _client_support import (
    FakeAPI,
    Reply,
    account,
    attachment,
    delivery,
    dns_records,
    domain,
    mailbox,
    message,
    resolve,
    suppression,
    thread,
    webhook,
)

import agentmail_tools as am


@dataclass
class Case:
    id: str
    call: Callable[[Any], Any]
    route: tuple[str, str]
    reply: Reply
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    check: Callable[[Any], None] = lambda result: None


def _is(cls: type, **attrs: Any) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert isinstance(result, cls), result
        for name, value in attrs.items():
            assert getattr(result, name) == value, (name, getattr(result, name), value)

    return check


def _list_of(cls: type, n: int = 1) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert isinstance(result, list) and len(result) == n
        assert all(isinstance(item, cls) for item in result)

    return check


def _none(result: Any) -> None:
    assert result is None


CASES = [
    # account and keys
    Case(
        "account.get",
        lambda c: c.account.get(),
        ("GET", "/account"),
        Reply(json={"account": account(futureField=1)}),
        "GET",
        "/v1/account",
        check=_is(am.Account, plan="FREE", monthly_inbound_limit=1000),
    ),
    Case(
        "api_keys.list",
        lambda c: c.api_keys.list(),
        ("GET", "/api-keys"),
        Reply(
            json={
                "keys": [
                    {
                        "id": "key_1",
                        "name": "ci",
                        "prefix": "rm_ab",
                        "createdAt": "2026-03-01T12:00:00Z",
                        "enabled": True,
                    }
                ]
            }
        ),
        "GET",
        "/v1/api-keys",
        check=_list_of(am.ApiKey),
    ),
    Case(
        "api_keys.create",
        lambda c: c.api_keys.create(name="bot", mailbox_ids=["mb_1", "mb 2"]),
        ("POST", "/api-keys"),
        Reply(201, json={"key": "rm_secret", "prefix": "rm_se", "scoped": True}),
        "POST",
        "/v1/api-keys",
        body={"name": "bot", "mailboxIds": ["mb_1", "mb 2"]},
        check=_is(am.CreatedApiKey, key="rm_secret", scoped=True),
    ),
    Case(
        "api_keys.create full",
        lambda c: c.api_keys.create(),
        ("POST", "/api-keys"),
        Reply(201, json={"key": "rm_secret", "prefix": "rm_se", "scoped": False}),
        "POST",
        "/v1/api-keys",
        body={},
        check=_is(am.CreatedApiKey, scoped=False),
    ),
    Case(
        "api_keys.delete",
        lambda c: c.api_keys.delete("key/1"),
        ("DELETE", "/api-keys/{id}"),
        Reply(json={"revoked": True}),
        "DELETE",
        "/v1/api-keys/key%2F1",
        check=_none,
    ),
    # mailboxes
    Case(
        "mailboxes.list",
        lambda c: c.mailboxes.list(),
        ("GET", "/mailboxes"),
        Reply(json={"mailboxes": [mailbox(receivedThisMonth=4), mailbox(id="mb_2")]}),
        "GET",
        "/v1/mailboxes",
        check=_list_of(am.Mailbox, 2),
    ),
    Case(
        "mailboxes.create",
        lambda c: c.mailboxes.create("support", display_name="Support Bot", domain_id="dom_1"),
        ("POST", "/mailboxes"),
        Reply(201, json={"mailbox": mailbox()}),
        "POST",
        "/v1/mailboxes",
        body={"address": "support", "domainId": "dom_1", "displayName": "Support Bot"},
        check=_is(am.Mailbox, full_address="support@robotomail.co", daily_send_limit=100),
    ),
    Case(
        "mailboxes.get",
        lambda c: c.mailboxes.get("mb 1"),
        ("GET", "/mailboxes/{id}"),
        Reply(json={"mailbox": mailbox()}),
        "GET",
        "/v1/mailboxes/mb%201",
        check=_is(am.Mailbox, id="mb_1"),
    ),
    Case(
        "mailboxes.update status",
        lambda c: c.mailboxes.update("mb_1", status="paused"),
        ("PATCH", "/mailboxes/{id}"),
        Reply(json={"mailbox": mailbox(status="PAUSED")}),
        "PATCH",
        "/v1/mailboxes/mb_1",
        body={"status": "PAUSED"},
        check=_is(am.Mailbox, status="PAUSED"),
    ),
    Case(
        "mailboxes.update name",
        lambda c: c.mailboxes.update("mb_1", display_name="Help"),
        ("PATCH", "/mailboxes/{id}"),
        Reply(json={"mailbox": mailbox(displayName="Help")}),
        "PATCH",
        "/v1/mailboxes/mb_1",
        body={"displayName": "Help"},
        check=_is(am.Mailbox, display_name="Help"),
    ),
    Case(
        "mailboxes.delete",
        lambda c: c.mailboxes.delete("mb_1"),
        ("DELETE", "/mailboxes/{id}"),
        Reply(json={"deleted": True}),
        "DELETE",
        "/v1/mailboxes/mb_1",
        check=_none,
    ),
    # messages
    Case(
        "messages.send minimal",
        lambda c: c.messages.send("mb_1", to="ann@example.com", subject="Hi", body_text="Hello"),
        ("POST", "/mailboxes/{id}/messages"),
        Reply(201, json={"message": message(direction="OUTBOUND", status="SENT")}),
        "POST",
        "/v1/mailboxes/mb_1/messages",
        body={"to": ["ann@example.com"], "subject": "Hi", "bodyText": "Hello"},
        check=_is(am.Message, status="SENT", direction="OUTBOUND"),
    ),
    Case(
        "messages.send full",
        lambda c: c.messages.send(
            "mb/1",
            to=["Ann <ann@Example.COM>", "bob@example.org"],
            cc="carl@example.net",
            bcc=["dee@example.net"],
            subject="Re: Order 42",
            body_text="Shipped.",
            body_html="<p>Shipped.</p>",
            in_reply_to="<abc@example.com>",
            attachments=["att_1", am.AttachmentUpload(id="att_2")],
            headers={"X-Robotomail-Idempotency-Key": "k1"},
        ),
        ("POST", "/mailboxes/{id}/messages"),
        Reply(201, json={"message": message(direction="OUTBOUND", status="SENT")}),
        "POST",
        "/v1/mailboxes/mb%2F1/messages",
        body={
            "to": ["ann@example.com", "bob@example.org"],
            "subject": "Re: Order 42",
            "bodyText": "Shipped.",
            "cc": ["carl@example.net"],
            "bcc": ["dee@example.net"],
            "bodyHtml": "<p>Shipped.</p>",
            "inReplyTo": "<abc@example.com>",
            "attachments": ["att_1", "att_2"],
            "headers": {"X-Robotomail-Idempotency-Key": "k1"},
        },
        check=_is(am.Message),
    ),
    Case(
        "messages.list",
        lambda c: c.messages.list(
            "mb_1",
            direction="inbound",
            thread_id="thr_1",
            since=datetime(2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))),
            limit=10,
            offset=20,
        ),
        ("GET", "/mailboxes/{id}/messages"),
        Reply(json={"messages": [message(), message(id="msg_2")], "metadata": {"overLimitCount": 0}}),
        "GET",
        "/v1/mailboxes/mb_1/messages",
        query={
            "direction": "INBOUND",
            "threadId": "thr_1",
            "since": "2026-03-01T12:00:00Z",
            "limit": "10",
            "offset": "20",
        },
        check=lambda page: (
            (
                isinstance(page, am.MessagePage)
                and [m.id for m in page] == ["msg_1", "msg_2"]
                and page.metadata.over_limit_count == 0
            )
            or pytest.fail(repr(page))
        ),
    ),
    Case(
        "messages.list no filters",
        lambda c: c.messages.list("mb_1"),
        ("GET", "/mailboxes/{id}/messages"),
        Reply(json={"messages": [], "metadata": {}}),
        "GET",
        "/v1/mailboxes/mb_1/messages",
        check=lambda page: len(page) == 0 or pytest.fail("not empty"),
    ),
    Case(
        "messages.get",
        lambda c: c.messages.get("mb_1", "msg?1"),
        ("GET", "/mailboxes/{id}/messages/{msgId}"),
        Reply(json={"message": message(hasAttachments=True, attachments=[attachment()])}),
        "GET",
        "/v1/mailboxes/mb_1/messages/msg%3F1",
        check=lambda m: (
            (m.attachments[0].filename == "invoice.pdf" and m.has_attachments) or pytest.fail(repr(m))
        ),
    ),
    Case(
        "messages.search",
        lambda c: c.messages.search("mb_1", "order 42", limit=5, offset=5),
        ("GET", "/mailboxes/{id}/search"),
        Reply(
            json={
                "hits": [
                    {
                        "messageId": "msg_1",
                        "threadId": "thr_1",
                        "score": 1.5,
                        "snippet": "order [42]",
                        "subject": "Where",
                        "from": "ann@example.com",
                        "createdAt": "2026-03-01T12:00:00Z",
                    }
                ],
                "total": 1,
            }
        ),
        "GET",
        "/v1/mailboxes/mb_1/search",
        query={"q": "order 42", "limit": "5", "offset": "5"},
        check=lambda r: (
            (
                r.total == 1
                and r.hits[0].from_ == "ann@example.com"
                and r.hits[0].score == 1.5
                and r.hits[0].message_id == "msg_1"
                and r.hits[0].created_at.year == 2026
            )
            or pytest.fail(repr(r))
        ),
    ),
    # threads
    Case(
        "threads.list",
        lambda c: c.threads.list("mb_1"),
        ("GET", "/mailboxes/{id}/threads"),
        Reply(json={"threads": [thread()], "metadata": {}}),
        "GET",
        "/v1/mailboxes/mb_1/threads",
        check=_list_of(am.Thread),
    ),
    Case(
        "threads.get",
        lambda c: c.threads.get("mb_1", "thr 1"),
        ("GET", "/mailboxes/{id}/threads/{tid}"),
        Reply(
            json={"thread": {**thread(), "messages": [message(), message(id="msg_2", direction="OUTBOUND")]}}
        ),
        "GET",
        "/v1/mailboxes/mb_1/threads/thr%201",
        check=lambda t: (
            (isinstance(t, am.ThreadDetail) and [m.id for m in t.messages] == ["msg_1", "msg_2"])
            or pytest.fail(repr(t))
        ),
    ),
    # attachments (upload and download: test_client_attachments.py)
    Case(
        "attachments.get",
        lambda c: c.attachments.get("att_1"),
        ("GET", "/attachments/{id}"),
        Reply(json={**attachment(), "url": "https://files.robotomail.com/att_1?sig=abc"}),
        "GET",
        "/v1/attachments/att_1",
        check=_is(am.Attachment, url="https://files.robotomail.com/att_1?sig=abc"),
    ),
    Case(
        "attachments.delete",
        lambda c: c.attachments.delete("att_1"),
        ("DELETE", "/attachments/{id}"),
        Reply(json={"deleted": True}),
        "DELETE",
        "/v1/attachments/att_1",
        check=_none,
    ),
    # domains
    Case(
        "domains.list",
        lambda c: c.domains.list(),
        ("GET", "/domains"),
        Reply(json={"domains": [domain()]}),
        "GET",
        "/v1/domains",
        check=_list_of(am.Domain),
    ),
    Case(
        "domains.create",
        lambda c: c.domains.create("Mail.Example.com"),
        ("POST", "/domains"),
        Reply(201, json={"domain": domain(), "dnsRecords": dns_records()}),
        "POST",
        "/v1/domains",
        body={"domain": "mail.example.com"},
        check=lambda d: (
            (
                d.dns_records.mx.priority == 10
                and d.dns_records.dkim[0].type == "TXT"
                and d.dns_records.send_mx.value == "feedback.robotomail.com"
            )
            or pytest.fail(repr(d))
        ),
    ),
    Case(
        "domains.get",
        lambda c: c.domains.get("dom_1"),
        ("GET", "/domains/{id}"),
        Reply(json={"domain": domain(), "dnsRecords": None}),
        "GET",
        "/v1/domains/dom_1",
        check=lambda d: (
            (isinstance(d, am.DomainWithRecords) and d.dns_records is None) or pytest.fail(repr(d))
        ),
    ),
    Case(
        "domains.delete",
        lambda c: c.domains.delete("dom_1"),
        ("DELETE", "/domains/{id}"),
        Reply(json={"deleted": True}),
        "DELETE",
        "/v1/domains/dom_1",
        check=_none,
    ),
    Case(
        "domains.verify",
        lambda c: c.domains.verify("dom_1"),
        ("POST", "/domains/{id}/verify"),
        Reply(
            json={
                "domain": domain(status="VERIFIED"),
                "verification": {"mx": True, "spf": True, "dkim": True, "dmarc": False, "allVerified": False},
            }
        ),
        "POST",
        "/v1/domains/dom_1/verify",
        check=lambda r: (
            (
                isinstance(r, am.DomainVerificationResult)
                and r.verification.mx
                and not r.verification.all_verified
            )
            or pytest.fail(repr(r))
        ),
    ),
    # webhooks
    Case(
        "webhooks.list",
        lambda c: c.webhooks.list(),
        ("GET", "/webhooks"),
        Reply(json={"webhooks": [webhook()]}),
        "GET",
        "/v1/webhooks",
        check=_list_of(am.Webhook),
    ),
    Case(
        "webhooks.create",
        lambda c: c.webhooks.create(
            "https://agent.example.com/hooks/mail",
            events=["message.received"],
            mailbox_id="mb_1",
            headers={"X-Token": "t"},
        ),
        ("POST", "/webhooks"),
        Reply(201, json={"webhook": {**webhook(mailboxId="mb_1"), "secret": "whsec_1"}}),
        "POST",
        "/v1/webhooks",
        body={
            "url": "https://agent.example.com/hooks/mail",
            "events": ["message.received"],
            "mailboxId": "mb_1",
            "headers": {"X-Token": "t"},
        },
        check=_is(am.Webhook, secret="whsec_1", mailbox_id="mb_1"),
    ),
    Case(
        "webhooks.get",
        lambda c: c.webhooks.get("wh_1"),
        ("GET", "/webhooks/{id}"),
        Reply(json={"webhook": webhook()}),
        "GET",
        "/v1/webhooks/wh_1",
        check=_is(am.Webhook, secret=None),
    ),
    Case(
        "webhooks.update",
        lambda c: c.webhooks.update("wh_1", status="active", headers=None, events=["message.sent"]),
        ("PATCH", "/webhooks/{id}"),
        Reply(json={"webhook": webhook(events=["message.sent"])}),
        "PATCH",
        "/v1/webhooks/wh_1",
        body={"events": ["message.sent"], "status": "ACTIVE", "headers": None},
        check=_is(am.Webhook, events=["message.sent"]),
    ),
    Case(
        "webhooks.update url",
        lambda c: c.webhooks.update("wh_1", url="http://127.0.0.1:9000/hook"),
        ("PATCH", "/webhooks/{id}"),
        Reply(json={"webhook": webhook(url="http://127.0.0.1:9000/hook")}),
        "PATCH",
        "/v1/webhooks/wh_1",
        body={"url": "http://127.0.0.1:9000/hook"},
        check=_is(am.Webhook),
    ),
    Case(
        "webhooks.delete",
        lambda c: c.webhooks.delete("wh_1"),
        ("DELETE", "/webhooks/{id}"),
        Reply(json={"deleted": True}),
        "DELETE",
        "/v1/webhooks/wh_1",
        check=_none,
    ),
    Case(
        "webhooks.deliveries",
        lambda c: c.webhooks.deliveries("wh_1"),
        ("GET", "/webhooks/{id}/deliveries"),
        Reply(
            json={
                "deliveries": [
                    delivery(),
                    delivery(
                        id="dlv_2", status="FAILED", responseStatus=None, nextRetryAt="2026-03-01T12:05:00Z"
                    ),
                ]
            }
        ),
        "GET",
        "/v1/webhooks/wh_1/deliveries",
        check=_list_of(am.WebhookDelivery, 2),
    ),
    # suppressions
    Case(
        "suppressions.list",
        lambda c: c.suppressions.list(),
        ("GET", "/suppressions"),
        Reply(json={"suppressions": [suppression()]}),
        "GET",
        "/v1/suppressions",
        check=_list_of(am.Suppression),
    ),
    Case(
        "suppressions.create",
        lambda c: c.suppressions.create("Bounce@Example.com", reason="bounce"),
        ("POST", "/suppressions"),
        Reply(201, json={"suppression": suppression(reason="BOUNCE")}),
        "POST",
        "/v1/suppressions",
        body={"email": "bounce@example.com", "reason": "BOUNCE"},
        check=_is(am.Suppression, reason="BOUNCE"),
    ),
    Case(
        "suppressions.delete",
        lambda c: c.suppressions.delete("sup_1"),
        ("DELETE", "/suppressions/{id}"),
        Reply(json={"deleted": True}),
        "DELETE",
        "/v1/suppressions/sup_1",
        check=_none,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_wire_shape_and_model(case: Case, fake: FakeAPI, make_client: Any) -> None:
    fake.add(case.route[0], case.route[1], case.reply)
    client = make_client()
    result = await resolve(case.call(client))
    assert len(fake.requests) == 1
    request = fake.last
    assert request.method == case.method
    assert request.url.raw_path.decode().split("?")[0] == case.path
    assert dict(request.url.params) == case.query
    assert request.headers["authorization"] == "Bearer rm_test_key"
    if case.body is None:
        assert request.content == b""
    else:
        assert request.headers["content-type"] == "application/json"
        assert json.loads(request.content) == case.body
    case.check(result)


def test_every_contract_operation_is_covered() -> None:
    """Each operation we implement appears in CASES or a dedicated test (no silent gaps)."""
    covered = {(c.route[0], c.route[1]) for c in CASES} | {
        ("POST", "/attachments"),  # test_client_attachments.py
        ("GET", "/events"),  # test_client_sse.py
    }
    from _client_support import SPEC

    skipped_prefixes = ("/signup", "/billing", "/support", "/auth", "/checkout")
    contract = {
        (method.upper(), path)
        for path, item in SPEC["paths"].items()
        for method in item
        if method in ("get", "post", "patch", "delete") and not path.startswith(skipped_prefixes)
    }
    assert contract - covered == set()


async def test_models_keep_unknown_fields(fake: FakeAPI, make_client: Any) -> None:
    fake.add("GET", "/account", json={"account": account(futureField={"a": 1})})
    result = await resolve(make_client().account.get())
    assert result.model_extra == {"futureField": {"a": 1}}
    assert result.model_dump(by_alias=True)["monthlyInboundLimit"] == 1000


async def test_timestamps_parse_to_aware_datetimes(fake: FakeAPI, make_client: Any) -> None:
    fake.add("GET", "/mailboxes/{id}/messages/{msgId}", json={"message": message()})
    result = await resolve(make_client().messages.get("mb_1", "msg_1"))
    assert result.created_at == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def test_naive_since_is_taken_as_utc(fake: FakeAPI, make_client: Any) -> None:
    fake.add("GET", "/mailboxes/{id}/messages", json={"messages": [], "metadata": {}})
    await resolve(make_client().messages.list("mb_1", since=datetime(2026, 1, 2, 3, 4, 5)))
    assert fake.last.url.params["since"] == "2026-01-02T03:04:05Z"


async def test_user_agent_and_accept(fake: FakeAPI, make_client: Any) -> None:
    fake.add("GET", "/mailboxes", json={"mailboxes": []})
    await resolve(make_client().mailboxes.list())
    assert fake.last.headers["user-agent"].startswith("agentmail-tools/")
    assert fake.last.headers["accept"] == "application/json"


async def test_base_url_path_is_kept(fake: FakeAPI, make_client: Any) -> None:
    fake.add("GET", "/mailboxes", json={"mailboxes": []})
    client = make_client(base_url="http://127.0.0.1:8025/api/v1/")
    await resolve(client.mailboxes.list())
    assert str(fake.last.url) == "http://127.0.0.1:8025/api/v1/mailboxes"


def test_mailbox_update_none_clears_display_name(fake: FakeAPI) -> None:
    fake.add("PATCH", "/mailboxes/{id}", json={"mailbox": mailbox(displayName=None)})
    with am.MailClient("rm_x", transport=fake.transport) as client:
        assert client.mailboxes.update("mb_1", display_name=None).display_name is None
    # displayName is a non-nullable string in the contract: clearing sends "".
    assert json.loads(fake.last.content) == {"displayName": ""}
