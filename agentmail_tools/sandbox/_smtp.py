"""SMTP for the sandbox: a real inbound listener (aiosmtpd) and an outbound relay (smtplib).

:class:`SMTPIngress` accepts mail from the outside world for sandbox addresses. It runs
aiosmtpd's event loop in its own thread, so synchronous code starts and stops it; the
sandbox's callbacks run in worker threads, never on the SMTP loop, so a slow store or a
failing callback cannot stall or crash the listener. Replies follow RFC 5321/3463:

- unknown recipient at ``RCPT TO`` → ``550 5.1.1``;
- message over ``max_message_bytes`` → ``552`` (also refused early when the client
  declares ``SIZE=``);
- ``deliver`` raised → ``451 4.3.0`` (the sender retries later; the server keeps running).

:func:`relay` hands one message to a smarthost for the sandbox's optional outbound path.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from .._errors import MailError

__all__ = ["SMTPIngress", "SMTPRelayError", "relay"]

logger = logging.getLogger("agentmail_tools")

# RFC 5321 4.5.3.1.8: servers must accept at least 100 recipients; more is abuse.
_MAX_RECIPIENTS = 100


class SMTPRelayError(MailError):
    """The smarthost refused the message, or could not be reached.

    Attributes:
        refused: ``{recipient: (code, text)}`` for recipients the smarthost refused.
        delivered: recipients it accepted (a partial refusal still delivers to these).
        permanent: True for 5xx refusals (retrying will not help).
    """

    def __init__(
        self,
        message: str,
        *,
        refused: dict[str, tuple[int, str]] | None = None,
        delivered: list[str] | None = None,
        permanent: bool = False,
    ) -> None:
        super().__init__(message)
        self.refused = refused or {}
        self.delivered = delivered or []
        self.permanent = permanent


class _Handler:
    """aiosmtpd hooks: check recipients at RCPT, hand the message over after DATA."""

    def __init__(
        self,
        accept_recipient: Callable[[str], bool],
        deliver: Callable[[str, list[str], bytes], None],
    ) -> None:
        self._accept = accept_recipient
        self._deliver = deliver

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= _MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        try:
            accepted = await asyncio.to_thread(self._accept, address)
        except Exception:
            logger.exception("SMTP ingress: accept_recipient(%r) failed", address)
            return "451 4.3.0 Temporary failure checking the recipient, try again later"
        if not accepted:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        mail_from = envelope.mail_from or ""
        try:
            await asyncio.to_thread(self._deliver, mail_from, list(envelope.rcpt_tos), bytes(raw))
        except Exception:
            # The sender keeps the message and retries: nothing is lost by a transient bug.
            logger.exception("SMTP ingress: delivery from %r failed", mail_from)
            return "451 4.3.0 Temporary failure delivering the message, try again later"
        return "250 2.0.0 OK: message accepted"


class _LenientSMTP(SMTP):
    """aiosmtpd's SMTP without the 1,000-octet line cap on DATA.

    RFC 5321 caps lines at 1,000 octets, but real senders exceed it (minified HTML sent
    8bit, LF-only messages, which aiosmtpd sees as one line) and MTAs such as Postfix accept
    them. Refusing would lose the message; the total size is still capped by
    ``data_size_limit``.
    """

    def __init__(self, handler: Any, *, line_length_limit: int, **kwargs: Any) -> None:
        self.line_length_limit = line_length_limit  # read by SMTP.__init__ for the stream buffer
        super().__init__(handler, **kwargs)


class _Controller(Controller):
    """aiosmtpd's controller, taught to bind port 0 and report the port it got."""

    def factory(self) -> SMTP:
        limit = int(self.SMTP_kwargs.get("data_size_limit") or 0) + 1024
        return _LenientSMTP(self.handler, line_length_limit=max(limit, 1024 * 1024), **self.SMTP_kwargs)

    def _create_server(self) -> Coroutine[Any, Any, asyncio.AbstractServer]:
        return self._bind()

    async def _bind(self) -> asyncio.AbstractServer:
        server = await self.loop.create_server(
            self._factory_invoker, host=self.hostname, port=self.port, ssl=self.ssl_context
        )
        # The base class connects to self.port to trigger the first session; with port 0
        # it must learn the real port first.
        self.port = int(server.sockets[0].getsockname()[1])
        return server


class SMTPIngress:
    """A real SMTP server on loopback that delivers into the sandbox.

    Args:
        accept_recipient: called with each ``RCPT TO`` address (in a worker thread);
            False refuses it with ``550 5.1.1 mailbox unavailable``.
        deliver: called as ``deliver(mail_from, rcpt_tos, raw_bytes)`` after ``DATA`` (in a
            worker thread); raising makes the server answer ``451`` and keep running.
        host: interface to bind; loopback by default.
        port: TCP port; 0 picks a free one (read it back from :attr:`port` after start).
        max_message_bytes: larger messages are refused with ``552``.

    Example:
        >>> with SMTPIngress(accept_recipient=lambda a: True, deliver=store) as smtp:
        ...     smtplib.SMTP(smtp.host, smtp.port).sendmail(sender, [rcpt], raw)
    """

    def __init__(
        self,
        *,
        accept_recipient: Callable[[str], bool],
        deliver: Callable[[str, list[str], bytes], None],
        host: str = "127.0.0.1",
        port: int = 0,
        max_message_bytes: int = 40 * 1024 * 1024,
        server_hostname: str = "sandbox.localhost",
    ) -> None:
        self._handler = _Handler(accept_recipient, deliver)
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self.max_message_bytes = max_message_bytes
        # Given explicitly: aiosmtpd's default calls socket.getfqdn(), a DNS lookup that
        # can hang for seconds on an offline machine.
        self._server_hostname = server_hostname
        self._controller: _Controller | None = None

    @property
    def port(self) -> int:
        """The bound port (raises if the server is not running)."""
        if self._port is None:
            msg = "SMTPIngress is not running; call start() first"
            raise RuntimeError(msg)
        return self._port

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        """Bind and start serving in a background thread; returns once it answers."""
        if self._controller is not None:
            return
        controller = _Controller(
            self._handler,
            hostname=self.host,
            port=self._requested_port,
            server_hostname=self._server_hostname,
            data_size_limit=self.max_message_bytes,
            ident="agentmail-tools sandbox ESMTP",
        )
        controller.start()
        self._controller = controller
        self._port = controller.port
        logger.info("SMTP ingress listening on %s:%s", self.host, self._port)

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
            logger.info("SMTP ingress on %s:%s stopped", self.host, self._port)
        self._port = None

    def __enter__(self) -> SMTPIngress:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def relay(
    raw: bytes,
    *,
    mail_from: str,
    rcpt_tos: list[str],
    host: str,
    port: int,
    timeout: float = 30,
    starttls: bool = False,
    username: str | None = None,
    password: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Hand one message to an SMTP smarthost.

    Args:
        raw: the RFC 5322 message (as from :func:`~agentmail_tools._mime.build_message`).
        mail_from: envelope sender (``""`` for the null sender).
        rcpt_tos: envelope recipients (Bcc included).
        host: smarthost name or address.
        port: smarthost port.
        timeout: socket timeout in seconds for each step.
        starttls: upgrade the connection with STARTTLS before sending.
        username: log in with this user (and ``password``) when given.
        password: password for ``username``.
        ssl_context: TLS settings for STARTTLS (default: the system trust store, hostname checked).

    Raises:
        SMTPRelayError: the smarthost refused the sender, the message or any recipient
            (``.refused``, ``.delivered``, ``.permanent``), or could not be reached.
    """
    if not rcpt_tos:
        msg = "relay needs at least one recipient"
        raise SMTPRelayError(msg, permanent=True)
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as conn:
            conn.ehlo_or_helo_if_needed()
            if starttls:
                conn.starttls(context=ssl_context or ssl.create_default_context())
                conn.ehlo()
            if username is not None:
                conn.login(username, password or "")
            options: list[str] = []
            if not raw.isascii() and conn.has_extn("8bitmime"):
                options.append("BODY=8BITMIME")
            refused = conn.sendmail(mail_from, rcpt_tos, raw, mail_options=options)
    except smtplib.SMTPRecipientsRefused as err:
        refused_all = {k: (int(v[0]), _text(v[1])) for k, v in err.recipients.items()}
        msg = f"smarthost {host}:{port} refused every recipient: {refused_all}"
        permanent = all(code >= 500 for code, _ in refused_all.values())
        raise SMTPRelayError(msg, refused=refused_all, permanent=permanent) from err
    except smtplib.SMTPResponseException as err:
        msg = f"smarthost {host}:{port} refused the message: {err.smtp_code} {_text(err.smtp_error)}"
        raise SMTPRelayError(msg, permanent=err.smtp_code >= 500) from err
    except (smtplib.SMTPException, OSError) as err:
        msg = f"could not relay through smarthost {host}:{port}: {err}"
        raise SMTPRelayError(msg) from err
    if refused:
        partial = {k: (int(v[0]), _text(v[1])) for k, v in refused.items()}
        delivered = [r for r in rcpt_tos if r not in partial]
        msg = f"smarthost {host}:{port} refused some recipients: {partial}"
        permanent = all(code >= 500 for code, _ in partial.values())
        raise SMTPRelayError(msg, refused=partial, delivered=delivered, permanent=permanent)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
