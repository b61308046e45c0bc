"""Serving the sandbox on real sockets: uvicorn (HTTP) and aiosmtpd (SMTP), each in a thread."""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

import uvicorn

if TYPE_CHECKING:
    from .._client import AsyncMailClient, MailClient
    from ._sandbox import Sandbox

__all__ = ["SandboxServer"]

logger = logging.getLogger("agentmail_tools")


class _Uvicorn(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the owning thread is not the main thread
        pass


class SandboxServer:
    """A running sandbox: HTTP on ``base_url`` and SMTP on ``smtp_host:smtp_port``.

    Created by :meth:`Sandbox.serve`; use it as a context manager (or call :meth:`stop`).

    Attributes:
        base_url: ``http://host:port/v1``, for ``MailClient(base_url=...)``.
        smtp_host, smtp_port: where outside mail is accepted for sandbox addresses.
        api_key: the sandbox's full-access key.
    """

    def __init__(
        self, sandbox: Sandbox, *, host: str = "127.0.0.1", port: int = 0, smtp_port: int | None = 0
    ) -> None:
        self.sandbox = sandbox
        self.host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(128)
        self.port: int = self._sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{self.port}/v1"
        self.api_key = sandbox.api_key
        config = uvicorn.Config(
            self._app, interface="asgi3", log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=2,
             ws="none",
        )  # fmt: skip
        self._uvicorn = _Uvicorn(config)
        self._thread = threading.Thread(target=self._run, name="sandbox-http", daemon=True)
        self._smtp: Any = None
        self.smtp_host = host
        self.smtp_port: int | None = None
        self._smtp_port_wanted = smtp_port
        self._stopped = threading.Event()

    async def _app(self, scope: Any, receive: Any, send: Any) -> None:
        # Lets SSE streams served here end promptly when this server stops, while streams
        # on the same sandbox in-process (or on another server) carry on.
        scope["sandbox.stopping"] = self._stopped
        await self.sandbox.app(scope, receive, send)

    def _run(self) -> None:
        self._uvicorn.run(sockets=[self._sock])

    def start(self) -> SandboxServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                msg = "the sandbox HTTP server did not start"
                raise RuntimeError(msg)
            time.sleep(0.01)
        if self._smtp_port_wanted is not None:
            from ._smtp import SMTPIngress

            service = self.sandbox.service
            self._smtp = SMTPIngress(
                accept_recipient=service.accept_recipient,
                deliver=lambda mail_from, rcpts, raw: None if service.deliver_raw(mail_from, rcpts, raw) else None,
                host=self.host, port=self._smtp_port_wanted,
                max_message_bytes=service.limits.smtp_max_message_bytes,
            )  # fmt: skip
            self._smtp.start()
            self.smtp_port = self._smtp.port
        self.sandbox.service.public_base_url = self.base_url
        return self

    def client(self, **kwargs: Any) -> MailClient:
        """A :class:`MailClient` talking to this server over HTTP."""
        from .._client import MailClient

        return MailClient(kwargs.pop("api_key", self.api_key), self.base_url, **kwargs)

    def async_client(self, **kwargs: Any) -> AsyncMailClient:
        from .._client import AsyncMailClient

        return AsyncMailClient(kwargs.pop("api_key", self.api_key), self.base_url, **kwargs)

    def wait(self) -> None:
        """Block until :meth:`stop` is called or Ctrl-C (KeyboardInterrupt propagates)."""
        while not self._stopped.wait(0.5):
            if not self._thread.is_alive():
                return

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._smtp is not None:
            try:
                self._smtp.stop()
            except Exception:  # stopping must not mask the reason we are stopping
                logger.exception("stopping the sandbox SMTP listener failed")
        self.sandbox.service.hub.notify()  # let SSE streams see the server going away
        self._uvicorn.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
        if self.sandbox.service.public_base_url == self.base_url:
            self.sandbox.service.public_base_url = "http://localhost/v1"

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
