"""The resource namespaces of :class:`~agentmail_tools.AsyncMailClient`: async twins of ``_resources_sync``."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from . import _resources as ops
from ._base import Operation
from ._models import Account as AccountModel
from ._models import (
    ApiKey,
    Attachment,
    AttachmentUpload,
    CreatedApiKey,
    Domain,
    DomainVerificationResult,
    DomainWithRecords,
    Mailbox,
    Message,
    MessagePage,
    SearchResults,
    Suppression,
    Thread,
    ThreadDetail,
    Webhook,
    WebhookDelivery,
)
from ._resources_sync import DEFAULT_STREAM_READ_TIMEOUT
from ._sse import DEFAULT_MAX_EVENT_BYTES
from ._streaming import AsyncEventStream
from ._types import NOT_GIVEN, NotGiven

if TYPE_CHECKING:
    from ._client import AsyncMailClient

__all__ = [
    "AsyncAccount",
    "AsyncApiKeys",
    "AsyncAttachments",
    "AsyncDomains",
    "AsyncEvents",
    "AsyncMailboxes",
    "AsyncMessages",
    "AsyncSuppressions",
    "AsyncThreads",
    "AsyncWebhooks",
]

T = TypeVar("T")


class _Resource:
    def __init__(self, client: AsyncMailClient) -> None:
        self._client = client

    async def _run(self, op: Operation[T]) -> T:
        return await self._client._request(op)


class AsyncAccount(_Resource):
    """``async_client.account``: the account behind the key."""

    async def get(self) -> AccountModel:
        """Return the account with its usage counters."""
        return await self._run(ops.get_account())


class AsyncApiKeys(_Resource):
    """``async_client.api_keys``: list, create (full-access or mailbox-scoped) and revoke keys."""

    async def list(self) -> builtins.list[ApiKey]:
        """Return the account's keys (without their secrets)."""
        return await self._run(ops.list_api_keys())

    async def create(
        self, *, name: str | None = None, mailbox_ids: Sequence[str] | None = None
    ) -> CreatedApiKey:
        """Create a key; with ``mailbox_ids`` it only sees those mailboxes. ``.key`` is shown once."""
        return await self._run(ops.create_api_key(name=name, mailbox_ids=mailbox_ids))

    async def delete(self, key_id: str) -> None:
        """Revoke a key (the only full-access key cannot be revoked)."""
        await self._run(ops.delete_api_key(key_id))


class AsyncMailboxes(_Resource):
    """``async_client.mailboxes``: create, list, get, update (pause) and delete mailboxes."""

    async def list(self) -> builtins.list[Mailbox]:
        """Return every mailbox the key can see."""
        return await self._run(ops.list_mailboxes())

    async def create(
        self, address: str, *, domain_id: str | None = None, display_name: str | None = None
    ) -> Mailbox:
        """Create ``address@<domain>`` (``address`` is the local part, e.g. ``"support"``).

        Raises:
            ConflictError: the address is taken.
            PermissionDeniedError: a plan limit or a mailbox-scoped key.
        """
        return await self._run(ops.create_mailbox(address, domain_id=domain_id, display_name=display_name))

    async def get(self, mailbox_id: str) -> Mailbox:
        """Return one mailbox."""
        return await self._run(ops.get_mailbox(mailbox_id))

    async def update(
        self,
        mailbox_id: str,
        *,
        display_name: str | None | NotGiven = NOT_GIVEN,
        status: str | NotGiven = NOT_GIVEN,
    ) -> Mailbox:
        """Change the display name (None clears it: sent as ``""``, the contract's field is not nullable) or the status (``ACTIVE`` / ``PAUSED``)."""
        return await self._run(ops.update_mailbox(mailbox_id, display_name=display_name, status=status))

    async def delete(self, mailbox_id: str) -> None:
        """Delete a mailbox and all its messages."""
        await self._run(ops.delete_mailbox(mailbox_id))


class AsyncMessages(_Resource):
    """``async_client.messages``: send, list (one page or all), get and search messages."""

    async def send(
        self,
        mailbox_id: str,
        *,
        to: str | Sequence[str],
        subject: str,
        body_text: str,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        body_html: str | None = None,
        in_reply_to: str | None = None,
        attachments: Sequence[str | Attachment | AttachmentUpload] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Message:
        """Send an email now (the API sends synchronously and answers with status ``SENT``).

        ``to``/``cc``/``bcc`` take one address or a list; ``"Ann <ann@example.com>"`` is reduced
        to the bare address (the API takes bare addresses). To reply in a thread pass the
        original's ``message_id`` (RFC 5322) as ``in_reply_to``.
        Only ``X-Custom-*`` and ``X-Robotomail-*`` headers survive on the hosted API.

        Never retried: if the request may have reached the server and no answer came back,
        :class:`AmbiguousSendError` is raised (check the thread before sending again).

        Raises:
            InvalidRequestError: bad address, more than 50 recipients in a field, CR/LF in the
                subject, ``in_reply_to`` or a header, more than 10 attachments; nothing was sent.
            BadRequestError: mailbox not ACTIVE, suppressed or disposable recipient.
            RateLimitError: the send rate limit.
        """
        op = ops.send_message(
            mailbox_id,
            to=to,
            subject=subject,
            body_text=body_text,
            cc=cc,
            bcc=bcc,
            body_html=body_html,
            in_reply_to=in_reply_to,
            attachments=attachments,
            headers=headers,
        )
        return await self._run(op)

    async def list(
        self,
        mailbox_id: str,
        *,
        direction: str | None = None,
        thread_id: str | None = None,
        since: datetime | str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> MessagePage:
        """Return one page of messages, newest first (``limit`` 1-100, server default 50)."""
        op = ops.list_messages(
            mailbox_id, direction=direction, thread_id=thread_id, since=since, limit=limit, offset=offset
        )
        return await self._run(op)

    def iter(
        self,
        mailbox_id: str,
        *,
        direction: str | None = None,
        thread_id: str | None = None,
        since: datetime | str | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[Message]:
        """Yield every matching message, page after page, newest first.

        Messages that arrive meanwhile shift the offsets; a message seen on an earlier page
        is not yielded twice.
        """
        first = ops.list_messages(
            mailbox_id, direction=direction, thread_id=thread_id, since=since, limit=page_size, offset=0
        )
        return self._iter(first, page_size)

    async def _iter(self, op: Operation[MessagePage], page_size: int) -> AsyncIterator[Message]:
        seen: set[str] = set()
        offset = 0
        while True:
            op.params["offset"] = offset
            page = await self._run(op)
            for message in page.messages:
                if message.id not in seen:
                    seen.add(message.id)
                    yield message
            if len(page.messages) < page_size:
                return
            offset += len(page.messages)

    async def get(self, mailbox_id: str, message_id: str) -> Message:
        """Return one message with its attachments' metadata."""
        return await self._run(ops.get_message(mailbox_id, message_id))

    async def search(self, mailbox_id: str, query: str, *, limit: int = 20, offset: int = 0) -> SearchResults:
        """Full-text search (a sandbox extension: the hosted API answers 404)."""
        return await self._run(ops.search_messages(mailbox_id, query, limit=limit, offset=offset))


class AsyncThreads(_Resource):
    """``async_client.threads``: conversations."""

    async def list(self, mailbox_id: str) -> builtins.list[Thread]:
        """Return up to 50 threads, most recent activity first."""
        return await self._run(ops.list_threads(mailbox_id))

    async def get(self, mailbox_id: str, thread_id: str) -> ThreadDetail:
        """Return a thread with its messages, oldest first."""
        return await self._run(ops.get_thread(mailbox_id, thread_id))


class AsyncAttachments(_Resource):
    """``async_client.attachments``: upload before sending, read metadata, download, delete."""

    async def upload(
        self, file: ops.FileInput, *, filename: str | None = None, content_type: str | None = None
    ) -> AttachmentUpload:
        """Upload bytes, a file path or a binary file object (at most 25 MB).

        ``filename`` defaults to the path's name; ``content_type`` is guessed from it.
        Not retried (a POST); pass the returned ``id`` to ``messages.send(attachments=[...])``.
        """
        return await self._run(ops.upload_attachment(file, filename=filename, content_type=content_type))

    async def get(self, attachment_id: str) -> Attachment:
        """Return the metadata with a time-limited download ``url``."""
        return await self._run(ops.get_attachment(attachment_id))

    async def download(self, attachment_id: str) -> bytes:
        """Return the content, fetched from the signed URL (the API key is not sent there)."""
        meta = await self.get(attachment_id)
        return await self._run(ops.download_url(meta, self._client.base_url))

    async def delete(self, attachment_id: str) -> None:
        """Delete an attachment."""
        await self._run(ops.delete_attachment(attachment_id))


class AsyncDomains(_Resource):
    """``async_client.domains``: custom sending domains and their DNS records."""

    async def list(self) -> builtins.list[Domain]:
        """Return the account's domains."""
        return await self._run(ops.list_domains())

    async def create(self, domain: str) -> DomainWithRecords:
        """Add a domain; the answer lists the DNS records to publish."""
        return await self._run(ops.create_domain(domain))

    async def get(self, domain_id: str) -> DomainWithRecords:
        """Return a domain with its DNS records."""
        return await self._run(ops.get_domain(domain_id))

    async def delete(self, domain_id: str) -> None:
        """Delete a domain."""
        await self._run(ops.delete_domain(domain_id))

    async def verify(self, domain_id: str) -> DomainVerificationResult:
        """Check the DNS records now."""
        return await self._run(ops.verify_domain(domain_id))


class AsyncWebhooks(_Resource):
    """``async_client.webhooks``: endpoints that receive signed event POSTs."""

    async def list(self) -> builtins.list[Webhook]:
        """Return the account's webhooks (header values masked)."""
        return await self._run(ops.list_webhooks())

    async def create(
        self,
        url: str,
        *,
        events: Sequence[str],
        mailbox_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Webhook:
        """Register ``url`` for ``events``; the answer's ``.secret`` (shown once) verifies signatures."""
        return await self._run(ops.create_webhook(url, events=events, mailbox_id=mailbox_id, headers=headers))

    async def get(self, webhook_id: str) -> Webhook:
        """Return one webhook."""
        return await self._run(ops.get_webhook(webhook_id))

    async def update(
        self,
        webhook_id: str,
        *,
        url: str | NotGiven = NOT_GIVEN,
        events: Sequence[str] | NotGiven = NOT_GIVEN,
        status: str | NotGiven = NOT_GIVEN,
        headers: Mapping[str, str] | None | NotGiven = NOT_GIVEN,
    ) -> Webhook:
        """Change what is given (``status`` ``ACTIVE`` re-enables a FAILED webhook; ``headers=None`` clears)."""
        return await self._run(
            ops.update_webhook(webhook_id, url=url, events=events, status=status, headers=headers)
        )

    async def delete(self, webhook_id: str) -> None:
        """Delete a webhook."""
        await self._run(ops.delete_webhook(webhook_id))

    async def deliveries(self, webhook_id: str) -> builtins.list[WebhookDelivery]:
        """Return the 20 most recent deliveries."""
        return await self._run(ops.list_webhook_deliveries(webhook_id))


class AsyncEvents(_Resource):
    """``async_client.events``: the server-sent event stream."""

    def stream(
        self,
        *,
        mailbox_id: str | None = None,
        events: Sequence[str] | str | None = None,
        last_event_id: str | None = None,
        read_timeout: float | None = DEFAULT_STREAM_READ_TIMEOUT,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> AsyncEventStream:
        """Open the event stream (at-least-once: de-duplicate by ``StreamEvent.id``).

        Use as ``async with client.events.stream(...) as stream: async for event in stream: ...``
        (this method is not a coroutine: the connection opens on ``async with`` / first iteration).
        Resume after a disconnect with ``last_event_id=stream.last_event_id``.

        Args:
            mailbox_id: only this mailbox's events.
            events: only these event types.
            last_event_id: replay what came after this id.
            read_timeout: seconds of silence (no heartbeat) after which the stream fails
                with :class:`MailTimeoutError`.
            max_event_bytes: larger events are skipped (logged, counted in ``dropped``).
        """
        op = ops.stream_events(
            mailbox_id=mailbox_id, events=events, last_event_id=last_event_id, read_timeout=read_timeout
        )
        return AsyncEventStream(
            self._client, op, last_event_id=last_event_id, max_event_bytes=max_event_bytes
        )


class AsyncSuppressions(_Resource):
    """``async_client.suppressions``: addresses never sent to."""

    async def list(self) -> builtins.list[Suppression]:
        """Return the suppression list."""
        return await self._run(ops.list_suppressions())

    async def create(self, email: str, *, reason: str | None = None) -> Suppression:
        """Suppress an address (``reason`` BOUNCE, COMPLAINT or MANUAL; 409 if present)."""
        return await self._run(ops.create_suppression(email, reason=reason))

    async def delete(self, suppression_id: str) -> None:
        """Remove an address from the list."""
        await self._run(ops.delete_suppression(suppression_id))
