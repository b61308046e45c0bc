"""The :class:`Sandbox`: an embedded Robotomail-compatible mail server, in-process or served."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from .._base import status_error
from ._app import build_app
from ._auth import Principal
from ._events import WebhookDispatcher
from ._http import ApiError
from ._limits import SandboxLimits
from ._server import SandboxServer
from ._service import DEFAULT_DOMAIN, IN_PROCESS_BASE_URL, SandboxService
from ._store import Store
from ._transport import AsyncASGITransport, LoopThread, SyncASGITransport

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from .._client import AsyncMailClient, MailClient

__all__ = ["Sandbox"]

_FULL = Principal(key_id="sandbox", mailbox_ids=None)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _mail_errors(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Raise the client's error tree from the sandbox's direct methods, as over HTTP.

    ``sandbox.inject(...)`` and ``client.messages.send(...)`` refuse bad input with the same
    :class:`~agentmail_tools.MailError` subclasses, so callers catch one family of errors.
    """

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except ApiError as err:
            raise status_error(
                err.status,
                f"{err.status} {err.message} (sandbox.{method.__name__})",
                error=err.message,
                code=err.extra.get("code"),
                body=err.body(),
            ) from err

    return wrapper


class Sandbox:
    """A Robotomail-compatible mail server that needs no account and no network.

    State lives in SQLite (WAL) plus a folder of attachment blobs under ``path``, or in
    memory when ``path`` is None. The same :class:`~agentmail_tools.MailClient` code that
    talks to the hosted API talks to the sandbox, in-process or over a loopback port.

    Mailboxes get addresses ``<address>@sandbox.robotomail.test`` (the reserved ``.test``
    TLD, so nothing can leak to real mail) unless created on a verified custom domain.

    Setup and use::

        from agentmail_tools.sandbox import Sandbox

        with Sandbox() as sandbox:                       # or Sandbox("data/sandbox")
            client = sandbox.client()                    # MailClient, in-process
            box = client.mailboxes.create("support")
            sandbox.inject({"from": "dana@example.com", "to": box.full_address,
                            "subject": "Hi", "bodyText": "Hello"})
            with sandbox.serve() as server:              # HTTP + SMTP on 127.0.0.1
                print(server.base_url, server.smtp_port, server.api_key)

    Async::

        async with sandbox.async_client() as client:
            await client.mailboxes.list()

    Args:
        path: data directory (created if missing), or None for in-memory.
        limits: rates, caps and timings (see :class:`SandboxLimits`).
        resolver: a DNS resolver for domain verification (default: offline, verifies nothing).
        smarthost: ``"host:port"`` or ``(host, port)`` to relay mail for outside addresses;
            without one that mail waits in the outbox (:meth:`outbox`).
        webhook_transport: an httpx transport for webhook deliveries (tests).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        limits: SandboxLimits | None = None,
        resolver: Any = None,
        smarthost: str | tuple[str, int] | None = None,
        webhook_transport: Any = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.limits = limits or SandboxLimits()
        self.store = Store(self.path)
        self.service = SandboxService(
            self.store, self.limits, resolver=resolver, smarthost=smarthost, default_domain=DEFAULT_DOMAIN
        )
        self.app: Starlette = build_app(self.service)
        self._dispatcher = WebhookDispatcher(self.store, self.limits, transport=webhook_transport)
        self.service.log.on_delivery = self._dispatcher.wake
        self._dispatcher.start()
        self._loop: LoopThread | None = None
        self._lock = threading.Lock()
        self._servers: list[SandboxServer] = []
        self._closed = False

    # -- clients -------------------------------------------------------------------------

    @property
    def api_key(self) -> str:
        """The full-access key created on first start (persisted with the data)."""
        return self.service.bootstrap_key

    @property
    def domain(self) -> str:
        """The mail domain of sandbox mailboxes without a custom domain."""
        return self.service.default_domain

    def _check_open(self) -> None:
        if self._closed:
            msg = "this Sandbox is closed; create a new Sandbox(path) to open the data again"
            raise RuntimeError(msg)

    def _loop_thread(self) -> LoopThread:
        self._check_open()
        with self._lock:
            if self._loop is None:
                self._loop = LoopThread()
            return self._loop

    def transport(self) -> SyncASGITransport:
        """A synchronous httpx transport calling this sandbox in-process (no socket)."""
        return SyncASGITransport(self.app, self._loop_thread())

    def async_transport(self) -> AsyncASGITransport:
        """An async httpx transport calling this sandbox in-process on the caller's loop."""
        self._check_open()
        return AsyncASGITransport(self.app)

    def client(self, **kwargs: Any) -> MailClient:
        """A :class:`~agentmail_tools.MailClient` bound to this sandbox in-process.

        Keyword arguments go to ``MailClient`` (``api_key`` defaults to :attr:`api_key`).
        """
        from .._client import MailClient

        api_key = kwargs.pop("api_key", self.api_key)
        base_url = kwargs.pop("base_url", IN_PROCESS_BASE_URL)
        return MailClient(api_key, base_url, transport=self.transport(), **kwargs)

    def async_client(self, **kwargs: Any) -> AsyncMailClient:
        """An :class:`~agentmail_tools.AsyncMailClient` bound to this sandbox in-process."""
        from .._client import AsyncMailClient

        api_key = kwargs.pop("api_key", self.api_key)
        base_url = kwargs.pop("base_url", IN_PROCESS_BASE_URL)
        return AsyncMailClient(api_key, base_url, transport=self.async_transport(), **kwargs)

    def serve(self, host: str = "127.0.0.1", port: int = 0, smtp_port: int | None = 0) -> SandboxServer:
        """Serve over HTTP (uvicorn) and SMTP (aiosmtpd) on ``host``; port 0 = any free port.

        Returns the started :class:`SandboxServer` (a context manager that stops it).
        ``smtp_port=None`` serves HTTP only.
        """
        self._check_open()
        server = SandboxServer(self, host=host, port=port, smtp_port=smtp_port).start()
        self._servers.append(server)
        return server

    # -- Python conveniences (mirror the /v1/sandbox routes) ------------------------------

    @_mail_errors
    def create_mailbox(
        self, address: str, *, display_name: str | None = None, domain_id: str | None = None
    ) -> dict[str, Any]:
        """Create a mailbox directly; returns its contract JSON (``{"id", "fullAddress", ...}``)."""
        body: dict[str, Any] = {"address": address}
        if display_name is not None:
            body["displayName"] = display_name
        if domain_id is not None:
            body["domainId"] = domain_id
        result: dict[str, Any] = self.service.create_mailbox(_FULL, body)["mailbox"]
        return result

    @_mail_errors
    def inject(self, message: bytes | str | dict[str, Any]) -> list[dict[str, Any]]:
        """Deliver inbound mail as if it came from outside; returns the stored messages.

        Args:
            message: raw MIME (bytes or str), or fields ``{"from", "to", "subject",
                "bodyText", "bodyHtml"?, "cc"?, "inReplyTo"?, "references"?, "messageId"?,
                "headers"?}``, as ``POST /v1/sandbox/inbound`` takes them.
        """
        if isinstance(message, dict):
            result = self.service.inject(json.loads(json.dumps(message)), None)
        else:
            raw = message.encode("utf-8") if isinstance(message, str) else bytes(message)
            result = self.service.inject(None, raw)
        messages: list[dict[str, Any]] = result["messages"]
        return messages

    @_mail_errors
    def deliver(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> list[dict[str, Any]]:
        """Deliver raw MIME to explicit envelope recipients (what the SMTP listener does)."""
        return self.service.deliver_raw(mail_from, rcpt_tos, raw)

    def outbox(self, *, include_raw: bool = False) -> list[dict[str, Any]]:
        """Mail sent to outside addresses, oldest first (``to``, ``subject``, ``raw``, ...)."""
        return self.service.outbox(include_raw=include_raw)

    def clear_outbox(self) -> int:
        return self.service.clear_outbox()

    @_mail_errors
    def mark_bounce(self, address: str) -> None:
        """Mail to ``address`` bounces from now on (event message.bounced, suppression)."""
        self.service.mark_address(address, "bounce")

    @_mail_errors
    def mark_complaint(self, address: str) -> None:
        """Mail to ``address`` is delivered, then reported as spam (message.complaint)."""
        self.service.mark_address(address, "complaint")

    @_mail_errors
    def unmark(self, address: str) -> bool:
        return self.service.unmark_address(address)

    @_mail_errors
    def complain(self, message_id: str, address: str | None = None) -> dict[str, Any]:
        """Report a sent message (our id) as spam now."""
        return self.service.complaint(message_id, address)

    def reset(self) -> None:
        """Delete all mail, mailboxes, webhooks, events and domains; keep the account and key."""
        self.service.reset()

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Stop servers, background threads and close the database. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for server in self._servers:
            server.stop()
        self._servers.clear()
        self.service.close()
        self._dispatcher.stop()
        if self._loop is not None:
            self._loop.stop()
            self._loop = None
        self.store.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
