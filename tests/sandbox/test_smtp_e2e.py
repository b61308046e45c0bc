"""End to end: the whole corpus of hard messages over real SMTP into a served sandbox.

Each message goes through smtplib → the sandbox's aiosmtpd ingress → parse → store, and is
then read back through ``MailClient`` over HTTP, as an agent would see it.
"""

from __future__ import annotations

import base64
import json
import smtplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    from agentmail_tools.sandbox import Sandbox
except ImportError:  # pragma: no cover - only while the sandbox package is being written
    pytest.skip("agentmail_tools.sandbox.Sandbox is not available yet", allow_module_level=True)

from agentmail_tools._mime import MAX_ATTACHMENT_BYTES

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).parent / "corpus"
CASES: dict[str, dict[str, Any]] = json.loads((CORPUS / "cases.json").read_text(encoding="utf-8"))
ENVELOPE_FROM = "envelope-sender@example.org"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Any, Any, Any]]:
    sandbox = Sandbox()
    server = sandbox.serve(port=0, smtp_port=0)
    try:
        client = server.client()
        mailbox = client.mailboxes.create("inbox")
        yield server, client, mailbox
        client.close()
    finally:
        server.stop()
        sandbox.close()


def _send(server: Any, rcpt: str, raw: bytes) -> None:
    with smtplib.SMTP(server.smtp_host, server.smtp_port, timeout=60) as smtp:
        assert smtp.sendmail(ENVELOPE_FROM, [rcpt], raw) == {}


def _newest(client: Any, mailbox: Any) -> Any:
    page = client.messages.list(mailbox.id, direction="INBOUND", limit=1)
    [summary] = list(page)
    return client.messages.get(mailbox.id, summary.id)


@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus_message_is_stored(served: tuple[Any, Any, Any], name: str) -> None:
    server, client, mailbox = served
    expected = CASES[name]
    before = client.messages.list(mailbox.id, direction="INBOUND", limit=100)
    _send(server, mailbox.full_address, (CORPUS / name).read_bytes())
    stored = _newest(client, mailbox)
    assert stored.id not in {m.id for m in before}, "the message was not stored"
    assert stored.direction == "INBOUND"

    if "subject" in expected:
        assert stored.subject == expected["subject"]
    if "subject_contains" in expected:
        assert expected["subject_contains"] in stored.subject
    for fragment in expected.get("body_contains", []):
        assert fragment in stored.body_text
    for fragment in expected.get("body_excludes", []):
        assert fragment not in stored.body_text
    assert (stored.body_html is not None) == bool(expected.get("html", False))
    # A sender the headers do not name falls back to the SMTP envelope.
    assert stored.from_address == expected.get("from", stored.from_address)
    assert stored.from_address
    if expected.get("message_id"):
        assert stored.message_id == expected["message_id"]
    else:
        assert stored.message_id.startswith("<") and stored.message_id.endswith(">")
    if "in_reply_to" in expected:
        assert stored.in_reply_to == expected["in_reply_to"]

    attachments = stored.attachments
    if "attachments" in expected:
        assert len(attachments) == expected["attachments"]
        assert stored.has_attachments is (expected["attachments"] > 0)
    for filename in expected.get("filenames", []):
        assert filename in [a.filename for a in attachments]
    for filename, size in expected.get("attachment_bytes", {}).items():
        [attachment] = [a for a in attachments if a.filename == filename]
        assert attachment.size_bytes == size
        assert len(client.attachments.download(attachment.id)) == size
    for cid in expected.get("inline", []):
        assert cid in [a.content_id for a in attachments]
    assert stored.attachments_dropped is ("dropped" in expected)
    assert stored.attachments_dropped_reason == expected.get("dropped")


def test_duplicate_message_ids_are_both_kept(served: tuple[Any, Any, Any]) -> None:
    server, client, _ = served
    # A fresh mailbox: the corpus run above already delivered these exact bytes, and the
    # sandbox may treat a byte-identical retransmission as the same message.
    mailbox = client.mailboxes.create("dupes")
    for suffix in ("a", "b"):
        _send(server, mailbox.full_address, (CORPUS / f"14_duplicate_message_id_{suffix}.eml").read_bytes())
    page = client.messages.list(mailbox.id, direction="INBOUND", limit=10)
    assert sorted(m.subject for m in page) == ["Duplicate id a", "Duplicate id b"]


def test_unknown_recipient_is_refused_over_smtp(served: tuple[Any, Any, Any]) -> None:
    server, _, _ = served
    with (
        smtplib.SMTP(server.smtp_host, server.smtp_port, timeout=30) as smtp,
        pytest.raises(smtplib.SMTPRecipientsRefused) as info,
    ):
        smtp.sendmail(ENVELOPE_FROM, ["nobody@sandbox.robotomail.test"], b"Subject: x\r\n\r\ny")
    assert info.value.recipients["nobody@sandbox.robotomail.test"][0] == 550


@pytest.mark.slow
def test_attachment_over_25_mb_is_dropped_and_the_message_kept(served: tuple[Any, Any, Any]) -> None:
    server, client, mailbox = served
    # Assembled by hand: base64 in C takes milliseconds where the stdlib generator takes seconds.
    huge = base64.encodebytes(b"\0" * (MAX_ATTACHMENT_BYTES + 1)).replace(b"\n", b"\r\n")
    raw = (
        f"From: big@example.org\r\nTo: {mailbox.full_address}\r\nSubject: Huge attachment\r\n".encode()
        + b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nBody of the message with a huge attachment.\r\n"
        b"--B\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=keep.txt\r\n\r\nsmall\r\n"
        b"--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-Disposition: attachment; filename=huge.bin\r\n\r\n" + huge + b"--B--\r\n"
    )
    _send(server, mailbox.full_address, raw)
    stored = _newest(client, mailbox)
    assert stored.subject == "Huge attachment"
    assert stored.body_text == "Body of the message with a huge attachment."
    assert stored.attachments_dropped is True and stored.attachments_dropped_reason == "size"
    assert [a.filename for a in stored.attachments] == ["keep.txt"]
