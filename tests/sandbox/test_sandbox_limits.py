"""Limits like the hosted service: 429 rates and daily cap, 402 monthly, 413 storage/size, 400s."""

from __future__ import annotations

import httpx
import pytest
from _sandbox_contract import make_client

from agentmail_tools import BadRequestError, PayloadTooLargeError, PaymentRequiredError, RateLimitError
from agentmail_tools.sandbox import Sandbox, SandboxLimits
from agentmail_tools.sandbox._limits import RateLimiter


def send(client, mb, n=1, **kw):
    return [
        client.messages.send(mb.id, to="a@example.com", subject=f"s{i}", body_text="b", **kw)
        for i in range(n)
    ]


def test_mailbox_rate_limit_429_without_retry_after_and_nothing_stored():
    with Sandbox(limits=SandboxLimits(mailbox_sends_per_minute=3, account_sends_per_minute=100)) as sb:
        client, transport = make_client(sb, sb.api_key)
        with client:
            a = client.mailboxes.create("a")
            b = client.mailboxes.create("b")
            send(client, a, 3)
            with pytest.raises(RateLimitError) as info:
                send(client, a)
            assert info.value.body == {"error": "Send rate limit exceeded — slow down"}
            assert "retry-after" not in {k.lower() for k in info.value.headers}
            assert len(client.messages.list(a.id).messages) == 3
            send(client, b, 3)  # per mailbox: b has its own window
        assert transport.violations == []


def test_account_rate_limit_spans_mailboxes():
    with (
        Sandbox(limits=SandboxLimits(mailbox_sends_per_minute=10, account_sends_per_minute=4)) as sb,
        sb.client(max_retries=0) as client,
    ):
        a = client.mailboxes.create("a")
        b = client.mailboxes.create("b")
        send(client, a, 2)
        send(client, b, 2)
        with pytest.raises(RateLimitError):
            send(client, a)


def test_rate_limiter_window_slides():
    now = [0.0]
    limiter = RateLimiter(window=60, clock=lambda: now[0])
    assert all(limiter.check([("k", 2)]) for _ in range(2))
    assert not limiter.check([("k", 2)])
    now[0] = 59.9
    assert not limiter.check([("k", 2)])
    now[0] = 60.1
    assert limiter.check([("k", 2)])
    # A refused multi-key check records nothing on the keys that had room.
    assert limiter.check([("x", 1)])
    assert not limiter.check([("y", 5), ("x", 1)])
    assert limiter.check([("y", 1)])


def test_daily_cap_429_and_monthly_cap_402():
    with Sandbox(limits=SandboxLimits(daily_send_limit=2)) as sb, sb.client(max_retries=0) as client:
        mb = client.mailboxes.create("d")
        send(client, mb, 2)
        assert client.mailboxes.get(mb.id).daily_send_count == 2
        with pytest.raises(RateLimitError, match="Daily"):
            send(client, mb)
    with Sandbox(limits=SandboxLimits(monthly_send_limit=1)) as sb:
        client, transport = make_client(sb, sb.api_key)
        with client:
            mb = client.mailboxes.create("m")
            send(client, mb)
            with pytest.raises(PaymentRequiredError) as info:
                send(client, mb)
            assert info.value.body["payment_required"] is True
        assert transport.violations == []


def test_storage_quota_413():
    with Sandbox(limits=SandboxLimits(storage_limit_bytes=2000)) as sb, sb.client(max_retries=0) as client:
        mb = client.mailboxes.create("q")
        client.attachments.upload(b"x" * 1500, filename="a.bin")
        with pytest.raises(PayloadTooLargeError, match="Storage"):
            client.attachments.upload(b"x" * 600, filename="b.bin")
        with pytest.raises(PayloadTooLargeError):
            client.messages.send(mb.id, to="a@example.com", subject="s", body_text="y" * 600)
        assert client.account.get().storage_used_bytes == 1500


def test_attachment_count_and_combined_size():
    limits = SandboxLimits(max_send_attachment_bytes=1000)
    with Sandbox(limits=limits) as sb, sb.client(max_retries=0) as client:
        mb = client.mailboxes.create("att")
        ids = [client.attachments.upload(b"x" * 10, filename=f"{i}.txt").id for i in range(11)]
        headers = {"Authorization": f"Bearer {sb.api_key}"}
        with httpx.Client(transport=sb.transport(), base_url="http://localhost") as http:
            body = {"to": ["a@example.com"], "subject": "s", "bodyText": "b", "attachments": ids}
            response = http.post(f"/v1/mailboxes/{mb.id}/messages", json=body, headers=headers)
            assert response.status_code == 400
            big = [client.attachments.upload(b"x" * 600, filename=f"big{i}.bin").id for i in range(2)]
            response = http.post(
                f"/v1/mailboxes/{mb.id}/messages", json={**body, "attachments": big}, headers=headers
            )
            assert response.status_code == 413
        assert client.messages.list(mb.id).messages == []


def test_more_than_50_recipients_is_400_server_side(sandbox, client):
    mb = client.mailboxes.create("many")
    headers = {"Authorization": f"Bearer {sandbox.api_key}"}
    many = [f"u{i}@example.com" for i in range(51)]
    with httpx.Client(transport=sandbox.transport(), base_url="http://localhost") as http:
        for field in ("to", "cc", "bcc"):
            body = {"to": ["a@example.com"], "subject": "s", "bodyText": "b", field: many}
            response = http.post(f"/v1/mailboxes/{mb.id}/messages", json=body, headers=headers)
            assert response.status_code == 400, field
            assert "50" in response.json()["error"]
        body = {"to": many[:50], "cc": many[:50], "bcc": many[1:51], "subject": "s", "bodyText": "b"}
        assert http.post(f"/v1/mailboxes/{mb.id}/messages", json=body, headers=headers).status_code == 201


def test_bounce_marked_address_bounces_and_is_suppressed(client, sandbox):
    mb = client.mailboxes.create("bnc")
    sandbox.mark_bounce("Gone@Example.com")
    sent = client.messages.send(mb.id, to="gone@example.com", subject="s", body_text="b")
    assert client.messages.get(mb.id, sent.id).status == "BOUNCED"
    assert [s.email for s in client.suppressions.list()] == ["gone@example.com"]
    assert client.suppressions.list()[0].reason == "BOUNCE"
    with pytest.raises(BadRequestError):
        client.messages.send(mb.id, to="gone@example.com", subject="again", body_text="b")
    assert sandbox.outbox() == []


def test_complaint_marks_message_and_suppresses(client, sandbox):
    mb = client.mailboxes.create("cmp")
    sandbox.mark_complaint("angry@example.com")
    sent = client.messages.send(mb.id, to="angry@example.com", subject="promo", body_text="b")
    assert client.messages.get(mb.id, sent.id).status == "COMPLAINED"
    assert client.suppressions.list()[0].reason == "COMPLAINT"
    assert len(sandbox.outbox()) == 1  # delivered, then complained about
