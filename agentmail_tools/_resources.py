"""Every API operation as a validated :class:`~agentmail_tools._base.Operation`, with no I/O.

The sync and async resource namespaces (``_client.py``) are thin wrappers over these
builders, so validation, wire shape (percent-encoded path segments, camelCase bodies) and
response parsing exist once. Bad input raises :class:`InvalidRequestError` here, before
anything is sent.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
from pydantic import BaseModel

from ._base import Operation, is_loopback_host
from ._errors import InvalidRequestError, MailError
from ._models import (
    Account,
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
from ._types import NOT_GIVEN, NotGiven
from ._validation import (
    address_list,
    check_header_name,
    check_id,
    check_no_crlf,
    encode_segment,
    normalize_address,
)

__all__ = ["FileInput", "MAX_ATTACHMENT_BYTES", "MAX_ATTACHMENTS_PER_MESSAGE", "MAX_PAGE_SIZE"]

M = TypeVar("M", bound=BaseModel)

FileInput = bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes]
MAX_PAGE_SIZE = 100
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
MAX_ATTACHMENTS_PER_MESSAGE = 10
MAX_SUBJECT = 998
_MAILBOX_ADDRESS_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


# --------------------------------------------------------------------------- parsing helpers


def _one(key: str, model: type[M]) -> Callable[[Any], M]:
    def parse(body: Any) -> M:
        return model.model_validate(body[key])

    return parse


def _many(key: str, model: type[M]) -> Callable[[Any], list[M]]:
    def parse(body: Any) -> list[M]:
        return [model.model_validate(item) for item in body[key]]

    return parse


def _whole(model: type[M]) -> Callable[[Any], M]:
    return model.model_validate


def _none(body: Any) -> None:
    return None


# --------------------------------------------------------------------------- argument checks


def _seg(value: object, what: str) -> str:
    return encode_segment(check_id(value, what), what)  # check_id first: it accepts any object


def _text(
    value: object, what: str, *, max_len: int | None = None, header: bool = False, empty: bool = False
) -> str:
    if not isinstance(value, str):
        msg = f"{what} must be a string, got {type(value).__name__}"
        raise InvalidRequestError(msg)
    if header:
        check_no_crlf(value, what)
    if not empty and not value.strip():
        msg = f"{what} must not be empty"
        raise InvalidRequestError(msg)
    if max_len is not None and len(value) > max_len:
        msg = f"{what} is {len(value)} characters; at most {max_len} are allowed"
        raise InvalidRequestError(msg)
    return value


def _int(value: object, what: str, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        bounds = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
        msg = f"{what} must be an integer {bounds}, got {value!r}"
        raise InvalidRequestError(msg)
    return value


def _since(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        # A naive datetime is taken as UTC: the API stores and compares UTC.
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return _text(value, "since", header=True)


def _direction(value: str | None) -> str | None:
    if value is None:
        return None
    direction = _text(value, "direction", header=True).strip().upper()
    if direction not in ("INBOUND", "OUTBOUND"):
        msg = f"direction must be 'INBOUND' or 'OUTBOUND', got {value!r}"
        raise InvalidRequestError(msg)
    return direction


def _headers(headers: Mapping[str, str] | None, what: str = "headers") -> dict[str, str] | None:
    if headers is None:
        return None
    if not isinstance(headers, Mapping):
        msg = f"{what} must be a mapping of header name to value"
        raise InvalidRequestError(msg)
    out: dict[str, str] = {}
    for name, value in headers.items():
        check_header_name(name)
        out[name] = check_no_crlf(_text(value, f"{what}[{name!r}]", empty=True), f"{what}[{name!r}]")
    return out


def _id_list(values: Iterable[object], what: str, max_count: int | None = None) -> list[str]:
    if isinstance(values, (str, bytes)):
        values = [values]
    ids: list[str] = []
    for item in values:
        ident = getattr(item, "id", item)  # an Attachment/AttachmentUpload/Mailbox works as its id
        ids.append(check_id(ident, f"{what} item"))
    if max_count is not None and len(ids) > max_count:
        msg = f"{what} has {len(ids)} items; at most {max_count} are allowed"
        raise InvalidRequestError(msg)
    return ids


def _http_url(value: object, what: str) -> str:
    url_text = _text(value, what, header=True).strip()
    try:
        url = httpx.URL(url_text)
    except httpx.InvalidURL as err:
        msg = f"{what} {url_text!r} is not a valid URL"
        raise InvalidRequestError(msg) from err
    if url.scheme not in ("http", "https") or not url.host:
        msg = f"{what} must be an absolute http(s) URL, got {url_text!r}"
        raise InvalidRequestError(msg)
    return url_text


# --------------------------------------------------------------------------- account and keys


def get_account() -> Operation[Account]:
    return Operation("GET", "/account", _one("account", Account))


def list_api_keys() -> Operation[list[ApiKey]]:
    return Operation("GET", "/api-keys", _many("keys", ApiKey))


def create_api_key(
    *, name: str | None = None, mailbox_ids: Sequence[str] | None = None
) -> Operation[CreatedApiKey]:
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = _text(name, "name", max_len=255)
    if mailbox_ids is not None:
        body["mailboxIds"] = _id_list(mailbox_ids, "mailbox_ids")
    return Operation("POST", "/api-keys", _whole(CreatedApiKey), json=body)


def delete_api_key(key_id: str) -> Operation[None]:
    return Operation("DELETE", f"/api-keys/{_seg(key_id, 'key_id')}", _none)


# --------------------------------------------------------------------------- mailboxes


def list_mailboxes() -> Operation[list[Mailbox]]:
    return Operation("GET", "/mailboxes", _many("mailboxes", Mailbox))


def create_mailbox(
    address: str, *, domain_id: str | None = None, display_name: str | None = None
) -> Operation[Mailbox]:
    local = _text(address, "address", max_len=64).strip()
    if not set(local) <= _MAILBOX_ADDRESS_CHARS:
        msg = (
            f"address {address!r} must be the local part only (letters, digits, '.', '_' or '-'), "
            "e.g. 'support'; pass domain_id for a custom domain"
        )
        raise InvalidRequestError(msg)
    body: dict[str, Any] = {"address": local}
    if domain_id is not None:
        body["domainId"] = check_id(domain_id, "domain_id")
    if display_name is not None:
        body["displayName"] = _text(display_name, "display_name", max_len=255, header=True)
    return Operation("POST", "/mailboxes", _one("mailbox", Mailbox), json=body)


def get_mailbox(mailbox_id: str) -> Operation[Mailbox]:
    return Operation("GET", f"/mailboxes/{_seg(mailbox_id, 'mailbox_id')}", _one("mailbox", Mailbox))


def update_mailbox(
    mailbox_id: str,
    *,
    display_name: str | None | NotGiven = NOT_GIVEN,
    status: str | NotGiven = NOT_GIVEN,
) -> Operation[Mailbox]:
    path = f"/mailboxes/{_seg(mailbox_id, 'mailbox_id')}"
    body: dict[str, Any] = {}
    if not isinstance(display_name, NotGiven):
        # The contract types displayName as a string (not nullable): "" is how it is cleared.
        body["displayName"] = (
            "" if display_name is None else _text(display_name, "display_name", max_len=255, header=True)
        )
    if not isinstance(status, NotGiven):
        body["status"] = _text(status, "status", header=True).strip().upper()
    return Operation("PATCH", path, _one("mailbox", Mailbox), json=body)


def delete_mailbox(mailbox_id: str) -> Operation[None]:
    return Operation("DELETE", f"/mailboxes/{_seg(mailbox_id, 'mailbox_id')}", _none)


# --------------------------------------------------------------------------- messages


def send_message(
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
) -> Operation[Message]:
    path = f"/mailboxes/{_seg(mailbox_id, 'mailbox_id')}/messages"
    recipients = address_list(to, "to")
    if not recipients:
        msg = "to must name at least one recipient"
        raise InvalidRequestError(msg)
    body: dict[str, Any] = {
        "to": recipients,
        "subject": _text(subject, "subject", max_len=MAX_SUBJECT, header=True),
        "bodyText": _text(body_text, "body_text"),
    }
    if cc is not None:
        body["cc"] = address_list(cc, "cc")
    if bcc is not None:
        body["bcc"] = address_list(bcc, "bcc")
    if body_html is not None:
        body["bodyHtml"] = _text(body_html, "body_html", empty=True)
    if in_reply_to is not None:
        body["inReplyTo"] = _text(in_reply_to, "in_reply_to", max_len=MAX_SUBJECT, header=True)
    if attachments is not None:
        body["attachments"] = _id_list(attachments, "attachments", MAX_ATTACHMENTS_PER_MESSAGE)
    checked_headers = _headers(headers)
    if checked_headers:
        body["headers"] = checked_headers
    return Operation("POST", path, _one("message", Message), json=body)


def list_messages(
    mailbox_id: str,
    *,
    direction: str | None = None,
    thread_id: str | None = None,
    since: datetime | str | None = None,
    limit: int | None = None,
    offset: int | None = None,
) -> Operation[MessagePage]:
    path = f"/mailboxes/{_seg(mailbox_id, 'mailbox_id')}/messages"
    params: dict[str, Any] = {
        "direction": _direction(direction),
        "threadId": None if thread_id is None else check_id(thread_id, "thread_id"),
        "since": _since(since),
        "limit": None if limit is None else _int(limit, "limit", 1, MAX_PAGE_SIZE),
        "offset": None if offset is None else _int(offset, "offset", 0),
    }
    return Operation("GET", path, _whole(MessagePage), params=params)


def get_message(mailbox_id: str, message_id: str) -> Operation[Message]:
    path = f"/mailboxes/{_seg(mailbox_id, 'mailbox_id')}/messages/{_seg(message_id, 'message_id')}"
    return Operation("GET", path, _one("message", Message))


def search_messages(
    mailbox_id: str, query: str, *, limit: int = 20, offset: int = 0
) -> Operation[SearchResults]:
    path = f"/mailboxes/{_seg(mailbox_id, 'mailbox_id')}/search"
    params = {
        "q": _text(query, "query", max_len=1000),
        "limit": _int(limit, "limit", 1, MAX_PAGE_SIZE),
        "offset": _int(offset, "offset", 0),
    }
    return Operation("GET", path, _whole(SearchResults), params=params)


# --------------------------------------------------------------------------- threads


def list_threads(mailbox_id: str) -> Operation[list[Thread]]:
    return Operation("GET", f"/mailboxes/{_seg(mailbox_id, 'mailbox_id')}/threads", _many("threads", Thread))


def get_thread(mailbox_id: str, thread_id: str) -> Operation[ThreadDetail]:
    path = f"/mailboxes/{_seg(mailbox_id, 'mailbox_id')}/threads/{_seg(thread_id, 'thread_id')}"
    return Operation("GET", path, _one("thread", ThreadDetail))


# --------------------------------------------------------------------------- attachments


def _read_file(file: FileInput, filename: str | None) -> tuple[bytes, str]:
    if isinstance(file, (bytes, bytearray, memoryview)):
        return bytes(file), filename or "attachment.bin"
    if isinstance(file, (str, os.PathLike)):
        path = Path(file)
        if not path.is_file():
            msg = f"no such file: {str(path)!r} (pass bytes to upload content)"
            raise InvalidRequestError(msg)
        if path.stat().st_size > MAX_ATTACHMENT_BYTES:
            msg = f"{path.name} is {path.stat().st_size} bytes; attachments are limited to {MAX_ATTACHMENT_BYTES}"
            raise InvalidRequestError(msg)
        return path.read_bytes(), filename or path.name
    read = getattr(file, "read", None)
    if read is None:
        msg = f"file must be bytes, a path or a binary file object, got {type(file).__name__}"
        raise InvalidRequestError(msg)
    data = read(MAX_ATTACHMENT_BYTES + 1)
    if not isinstance(data, (bytes, bytearray)):
        msg = "file must be opened in binary mode ('rb')"
        raise InvalidRequestError(msg)
    name = getattr(file, "name", None)
    default = os.path.basename(name) if isinstance(name, str) and name else "attachment.bin"
    return bytes(data), filename or default


def upload_attachment(
    file: FileInput, *, filename: str | None = None, content_type: str | None = None
) -> Operation[AttachmentUpload]:
    data, name = _read_file(file, filename)
    name = _text(name, "filename", max_len=255, header=True)
    if '"' in name or "\\" in name:
        msg = f"filename {name!r} must not contain quotes or backslashes"
        raise InvalidRequestError(msg)
    if len(data) > MAX_ATTACHMENT_BYTES:
        msg = f"{name} is over {MAX_ATTACHMENT_BYTES} bytes; attachments are limited to 25 MB"
        raise InvalidRequestError(msg)
    ctype = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    ctype = _text(ctype, "content_type", max_len=255, header=True)
    return Operation("POST", "/attachments", _whole(AttachmentUpload), files={"file": (name, data, ctype)})


def get_attachment(attachment_id: str) -> Operation[Attachment]:
    return Operation("GET", f"/attachments/{_seg(attachment_id, 'attachment_id')}", _whole(Attachment))


def download_url(attachment: Attachment, base_url: str) -> Operation[bytes]:
    """The unauthenticated GET of an attachment's signed URL (resolved against ``base_url``)."""
    if not attachment.url:
        msg = f"attachment {attachment.id} has no download url"
        raise MailError(msg)
    url = httpx.URL(base_url + "/").join(attachment.url)
    if url.scheme != "https" and not (url.scheme == "http" and is_loopback_host(url.host)):
        msg = f"refusing to download attachment {attachment.id} from a non-https URL: {url}"
        raise MailError(msg)
    return Operation(
        "GET",
        url.raw_path.decode("ascii").split("?")[0],
        bytes,
        raw=True,
        absolute_url=str(url),
        authenticated=False,  # the URL is signed; the API key must not leave for another host
        headers={"Accept": "*/*"},
    )


def delete_attachment(attachment_id: str) -> Operation[None]:
    return Operation("DELETE", f"/attachments/{_seg(attachment_id, 'attachment_id')}", _none)


# --------------------------------------------------------------------------- domains


def list_domains() -> Operation[list[Domain]]:
    return Operation("GET", "/domains", _many("domains", Domain))


def create_domain(domain: str) -> Operation[DomainWithRecords]:
    name = _text(domain, "domain", max_len=253, header=True).strip().lower().rstrip(".")
    if "/" in name or " " in name or "@" in name or "." not in name:
        msg = f"domain must be a bare domain name like 'mail.example.com', got {domain!r}"
        raise InvalidRequestError(msg)
    return Operation("POST", "/domains", _whole(DomainWithRecords), json={"domain": name})


def get_domain(domain_id: str) -> Operation[DomainWithRecords]:
    return Operation("GET", f"/domains/{_seg(domain_id, 'domain_id')}", _whole(DomainWithRecords))


def delete_domain(domain_id: str) -> Operation[None]:
    return Operation("DELETE", f"/domains/{_seg(domain_id, 'domain_id')}", _none)


def verify_domain(domain_id: str) -> Operation[DomainVerificationResult]:
    return Operation(
        "POST", f"/domains/{_seg(domain_id, 'domain_id')}/verify", _whole(DomainVerificationResult)
    )


# --------------------------------------------------------------------------- webhooks


def _events(events: Sequence[str] | str, what: str = "events") -> list[str]:
    items = [events] if isinstance(events, str) else list(events)
    out = [_text(e, f"{what} item", max_len=100, header=True).strip() for e in items]
    if any("," in e for e in out):
        msg = f"{what} items must not contain commas"
        raise InvalidRequestError(msg)
    return out


def list_webhooks() -> Operation[list[Webhook]]:
    return Operation("GET", "/webhooks", _many("webhooks", Webhook))


def create_webhook(
    url: str,
    *,
    events: Sequence[str],
    mailbox_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Operation[Webhook]:
    body: dict[str, Any] = {"url": _http_url(url, "url"), "events": _events(events)}
    if not body["events"]:
        msg = "events must name at least one event, e.g. ['message.received']"
        raise InvalidRequestError(msg)
    if mailbox_id is not None:
        body["mailboxId"] = check_id(mailbox_id, "mailbox_id")
    if headers is not None:
        body["headers"] = _headers(headers)
    return Operation("POST", "/webhooks", _one("webhook", Webhook), json=body)


def get_webhook(webhook_id: str) -> Operation[Webhook]:
    return Operation("GET", f"/webhooks/{_seg(webhook_id, 'webhook_id')}", _one("webhook", Webhook))


def update_webhook(
    webhook_id: str,
    *,
    url: str | NotGiven = NOT_GIVEN,
    events: Sequence[str] | NotGiven = NOT_GIVEN,
    status: str | NotGiven = NOT_GIVEN,
    headers: Mapping[str, str] | None | NotGiven = NOT_GIVEN,
) -> Operation[Webhook]:
    path = f"/webhooks/{_seg(webhook_id, 'webhook_id')}"
    body: dict[str, Any] = {}
    if not isinstance(url, NotGiven):
        body["url"] = _http_url(url, "url")
    if not isinstance(events, NotGiven):
        body["events"] = _events(events)
        if not body["events"]:
            msg = "events must name at least one event"
            raise InvalidRequestError(msg)
    if not isinstance(status, NotGiven):
        body["status"] = _text(status, "status", header=True).strip().upper()
    if not isinstance(headers, NotGiven):
        body["headers"] = _headers(headers)
    return Operation("PATCH", path, _one("webhook", Webhook), json=body)


def delete_webhook(webhook_id: str) -> Operation[None]:
    return Operation("DELETE", f"/webhooks/{_seg(webhook_id, 'webhook_id')}", _none)


def list_webhook_deliveries(webhook_id: str) -> Operation[list[WebhookDelivery]]:
    path = f"/webhooks/{_seg(webhook_id, 'webhook_id')}/deliveries"
    return Operation("GET", path, _many("deliveries", WebhookDelivery))


# --------------------------------------------------------------------------- events


def stream_events(
    *,
    mailbox_id: str | None = None,
    events: Sequence[str] | str | None = None,
    last_event_id: str | None = None,
    read_timeout: float | None = None,
) -> Operation[None]:
    params: dict[str, Any] = {
        "mailboxId": None if mailbox_id is None else check_id(mailbox_id, "mailbox_id"),
        "events": None if events is None else ",".join(_events(events)) or None,
    }
    # identity: a compressed stream can sit in a proxy's or decoder's buffer instead of arriving frame by frame.
    headers = {"Accept": "text/event-stream", "Cache-Control": "no-store", "Accept-Encoding": "identity"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = _text(last_event_id, "last_event_id", max_len=1000, header=True)
    op: Operation[None] = Operation("GET", "/events", _none, params=params, headers=headers)
    if read_timeout is not None:
        if isinstance(read_timeout, bool) or not isinstance(read_timeout, (int, float)) or read_timeout <= 0:
            msg = f"read_timeout must be a positive number of seconds, got {read_timeout!r}"
            raise InvalidRequestError(msg)
        # Heartbeats arrive every 30 s: a silent connection past this is dead.
        op.timeout = httpx.Timeout(30.0, read=float(read_timeout))
    return op


# --------------------------------------------------------------------------- suppressions


def list_suppressions() -> Operation[list[Suppression]]:
    return Operation("GET", "/suppressions", _many("suppressions", Suppression))


def create_suppression(email: str, *, reason: str | None = None) -> Operation[Suppression]:
    body: dict[str, Any] = {"email": normalize_address(email, "email").lower()}
    if reason is not None:
        body["reason"] = _text(reason, "reason", header=True).strip().upper()
    return Operation("POST", "/suppressions", _one("suppression", Suppression), json=body)


def delete_suppression(suppression_id: str) -> Operation[None]:
    return Operation("DELETE", f"/suppressions/{_seg(suppression_id, 'suppression_id')}", _none)
