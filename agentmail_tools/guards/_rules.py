"""The guard rules as pure functions: no I/O, no clock, no client.

:class:`~agentmail_tools.guards.MailGuard` gathers the facts (policy, thread
participants, suppression list, own addresses, headers of an inbound message) and
these functions decide. Keeping them pure makes each rule testable from a table.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import InvalidRequestError
from .._validation import check_id, normalize_address
from ._errors import (
    HeaderInjection,
    MessageTooLarge,
    NewConversationNotAllowed,
    RecipientNotAllowed,
    SuppressedRecipient,
)
from ._policy import AUTO_SUBMITTED_HEADER, IDEMPOTENCY_HEADER, GuardPolicy

__all__ = [
    "AUTO_REPLY_VALUE",
    "PreparedSend",
    "check_recipients",
    "check_suppressed",
    "idempotency_key",
    "prepare_send",
    "reply_subject",
]

AUTO_REPLY_VALUE = "auto-replied"
_KEY_RE = re.compile(r"[A-Za-z0-9._:-]{1,200}")
_ACTION_SLUG_RE = re.compile(r"[^a-z0-9]+")
_CRLF = ("\r", "\n", "\x00")


def idempotency_key(event_id: str, action: str) -> str:
    """Return the idempotency key for doing ``action`` in answer to ``event_id``.

    The same pair always gives the same key (in every process and version of this
    library), and the key is safe in a mail header: ASCII letters, digits and ``-``.
    It starts with a short readable slug of the action so logs stay legible.

    Args:
        event_id: The inbound event's id (webhook delivery, SSE event or message id).
        action: What is being done, e.g. ``"reply"`` or ``"escalate:billing"``.

    Example:
        >>> idempotency_key("evt_1", "reply")
        'reply-27bf873457e1d408696cf6ab2c9b404bac19a531'
    """
    for value, what in ((event_id, "event_id"), (action, "action")):
        if not isinstance(value, str) or not value.strip():
            msg = f"{what} must be a non-empty string, got {value!r}"
            raise InvalidRequestError(msg)
    # Length-prefixing keeps ("a:b", "c") and ("a", "b:c") apart.
    material = f"amt-idem-v1\x1f{len(event_id)}:{event_id}\x1f{len(action)}:{action}".encode()
    digest = hashlib.sha256(material).hexdigest()[:40]
    slug = _ACTION_SLUG_RE.sub("-", unicodedata.normalize("NFKD", action).lower()).strip("-")[:24] or "act"
    return f"{slug}-{digest}"


def _refuse_crlf(value: str, what: str) -> None:
    if any(c in value for c in _CRLF):
        msg = f"{what} contains CR, LF or NUL, which could inject mail headers; send it on one line without control characters."
        raise HeaderInjection(msg, details={"field": what})


def _addresses(value: str | Iterable[str] | None, what: str) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, str):
            msg = f"{what} addresses must be strings, got {type(item).__name__}"
            raise InvalidRequestError(msg)
        _refuse_crlf(item, f"{what} address")
        address = normalize_address(item, f"{what} address")
        if address.lower() not in seen:
            seen.add(address.lower())
            out.append(address)
    return out


@dataclass(frozen=True)
class PreparedSend:
    """A send that passed the stateless checks, normalised and with the guard headers added."""

    mailbox_id: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    subject: str
    body_text: str
    body_html: str | None
    in_reply_to: str | None
    headers: dict[str, str]
    attachments: list[str]
    thread_id: str | None
    key: str
    key_given: bool = False

    @property
    def recipients(self) -> list[str]:
        """Every recipient (To, Cc, Bcc), normalised, in order."""
        return [*self.to, *self.cc, *self.bcc]

    @property
    def is_new_conversation(self) -> bool:
        """True when the send is neither in a known thread nor a reply to a message."""
        return self.thread_id is None and self.in_reply_to is None

    def fingerprint(self) -> str:
        """A hash of what would be sent (to spot a key re-used for different content)."""
        h = hashlib.sha256()
        for part in (
            self.mailbox_id,
            *self.recipients,
            "|",
            self.subject,
            self.body_text,
            self.body_html or "",
        ):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\x1f")
        return h.hexdigest()[:32]

    def send_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``client.messages.send`` (after the mailbox id)."""
        return {
            "to": self.to,
            "subject": self.subject,
            "body_text": self.body_text,
            "cc": self.cc or None,
            "bcc": self.bcc or None,
            "body_html": self.body_html,
            "in_reply_to": self.in_reply_to,
            "attachments": self.attachments or None,
            "headers": self.headers,
        }


def prepare_send(
    policy: GuardPolicy,
    mailbox_id: str,
    *,
    to: str | Iterable[str],
    subject: str,
    body_text: str,
    cc: str | Iterable[str] | None = None,
    bcc: str | Iterable[str] | None = None,
    body_html: str | None = None,
    in_reply_to: str | None = None,
    headers: Mapping[str, str] | None = None,
    attachments: Iterable[str] | None = None,
    thread_id: str | None = None,
    idempotency_key: str | None = None,
    default_key: str,
) -> PreparedSend:
    """Run the stateless rules (header injection, sizes, address syntax) on one send.

    Raises:
        HeaderInjection: CR/LF/NUL in a header-bound value, or a header name that is not allowed.
        MessageTooLarge: a size limit of the policy is exceeded.
        InvalidRequestError: a malformed argument (bad address, empty recipients, wrong type).
    """
    check_id(mailbox_id, "mailbox_id")
    if thread_id is not None:
        check_id(thread_id, "thread_id")

    if idempotency_key is not None:
        if not isinstance(idempotency_key, str):
            msg = f"idempotency_key must be a string, got {type(idempotency_key).__name__}"
            raise InvalidRequestError(msg)
        _refuse_crlf(idempotency_key, "idempotency_key")
        if _KEY_RE.fullmatch(idempotency_key) is None:
            msg = "idempotency_key must be 1-200 characters of A-Z a-z 0-9 . _ : - (use idempotency_key(event_id, action))"
            raise InvalidRequestError(msg)

    if not isinstance(subject, str):
        msg = f"subject must be a string, got {type(subject).__name__}"
        raise InvalidRequestError(msg)
    _refuse_crlf(subject, "subject")
    if len(subject) > policy.max_subject_chars:
        msg = (
            f"The subject has {len(subject)} characters; the limit is {policy.max_subject_chars}. Shorten it."
        )
        raise MessageTooLarge(msg, details={"field": "subject", "limit": policy.max_subject_chars})

    if in_reply_to is not None:
        if not isinstance(in_reply_to, str):
            msg = f"in_reply_to must be a string, got {type(in_reply_to).__name__}"
            raise InvalidRequestError(msg)
        _refuse_crlf(in_reply_to, "in_reply_to")
        if len(in_reply_to) > 998:
            msg = "in_reply_to is longer than 998 characters; pass the original message's Message-ID."
            raise MessageTooLarge(msg, details={"field": "in_reply_to", "limit": 998})

    to_list = _addresses(to, "to")
    cc_list = _addresses(cc, "cc")
    bcc_list = _addresses(bcc, "bcc")
    if not to_list:
        msg = "to must name at least one recipient"
        raise InvalidRequestError(msg)
    total = len(to_list) + len(cc_list) + len(bcc_list)
    if total > policy.max_recipients:
        msg = f"The message has {total} recipients; the policy allows {policy.max_recipients}. Send to fewer people."
        raise MessageTooLarge(msg, details={"field": "recipients", "limit": policy.max_recipients})

    if not isinstance(body_text, str) or (body_html is not None and not isinstance(body_html, str)):
        msg = "body_text (and body_html when given) must be strings"
        raise InvalidRequestError(msg)
    size = len(body_text.encode("utf-8", "surrogatepass")) + len(
        (body_html or "").encode("utf-8", "surrogatepass")
    )
    if size > policy.max_body_bytes:
        msg = f"The body is {size} bytes; the policy allows {policy.max_body_bytes}. Shorten it or attach a file."
        raise MessageTooLarge(msg, details={"field": "body", "size": size, "limit": policy.max_body_bytes})

    attachment_ids = [check_id(a, "attachment id") for a in (attachments or ())]
    if len(attachment_ids) > policy.max_attachments:
        msg = f"The message has {len(attachment_ids)} attachments; the limit is {policy.max_attachments}."
        raise MessageTooLarge(msg, details={"field": "attachments", "limit": policy.max_attachments})

    out_headers = _check_headers(policy, headers)
    key = idempotency_key or default_key
    out_headers[AUTO_SUBMITTED_HEADER] = AUTO_REPLY_VALUE
    out_headers[IDEMPOTENCY_HEADER] = key
    return PreparedSend(
        mailbox_id=mailbox_id,
        to=to_list,
        cc=cc_list,
        bcc=bcc_list,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        in_reply_to=in_reply_to,
        headers=out_headers,
        attachments=attachment_ids,
        thread_id=thread_id,
        key=key,
        key_given=idempotency_key is not None,
    )


_NAME_RE = re.compile(r"[!-9;-~]+")
_RESERVED = frozenset({AUTO_SUBMITTED_HEADER.lower(), IDEMPOTENCY_HEADER.lower()})


def _check_headers(policy: GuardPolicy, headers: Mapping[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if not headers:
        return out
    if not isinstance(headers, Mapping):
        msg = "headers must be a mapping of header name to value"
        raise InvalidRequestError(msg)
    if len(headers) > policy.max_headers:
        msg = f"{len(headers)} custom headers given; the policy allows {policy.max_headers}."
        raise MessageTooLarge(msg, details={"field": "headers", "limit": policy.max_headers})
    seen: set[str] = set()
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            msg = "header names and values must be strings"
            raise InvalidRequestError(msg)
        _refuse_crlf(name, "a header name")
        lower = name.lower()
        if _NAME_RE.fullmatch(name) is None:
            msg = f"Header name {name!r} is not a valid field name (printable ASCII, no spaces or ':'); remove it."
            raise HeaderInjection(msg, details={"field": "headers", "header": name})
        if lower in _RESERVED:
            msg = (
                f"Header {name} is set by the send guards and cannot be given; pass idempotency_key= instead."
            )
            raise HeaderInjection(msg, details={"field": "headers", "header": name})
        if not lower.startswith(policy.allowed_header_prefixes):
            allowed = " or ".join(p.title() + "*" for p in policy.allowed_header_prefixes)
            msg = f"Header {name} is not allowed: only {allowed} custom headers may be set."
            raise HeaderInjection(msg, details={"field": "headers", "header": name})
        if lower in seen:
            msg = f"Header {name} is given twice (names are case-insensitive); give it once."
            raise HeaderInjection(msg, details={"field": "headers", "header": name})
        seen.add(lower)
        _refuse_crlf(value, f"header {name}")
        if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
            msg = f"Header {name} contains control characters; use printable text only."
            raise HeaderInjection(msg, details={"field": "headers", "header": name})
        if len(value) > policy.max_header_value_chars:
            msg = f"Header {name} is {len(value)} characters; the limit is {policy.max_header_value_chars}."
            raise MessageTooLarge(msg, details={"field": "headers", "header": name})
        out[name] = value
    return out


def check_suppressed(recipients: Iterable[str], suppressed: frozenset[str] | set[str]) -> None:
    """Refuse if any recipient is suppressed (addresses compared case-insensitively)."""
    hits = [r for r in recipients if r.lower() in suppressed]
    if hits:
        names = ", ".join(hits)
        msg = (
            f"{names} {'is' if len(hits) == 1 else 'are'} on the suppression list (bounced, complained or "
            "opted out); do not write to them. Remove the recipient or ask a person to lift the suppression."
        )
        raise SuppressedRecipient(msg, details={"recipients": hits})


def check_recipients(
    policy: GuardPolicy,
    send: PreparedSend,
    participants: frozenset[str] | None,
) -> None:
    """Apply the recipient policy.

    Args:
        policy: The guard policy.
        send: The prepared send.
        participants: Lowercased addresses already in the thread, or ``None`` when the
            thread is unknown (then only the allow-lists can admit a recipient).
    """
    if send.is_new_conversation:
        if not policy.allow_new_conversations:
            msg = (
                "Starting a new conversation is not allowed for this agent; reply within an existing "
                "thread instead (pass thread_id or in_reply_to), or ask a person to send it."
            )
            raise NewConversationNotAllowed(msg, details={"recipients": send.recipients})
        if not policy.allowed_addresses and not policy.allowed_domains:
            return
    allowed_people = participants if (participants and policy.reply_to_participants) else frozenset()
    outside = [
        r for r in send.recipients if r.lower() not in allowed_people and not policy.address_allowed(r)
    ]
    if outside:
        names = ", ".join(outside)
        if send.is_new_conversation:
            where = "not on the allow-list for new conversations"
        elif participants is None:
            where = (
                "not on the allow-list (and the thread is unknown: pass thread_id to allow its participants)"
            )
        else:
            where = "not in this thread and not on the allow-list"
        msg = f"{names} {'is' if len(outside) == 1 else 'are'} {where}; remove them or write only to the thread's participants."
        raise RecipientNotAllowed(msg, details={"recipients": outside})


_RE_PREFIX = re.compile(r"^\s*re\s*:", re.IGNORECASE)


def reply_subject(subject: str | None) -> str:
    """``"Re: <subject>"`` unless it already starts with Re:; CR/LF folded to spaces.

    The original subject comes from a stranger's mail, so line breaks are folded rather
    than refused: refusing would let any sender make the agent unable to answer.
    """
    text = re.sub(r"[\r\n\x00]+", " ", subject or "").strip()
    if _RE_PREFIX.match(text):
        return text
    return f"Re: {text}" if text else "Re:"
