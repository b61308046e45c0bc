"""Input checks shared by the client, the send guards and the sandbox.

Everything here raises :class:`~agentmail_tools._errors.InvalidRequestError` with a
message that says what was wrong and what is allowed, before any byte is sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.utils import parseaddr
from urllib.parse import quote

from ._errors import InvalidRequestError

__all__ = [
    "MAX_RECIPIENTS",
    "address_list",
    "check_header_name",
    "check_id",
    "check_no_crlf",
    "encode_segment",
    "normalize_address",
    "split_address",
]

MAX_RECIPIENTS = 50

# Deliberately practical rather than full RFC 5321: what real mail systems accept.
_LOCAL_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN_RE = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")
_LOOPBACK_DOMAINS = frozenset({"localhost"})
_HEADER_NAME_RE = re.compile(r"[!-9;-~]+")  # printable ASCII except ':' (RFC 5322 ftext)


def check_id(value: object, what: str = "id") -> str:
    """Return ``value`` if it is usable as one path segment, else raise.

    Empty strings, ``.`` and ``..`` would change the URL path, and control characters
    never appear in Robotomail ids, so all are refused before anything is sent.
    """
    if not isinstance(value, str):
        msg = f"{what} must be a string, got {type(value).__name__}"
        raise InvalidRequestError(msg)
    if value.strip() in ("", ".", ".."):
        msg = f"{what} must be a non-empty id, not {value!r}"
        raise InvalidRequestError(msg)
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        msg = f"{what} contains control characters: {value!r}"
        raise InvalidRequestError(msg)
    return value


def encode_segment(value: str, what: str = "id") -> str:
    """Validate ``value`` with :func:`check_id` and percent-encode it as a path segment."""
    return quote(check_id(value, what), safe="")


def check_no_crlf(value: str, what: str) -> str:
    """Refuse CR, LF and NUL in anything that ends up in a mail header."""
    if any(c in value for c in "\r\n\x00"):
        msg = f"{what} must not contain CR, LF or NUL characters (header injection)"
        raise InvalidRequestError(msg)
    return value


def check_header_name(name: str) -> str:
    """Refuse header names that are not RFC 5322 field names."""
    if not isinstance(name, str) or _HEADER_NAME_RE.fullmatch(name) is None:
        msg = f"invalid header name {name!r}: printable ASCII without ':' or spaces"
        raise InvalidRequestError(msg)
    return name


def split_address(address: str) -> tuple[str, str]:
    """Return ``(local, domain)`` of a normalised address."""
    local, _, domain = normalize_address(address).rpartition("@")
    return local, domain


def normalize_address(address: object, what: str = "address") -> str:
    """Validate one email address and return it trimmed, with its domain lowercased.

    ``"Ann <ann@Example.com>"`` is accepted and reduced to ``ann@example.com``.
    """
    if not isinstance(address, str):
        msg = f"{what} must be a string, got {type(address).__name__}"
        raise InvalidRequestError(msg)
    check_no_crlf(address, what)
    raw = address.strip()
    if "<" in raw:
        raw = parseaddr(raw)[1]
    local, at, domain = raw.rpartition("@")
    if (
        not at
        or len(raw) > 254
        or len(local) > 64
        or _LOCAL_RE.fullmatch(local) is None
        or (_DOMAIN_RE.fullmatch(domain) is None and domain.lower() not in _LOOPBACK_DOMAINS)
    ):
        msg = f"{what} {address!r} is not a valid email address (expected local@domain.tld)"
        raise InvalidRequestError(msg)
    return f"{local}@{domain.lower()}"


def address_list(value: str | Iterable[str] | None, what: str, max_count: int = MAX_RECIPIENTS) -> list[str]:
    """Normalise one address or a list of them; refuse more than ``max_count``."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    if len(items) > max_count:
        msg = f"{what} has {len(items)} addresses; at most {max_count} are allowed per field"
        raise InvalidRequestError(msg)
    return [normalize_address(item, f"{what} address") for item in items]
