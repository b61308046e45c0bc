"""Inbound mail: injection (raw and JSON), SMTP ingress, attachments, duplicates, outbox relay."""

from __future__ import annotations

import smtplib
import time
from email.message import EmailMessage

import httpx
import pytest

from agentmail_tools.sandbox import Sandbox, SandboxLimits


def mime(
    to: str, subject: str = "Hello", *, attachments: int = 0, size: int = 10, msgid: str | None = None
) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Dana Whitfield <dana@example.com>"
    mail["To"] = to
    mail["Subject"] = subject
    if msgid:
        mail["Message-ID"] = msgid
    mail.set_content("Plain body")
    mail.add_alternative("<p>Plain <b>body</b></p>", subtype="html")
    for i in range(attachments):
        mail.add_attachment(b"x" * size, maintype="application", subtype="octet-stream", filename=f"f{i}.bin")
    return mail.as_bytes()


def test_inject_raw_mime_over_http(client, sandbox):
    mb = client.mailboxes.create("raw")
    with httpx.Client(transport=sandbox.transport(), base_url="http://localhost") as http:
        response = http.post(
            "/v1/sandbox/inbound",
            content=mime(mb.full_address, attachments=2),
            headers={"Authorization": f"Bearer {sandbox.api_key}", "Content-Type": "message/rfc822"},
        )
        assert response.status_code == 201
        (stored,) = response.json()["messages"]
        assert (
            http.post(
                "/v1/sandbox/inbound",
                json={"from": "a@example.com", "to": "nobody@example.com", "subject": "s", "bodyText": "b"},
                headers={"Authorization": f"Bearer {sandbox.api_key}"},
            ).status_code
            == 400
        )
    got = client.messages.get(mb.id, stored["id"])
    assert got.direction == "INBOUND" and got.status == "RECEIVED"
    assert got.from_address == "dana@example.com" and got.body_html and "Plain" in got.body_text
    assert sorted(a.filename for a in got.attachments) == ["f0.bin", "f1.bin"]
    assert client.attachments.download(got.attachments[0].id) == b"x" * 10


def test_too_many_or_too_big_attachments_are_dropped_message_kept():
    limits = SandboxLimits(inbound_max_attachments=3, inbound_max_attachment_bytes=100)
    with Sandbox(limits=limits) as sb, sb.client() as client:
        mb = client.mailboxes.create("drop")
        (many,) = sb.inject(mime(mb.full_address, "many", attachments=4))
        (big,) = sb.inject(mime(mb.full_address, "big", attachments=1, size=200))
        for stored, reason in ((many, "count"), (big, "size")):
            got = client.messages.get(mb.id, stored["id"])
            assert got.attachments_dropped and got.attachments_dropped_reason == reason
            assert "Plain" in got.body_text
        with client.events.stream(last_event_id="0") as stream:
            first = next(iter(stream)).data.data
        assert first["attachments_dropped"] is True and first["attachments_dropped_reason"] == "count"


def test_identical_redelivery_is_deduplicated_but_reused_message_id_is_kept(client, sandbox):
    mb = client.mailboxes.create("dup")
    raw = mime(mb.full_address, "Once", msgid="<same@example.com>")
    first = sandbox.inject(raw)[0]
    again = sandbox.inject(raw)[0]
    assert first["id"] == again["id"]
    other = sandbox.inject(mime(mb.full_address, "Different", msgid="<same@example.com>"))[0]
    assert other["id"] != first["id"]
    assert len(client.messages.list(mb.id).messages) == 2


def test_malformed_mime_is_stored_not_fatal(client, sandbox):
    mb = client.mailboxes.create("broken")
    raw = (
        f"From: =?bogus-charset?Q?Br=FCno?= <bruno@example.com>\r\nTo: {mb.full_address}\r\n"
        'Subject: =?utf-8?B?broken base64\r\nContent-Type: multipart/mixed; boundary="nope"\r\n\r\n'
        "--wrong\r\n\xff\xfe garbage\r\n"
    ).encode("latin-1")
    (stored,) = sandbox.inject(raw)
    got = client.messages.get(mb.id, stored["id"])
    assert got.from_address == "bruno@example.com"


def test_outbox_holds_external_mail_with_bcc_in_envelope_only(client, sandbox):
    mb = client.mailboxes.create("out")
    client.messages.send(
        mb.id,
        to="a@example.com",
        cc="c@example.com",
        bcc="hidden@example.com",
        subject="Hello outside",
        body_text="b",
    )
    (item,) = sandbox.outbox(include_raw=True)
    assert item["recipients"] == ["a@example.com", "c@example.com", "hidden@example.com"]
    assert item["relayStatus"] == "HELD"
    assert "hidden@example.com" not in item["raw"]
    with httpx.Client(transport=sandbox.transport(), base_url="http://localhost") as http:
        headers = {"Authorization": f"Bearer {sandbox.api_key}"}
        assert (
            http.get("/v1/sandbox/outbox", headers=headers).json()["messages"][0]["subject"]
            == "Hello outside"
        )
        assert http.delete("/v1/sandbox/outbox", headers=headers).json() == {"deleted": 1}
    assert sandbox.outbox() == []


@pytest.mark.integration
def test_smtp_ingress_and_smarthost_relay():
    """Sandbox A relays outside mail to sandbox B's real SMTP listener (its smarthost)."""
    with Sandbox() as b_box:
        b_server = b_box.serve()
        remote = b_box.create_mailbox("remote")
        with Sandbox(smarthost=(b_server.smtp_host, b_server.smtp_port)) as a_box:
            with a_box.serve() as server, server.client() as client:
                mb = client.mailboxes.create("support")
                with smtplib.SMTP(server.smtp_host, server.smtp_port, timeout=10) as smtp:
                    smtp.sendmail("dana@example.com", [mb.full_address], mime(mb.full_address, "Over SMTP"))
                    with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
                        smtp.sendmail("dana@example.com", ["nobody@" + mb.domain], b"Subject: x\r\n\r\nhi")
                    assert info.value.recipients["nobody@" + mb.domain][0] == 550
                (got,) = client.messages.list(mb.id, direction="INBOUND").messages
                assert got.subject == "Over SMTP" and got.from_address == "dana@example.com"
                reply = client.messages.send(
                    mb.id,
                    to=remote["fullAddress"],
                    subject="Re: Over SMTP",
                    body_text="relayed",
                    in_reply_to=got.message_id,
                )
                deadline = time.monotonic() + 10
                while a_box.outbox()[0]["relayStatus"] == "PENDING" and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert a_box.outbox()[0]["relayStatus"] == "RELAYED"
        with b_box.client() as b_client:
            (arrived,) = b_client.messages.list(remote["id"]).messages
            assert arrived.message_id == reply.message_id and arrived.body_text.strip() == "relayed"
            assert arrived.in_reply_to == got.message_id


@pytest.mark.integration
def test_smtp_oversize_is_552():
    with Sandbox(limits=SandboxLimits(smtp_max_message_bytes=2000)) as sb, sb.serve() as server:
        mb = sb.create_mailbox("small")
        with smtplib.SMTP(server.smtp_host, server.smtp_port, timeout=10) as smtp:
            with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused)) as info:
                smtp.sendmail(
                    "a@example.com", [mb["fullAddress"]], mime(mb["fullAddress"], attachments=1, size=5000)
                )
        assert info.value.smtp_code == 552


@pytest.mark.integration
def test_smarthost_permanent_refusal_becomes_a_bounce():
    with Sandbox() as far, far.serve() as far_server:
        far.create_mailbox("exists")
        with (
            Sandbox(smarthost=f"{far_server.smtp_host}:{far_server.smtp_port}") as near,
            near.client() as client,
        ):
            mb = client.mailboxes.create("sender")
            sent = client.messages.send(mb.id, to="missing@" + far.domain, subject="hello", body_text="b")
            deadline = time.monotonic() + 10
            while client.messages.get(mb.id, sent.id).status != "BOUNCED" and time.monotonic() < deadline:
                time.sleep(0.02)
            assert client.messages.get(mb.id, sent.id).status == "BOUNCED"
            assert near.outbox()[0]["relayStatus"] == "FAILED"
            assert [s.email for s in client.suppressions.list()] == ["missing@" + far.domain]
            with client.events.stream(last_event_id="0", events=["message.bounced"]) as stream:
                bounced = next(iter(stream)).data.data
            assert bounced["recipients"] == ["missing@" + far.domain] and "550" in bounced["diagnostic"]
