"""``MailClient`` and ``AsyncMailClient``: they send, sleep and close; ``_base`` decides the rest."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

import httpx

from ._base import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    BaseClient,
    Operation,
    is_event_stream,
    stream_error,
)
from ._errors import InvalidRequestError
from ._resources_async import (
    AsyncAccount,
    AsyncApiKeys,
    AsyncAttachments,
    AsyncDomains,
    AsyncEvents,
    AsyncMailboxes,
    AsyncMessages,
    AsyncSuppressions,
    AsyncThreads,
    AsyncWebhooks,
)
from ._resources_sync import (
    Account,
    ApiKeys,
    Attachments,
    Domains,
    Events,
    Mailboxes,
    Messages,
    Suppressions,
    Threads,
    Webhooks,
)

__all__ = ["AsyncMailClient", "MailClient"]

T = TypeVar("T")


class MailClient(BaseClient):
    """Synchronous client for the Robotomail API (hosted, or the embedded sandbox).

    Setup::

        export ROBOTOMAIL_API_KEY=rm_...

    Use::

        from agentmail_tools import MailClient

        with MailClient() as client:
            box = client.mailboxes.create("support", display_name="Support")
            client.messages.send(box.id, to="ann@example.com", subject="Hi", body_text="Hello")
            for message in client.messages.iter(box.id, direction="INBOUND"):
                print(message.subject)

    Async: :class:`AsyncMailClient` has the same namespaces with ``await``.

    Args:
        api_key: the API key; defaults to ``ROBOTOMAIL_API_KEY``. May be omitted for a
            loopback base URL or a custom transport (the sandbox).
        base_url: defaults to ``ROBOTOMAIL_BASE_URL``, else ``https://api.robotomail.com/v1``.
            Must be https (plain http only on loopback), without credentials, query or fragment.
        timeout: seconds (or an ``httpx.Timeout``) per request.
        max_retries: retries of idempotent requests (GET) on 408/429/5xx and transport errors.
        transport: an ``httpx.BaseTransport`` (e.g. a mock, or the sandbox's in-process transport).
        http_client: an ``httpx.Client`` to use instead of our own; the caller closes it.

    Raises:
        InvalidRequestError: the base URL or the key is unusable.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        if transport is not None and http_client is not None:
            msg = "pass transport or http_client, not both"
            raise InvalidRequestError(msg)
        if transport is not None and not isinstance(transport, httpx.BaseTransport):
            msg = (
                f"MailClient needs a sync httpx.BaseTransport, got {type(transport).__name__}; "
                "httpx.ASGITransport is async-only: use AsyncMailClient, or the sandbox's sync transport"
            )
            raise TypeError(msg)
        if http_client is not None and not isinstance(http_client, httpx.Client):
            msg = f"http_client must be an httpx.Client, got {type(http_client).__name__}"
            raise TypeError(msg)
        self._configure(
            api_key,
            base_url,
            timeout,
            max_retries,
            has_custom_transport=transport is not None or http_client is not None,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            transport=transport, timeout=self._timeout, follow_redirects=False
        )
        self._sleep: Callable[[float], None] = time.sleep
        self.account = Account(self)
        self.api_keys = ApiKeys(self)
        self.mailboxes = Mailboxes(self)
        self.messages = Messages(self)
        self.threads = Threads(self)
        self.attachments = Attachments(self)
        self.domains = Domains(self)
        self.webhooks = Webhooks(self)
        self.events = Events(self)
        self.suppressions = Suppressions(self)

    def __repr__(self) -> str:
        return f"MailClient(base_url={self._base_url!r})"

    def __enter__(self) -> MailClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (not an ``http_client`` passed in by the caller)."""
        if self._owns_http:
            self._http.close()

    def _send(self, op: Operation[Any], *, stream: bool = False) -> httpx.Response:
        attempt = 0
        while True:
            request = self._build(self._http, op)
            try:
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                delay = self._retry_delay_for_error(op, exc, attempt)
                if delay is None:
                    raise self._transport_error(op, exc) from exc
            else:
                delay = self._retry_delay_for_response(op, response, attempt)
                if delay is None:
                    return response
                response.close()
            self._sleep(delay)
            attempt += 1

    def _request(self, op: Operation[T]) -> T:
        return self._parse(op, self._send(op))

    def _open_stream(self, op: Operation[Any]) -> httpx.Response:
        response = self._send(op, stream=True)
        if response.is_error or not is_event_stream(response):
            try:
                response.read()
            finally:
                response.close()
            raise stream_error(response)
        return response


class AsyncMailClient(BaseClient):
    """Asynchronous twin of :class:`MailClient`: same arguments, same namespaces, ``await`` them.

    Use::

        async with AsyncMailClient() as client:
            box = await client.mailboxes.create("support")
            async for message in client.messages.iter(box.id):
                ...
            async with client.events.stream(mailbox_id=box.id) as events:
                async for event in events:
                    ...

    ``transport`` may be any ``httpx.AsyncBaseTransport``, e.g. ``httpx.ASGITransport(app=...)``
    to run the sandbox in-process.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        if transport is not None and http_client is not None:
            msg = "pass transport or http_client, not both"
            raise InvalidRequestError(msg)
        if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
            msg = f"AsyncMailClient needs an httpx.AsyncBaseTransport, got {type(transport).__name__}"
            raise TypeError(msg)
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            msg = f"http_client must be an httpx.AsyncClient, got {type(http_client).__name__}"
            raise TypeError(msg)
        self._configure(
            api_key,
            base_url,
            timeout,
            max_retries,
            has_custom_transport=transport is not None or http_client is not None,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            transport=transport, timeout=self._timeout, follow_redirects=False
        )
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.account = AsyncAccount(self)
        self.api_keys = AsyncApiKeys(self)
        self.mailboxes = AsyncMailboxes(self)
        self.messages = AsyncMessages(self)
        self.threads = AsyncThreads(self)
        self.attachments = AsyncAttachments(self)
        self.domains = AsyncDomains(self)
        self.webhooks = AsyncWebhooks(self)
        self.events = AsyncEvents(self)
        self.suppressions = AsyncSuppressions(self)

    def __repr__(self) -> str:
        return f"AsyncMailClient(base_url={self._base_url!r})"

    async def __aenter__(self) -> AsyncMailClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool (not an ``http_client`` passed in by the caller)."""
        if self._owns_http:
            await self._http.aclose()

    async def _send(self, op: Operation[Any], *, stream: bool = False) -> httpx.Response:
        attempt = 0
        while True:
            request = self._build(self._http, op)
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                delay = self._retry_delay_for_error(op, exc, attempt)
                if delay is None:
                    raise self._transport_error(op, exc) from exc
            else:
                delay = self._retry_delay_for_response(op, response, attempt)
                if delay is None:
                    return response
                await response.aclose()
            await self._sleep(delay)
            attempt += 1

    async def _request(self, op: Operation[T]) -> T:
        return self._parse(op, await self._send(op))

    async def _open_stream(self, op: Operation[Any]) -> httpx.Response:
        response = await self._send(op, stream=True)
        if response.is_error or not is_event_stream(response):
            try:
                await response.aread()
            finally:
                await response.aclose()
            raise stream_error(response)
        return response
