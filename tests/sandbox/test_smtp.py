"""SMTP ingress (aiosmtpd) and relay (smtplib): unit tests of the hooks, then real loopback sessions."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from agentmail_tools._mime import build_message, parse_message
from agentmail_tools.sandbox._smtp import SMTPIngress, SMTPRelayError, _Controller, _Handler, relay

CORPUS = Path(__file__).parent / "corpus"
CASES = json.loads((CORPUS / "cases.json").read_text(encoding="utf-8"))
DOMAIN = "sandbox.robotomail.test"


class Inbox:
    """What a sandbox would do with the ingress callbacks, recorded for assertions."""

    def __init__(self, known: set[str] | None = None) -> None:
        self.known = known if known is not None else {f"inbox@{DOMAIN}", f"other@{DOMAIN}"}
        self.delivered: list[tuple[str, list[str], bytes]] = []
        self.fail_next = 0
        self.lock = threading.Lock()

    def accept(self, address: str) -> bool:
        if address == f"explode@{DOMAIN}":
            raise RuntimeError("store unavailable")
        return address.lower() in self.known

    def deliver(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> None:
        with self.lock:
            if self.fail_next:
                self.fail_next -= 1
                raise RuntimeError("disk full")
            self.delivered.append((mail_from, rcpt_tos, raw))


# --------------------------------------------------------------------------- hooks, no socket


def _run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_rcpt_hook_accepts_known_and_refuses_unknown() -> None:
    inbox = Inbox()
    handler = _Handler(inbox.accept, inbox.deliver)
    envelope = Envelope()
    ok = _run(handler.handle_RCPT(None, Session(None), envelope, f"inbox@{DOMAIN}", []))  # type: ignore[arg-type]
    refused = _run(handler.handle_RCPT(None, Session(None), envelope, "stranger@example.com", []))  # type: ignore[arg-type]
    assert str(ok).startswith("250")
    assert refused == "550 5.1.1 mailbox unavailable"
    assert envelope.rcpt_tos == [f"inbox@{DOMAIN}"]


def test_rcpt_hook_turns_callback_errors_into_451() -> None:
    inbox = Inbox()
    handler = _Handler(inbox.accept, inbox.deliver)
    reply = _run(handler.handle_RCPT(None, Session(None), Envelope(), f"explode@{DOMAIN}", []))  # type: ignore[arg-type]
    assert str(reply).startswith("451 4.3.0")


def test_rcpt_hook_caps_recipients() -> None:
    inbox = Inbox()
    handler = _Handler(inbox.accept, inbox.deliver)
    envelope = Envelope()
    envelope.rcpt_tos = [f"r{i}@{DOMAIN}" for i in range(100)]
    reply = _run(handler.handle_RCPT(None, Session(None), envelope, f"inbox@{DOMAIN}", []))  # type: ignore[arg-type]
    assert str(reply).startswith("452")


def test_data_hook_delivers_raw_bytes_and_maps_errors_to_451() -> None:
    inbox = Inbox()
    handler = _Handler(inbox.accept, inbox.deliver)
    envelope = Envelope()
    envelope.mail_from = "a@example.com"
    envelope.rcpt_tos = [f"inbox@{DOMAIN}"]
    envelope.original_content = envelope.content = b"Subject: x\r\n\r\nbody\r\n"
    assert str(_run(handler.handle_DATA(None, Session(None), envelope))).startswith("250")  # type: ignore[arg-type]
    assert inbox.delivered == [("a@example.com", [f"inbox@{DOMAIN}"], b"Subject: x\r\n\r\nbody\r\n")]
    inbox.fail_next = 1
    assert str(_run(handler.handle_DATA(None, Session(None), envelope))).startswith("451")  # type: ignore[arg-type]
    assert len(inbox.delivered) == 1


def test_port_before_start_is_an_error() -> None:
    ingress = SMTPIngress(accept_recipient=lambda a: True, deliver=lambda f, r, b: None)
    with pytest.raises(RuntimeError, match="not running"):
        _ = ingress.port
    ingress.stop()  # stopping a server that never started is harmless


def test_relay_without_recipients_is_refused_before_connecting() -> None:
    with pytest.raises(SMTPRelayError) as info:
        relay(b"x", mail_from="a@example.com", rcpt_tos=[], host="127.0.0.1", port=1)
    assert info.value.permanent


# --------------------------------------------------------------------------- real loopback


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def ingress(inbox: Inbox) -> Iterator[SMTPIngress]:
    with SMTPIngress(
        accept_recipient=inbox.accept, deliver=inbox.deliver, max_message_bytes=2 * 1024 * 1024
    ) as server:
        yield server


def _client(server: SMTPIngress) -> smtplib.SMTP:
    return smtplib.SMTP(server.host, server.port, timeout=10)


@pytest.mark.integration
def test_binds_a_free_loopback_port_and_answers(ingress: SMTPIngress) -> None:
    assert ingress.host == "127.0.0.1" and ingress.port > 0 and ingress.running
    with _client(ingress) as client:
        code, banner = client.ehlo("tester.example.com")
        assert code == 250
        assert client.has_extn("size") and client.has_extn("8bitmime")


@pytest.mark.integration
def test_delivers_a_message(ingress: SMTPIngress, inbox: Inbox) -> None:
    raw = build_message(
        from_address="customer@example.com",
        to=[f"inbox@{DOMAIN}"],
        subject="Where is my order?",
        body_text="It has been a week.",
    )
    with _client(ingress) as client:
        refused = client.sendmail("customer@example.com", [f"inbox@{DOMAIN}", f"other@{DOMAIN}"], raw)
    assert refused == {}
    [(mail_from, rcpts, got)] = inbox.delivered
    assert mail_from == "customer@example.com"
    assert rcpts == [f"inbox@{DOMAIN}", f"other@{DOMAIN}"]
    assert got == raw
    assert parse_message(got).body_text == "It has been a week."


@pytest.mark.integration
def test_unknown_recipient_gets_550_and_known_ones_still_deliver(ingress: SMTPIngress, inbox: Inbox) -> None:
    with _client(ingress) as client:
        refused = client.sendmail(
            "a@example.com", ["nobody@example.com", f"inbox@{DOMAIN}"], b"Subject: s\r\n\r\nb"
        )
        assert refused == {"nobody@example.com": (550, b"5.1.1 mailbox unavailable")}
        with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
            client.sendmail("a@example.com", ["nobody@example.com"], b"Subject: s\r\n\r\nb")
    assert info.value.recipients["nobody@example.com"][0] == 550
    assert [r for _, r, _ in inbox.delivered] == [[f"inbox@{DOMAIN}"]]


@pytest.mark.integration
def test_oversize_declared_with_size_gets_552(ingress: SMTPIngress, inbox: Inbox) -> None:
    big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 2200
    with _client(ingress) as client, pytest.raises(smtplib.SMTPSenderRefused) as info:
        client.sendmail("a@example.com", [f"inbox@{DOMAIN}"], big)
    assert info.value.smtp_code == 552
    assert inbox.delivered == []


@pytest.mark.integration
def test_oversize_without_size_gets_552_after_data(ingress: SMTPIngress, inbox: Inbox) -> None:
    big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 2200
    with _client(ingress) as client:
        client.ehlo()
        client.esmtp_features.pop("size", None)  # a client that never declares the size
        with pytest.raises(smtplib.SMTPDataError) as info:
            client.sendmail("a@example.com", [f"inbox@{DOMAIN}"], big)
        assert info.value.smtp_code == 552
        # The session survives the refusal.
        assert client.sendmail("a@example.com", [f"inbox@{DOMAIN}"], b"Subject: small\r\n\r\nok") == {}
    assert len(inbox.delivered) == 1


@pytest.mark.integration
def test_deliver_failure_gives_451_and_server_keeps_running(ingress: SMTPIngress, inbox: Inbox) -> None:
    inbox.fail_next = 1
    with _client(ingress) as client:
        with pytest.raises(smtplib.SMTPDataError) as info:
            client.sendmail("a@example.com", [f"inbox@{DOMAIN}"], b"Subject: one\r\n\r\nfirst")
        assert info.value.smtp_code == 451
        assert client.sendmail("a@example.com", [f"inbox@{DOMAIN}"], b"Subject: two\r\n\r\nretry") == {}
    with _client(ingress) as client:
        assert (
            client.sendmail("a@example.com", [f"inbox@{DOMAIN}"], b"Subject: three\r\n\r\nnew session") == {}
        )
    assert [parse_message(raw).subject for _, _, raw in inbox.delivered] == ["two", "three"]


@pytest.mark.integration
def test_accept_recipient_failure_gives_451(ingress: SMTPIngress, inbox: Inbox) -> None:
    with _client(ingress) as client, pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        client.sendmail("a@example.com", [f"explode@{DOMAIN}"], b"Subject: s\r\n\r\nb")
    assert info.value.recipients[f"explode@{DOMAIN}"][0] == 451


@pytest.mark.integration
def test_garbage_commands_do_not_crash_the_server(ingress: SMTPIngress, inbox: Inbox) -> None:
    with socket.create_connection((ingress.host, ingress.port), timeout=10) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"220")
        for line in (b"\xff\xfe\x00garbage\r\n", b"RCPT TO:<x@y>\r\n", b"DATA\r\n", b"MAIL FROM:<<<>>>\r\n"):
            sock.sendall(line)
            reply = reader.readline()
            assert reply[:1] in (b"5", b"4"), reply
        sock.sendall(b"QUIT\r\n")
    with _client(ingress) as client:
        assert client.sendmail("a@example.com", [f"inbox@{DOMAIN}"], b"Subject: after\r\n\r\nfine") == {}
    assert len(inbox.delivered) == 1


@pytest.mark.integration
def test_concurrent_senders(ingress: SMTPIngress, inbox: Inbox) -> None:
    def send(n: int) -> None:
        with _client(ingress) as client:
            for i in range(5):
                client.sendmail(
                    f"s{n}@example.com", [f"inbox@{DOMAIN}"], f"Subject: {n}-{i}\r\n\r\nx".encode()
                )

    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    subjects = sorted(parse_message(raw).subject for _, _, raw in inbox.delivered)
    assert subjects == sorted(f"{n}-{i}" for n in range(6) for i in range(5))


@pytest.mark.integration
def test_stop_releases_the_port_and_start_again_works(inbox: Inbox) -> None:
    ingress = SMTPIngress(accept_recipient=inbox.accept, deliver=inbox.deliver)
    ingress.start()
    ingress.start()  # idempotent
    first = ingress.port
    ingress.stop()
    ingress.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", first), timeout=2).close()
    ingress.start()
    try:
        with _client(ingress) as client:
            client.sendmail("a@example.com", [f"inbox@{DOMAIN}"], b"Subject: again\r\n\r\nx")
    finally:
        ingress.stop()
    assert len(inbox.delivered) == 1


@pytest.mark.integration
def test_fixed_port_is_honoured(inbox: Inbox) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with SMTPIngress(accept_recipient=inbox.accept, deliver=inbox.deliver, port=port) as server:
        assert server.port == port


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus_over_smtp_arrives_intact(ingress: SMTPIngress, inbox: Inbox, name: str) -> None:
    raw = (CORPUS / name).read_bytes()
    with _client(ingress) as client:
        client.sendmail("sender@example.org", [f"inbox@{DOMAIN}"], raw)
    [(_, _, got)] = inbox.delivered
    direct, received = parse_message(raw), parse_message(got)
    assert received.subject == direct.subject
    assert received.body_text.replace("\r\n", "\n") == direct.body_text.replace("\r\n", "\n")
    assert [(a.filename, a.data) for a in received.attachments] == [
        (a.filename, a.data) for a in direct.attachments
    ]
    if b"\n" not in raw.replace(b"\r\n", b""):
        # CRLF messages arrive byte for byte (dot-stuffing undone, nothing re-encoded).
        assert got == raw if raw.endswith(b"\r\n") else got == raw + b"\r\n"


# --------------------------------------------------------------------------- relay


@pytest.fixture
def smarthost() -> Iterator[tuple[SMTPIngress, Inbox]]:
    upstream = Inbox(known={"customer@example.com", "second@example.com"})
    with SMTPIngress(accept_recipient=upstream.accept, deliver=upstream.deliver) as server:
        yield server, upstream


@pytest.mark.integration
def test_relay_delivers_to_the_smarthost(smarthost: tuple[SMTPIngress, Inbox]) -> None:
    server, upstream = smarthost
    raw = build_message(
        from_address=f"agent@{DOMAIN}",
        to=["customer@example.com"],
        subject="Ré: order",
        body_text="Shipped ✓",
    )
    relay(
        raw,
        mail_from=f"agent@{DOMAIN}",
        rcpt_tos=["customer@example.com"],
        host=server.host,
        port=server.port,
    )
    [(mail_from, rcpts, got)] = upstream.delivered
    assert (mail_from, rcpts, got) == (f"agent@{DOMAIN}", ["customer@example.com"], raw)


@pytest.mark.integration
def test_relay_8bit_message(smarthost: tuple[SMTPIngress, Inbox]) -> None:
    server, upstream = smarthost
    raw = "Subject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGrüße\r\n".encode()
    relay(raw, mail_from="", rcpt_tos=["customer@example.com"], host=server.host, port=server.port)
    assert parse_message(upstream.delivered[0][2]).body_text == "Grüße"


@pytest.mark.integration
def test_relay_reports_refused_recipients(smarthost: tuple[SMTPIngress, Inbox]) -> None:
    server, upstream = smarthost
    with pytest.raises(SMTPRelayError) as info:
        relay(
            b"Subject: x\r\n\r\ny",
            mail_from="a@x.org",
            rcpt_tos=["unknown@example.com"],
            host=server.host,
            port=server.port,
        )
    assert info.value.permanent and info.value.refused["unknown@example.com"][0] == 550
    with pytest.raises(SMTPRelayError) as info:
        relay(
            b"Subject: x\r\n\r\ny",
            mail_from="a@x.org",
            rcpt_tos=["customer@example.com", "unknown@example.com"],
            host=server.host,
            port=server.port,
        )
    assert info.value.delivered == ["customer@example.com"]
    assert list(info.value.refused) == ["unknown@example.com"]
    assert len(upstream.delivered) == 1


@pytest.mark.integration
def test_relay_temporary_failure_is_not_permanent(smarthost: tuple[SMTPIngress, Inbox]) -> None:
    server, upstream = smarthost
    upstream.fail_next = 1
    with pytest.raises(SMTPRelayError) as info:
        relay(
            b"Subject: x\r\n\r\ny",
            mail_from="a@x.org",
            rcpt_tos=["customer@example.com"],
            host=server.host,
            port=server.port,
        )
    assert info.value.permanent is False


@pytest.mark.integration
def test_relay_unreachable_smarthost() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(SMTPRelayError, match="could not relay"):
        relay(
            b"Subject: x\r\n\r\ny",
            mail_from="a@x.org",
            rcpt_tos=["b@x.org"],
            host="127.0.0.1",
            port=port,
            timeout=5,
        )
    assert time.monotonic() - started < 5


# --------------------------------------------------------------------------- relay over STARTTLS + AUTH


def _self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh self-signed cert for 127.0.0.1, and a client context trusting it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


@pytest.mark.integration
def test_relay_with_starttls_and_login(tmp_path: Path) -> None:
    server_ctx, client_ctx = _self_signed(tmp_path)
    upstream = Inbox(known={"customer@example.com"})
    seen_logins: list[bytes] = []

    def authenticator(
        server: object, session: object, envelope: object, mechanism: str, data: Any
    ) -> AuthResult:
        seen_logins.append(data.login)
        return AuthResult(success=isinstance(data, LoginPassword) and data.password == b"s3cret")

    # The ingress's own controller (binds port 0), here as a TLS + AUTH smarthost.
    controller = _Controller(
        _Handler(upstream.accept, upstream.deliver),
        hostname="127.0.0.1",
        port=0,
        server_hostname="smarthost.test",
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    controller.start()
    try:
        kwargs: dict[str, Any] = {"mail_from": "agent@x.org", "rcpt_tos": ["customer@example.com"]}
        target = {"host": "127.0.0.1", "port": controller.port, "timeout": 10}
        with pytest.raises(SMTPRelayError):  # the server insists on TLS first
            relay(b"Subject: x\r\n\r\ny", **kwargs, **target)
        with pytest.raises(SMTPRelayError):  # an untrusted certificate is refused by default
            relay(b"Subject: x\r\n\r\ny", **kwargs, **target, starttls=True)
        relay(b"Subject: over tls\r\n\r\ny", **kwargs, **target, starttls=True, ssl_context=client_ctx,
              username="agent", password="s3cret")  # fmt: skip
    finally:
        controller.stop()
    assert [parse_message(raw).subject for _, _, raw in upstream.delivered] == ["over tls"]
    assert seen_logins == [b"agent"]
