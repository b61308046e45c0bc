"""MIME in and out with the standard library ``email`` package.

``parse_message`` turns whatever arrived over SMTP into a :class:`ParsedMessage` and never
raises: real inbound mail carries undeclared or wrong charsets, HTML-only bodies, broken
base64, headers without a colon and missing dates, and a mail server that crashes on them
loses mail. Each problem is recorded in ``ParsedMessage.defects`` instead, and every part
that can be read is kept.

``build_message`` produces RFC 5322 bytes (CRLF line ends, RFC 2047 encoded headers,
``multipart/alternative`` when there is HTML, inline images in ``multipart/related``,
attachments in ``multipart/mixed``) for the sandbox's outbox and its SMTP relay.
"""

from __future__ import annotations

import codecs
import html
import logging
import mimetypes
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.header import Header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import EmailPolicy
from email.utils import format_datetime, formataddr, getaddresses, parsedate_to_datetime
from typing import Any

from ._errors import InvalidRequestError
from ._validation import check_header_name, check_no_crlf, normalize_address

__all__ = [
    "MAX_ATTACHMENTS",
    "MAX_ATTACHMENT_BYTES",
    "ParsedAttachment",
    "ParsedMessage",
    "build_message",
    "html_to_text",
    "make_message_id",
    "normalize_subject",
    "parse_message",
]

logger = logging.getLogger("agentmail_tools")

MAX_ATTACHMENTS = 20
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024

# html2text converts ~0.3-1 MB/s; past this size the linear tag stripper is used instead,
# so one huge HTML-only message cannot hold the SMTP session for minutes.
_HTML2TEXT_MAX_CHARS = 512 * 1024
# Past this many, defects are summarised (a message of 100,000 broken parts stays small).
_MAX_DEFECTS = 200
# Nesting deeper than this is an attack or a bug, never real mail.
_MAX_DEPTH = 32
# RFC 5322 caps a line at 998 octets; a header value past this is refused on the way out.
_MAX_HEADER_VALUE = 998


class _PreEncoded(str):
    """A header value this module already encoded to 7-bit and folded: stored verbatim."""


class _OutPolicy(EmailPolicy):
    # The stdlib folder mis-encodes some non-ASCII header text (an encoded word glued to
    # the next atom, e.g. a display name holding a no-break space, decodes wrongly), so
    # non-ASCII values are encoded with email.header.Header and kept exactly as encoded.
    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if isinstance(value, _PreEncoded):
            return (name, str(value))
        return super().header_store_parse(name, value)


# CTE "7bit" makes the generator pick quoted-printable/base64 for non-ASCII bodies, so the
# bytes survive any relay, 8BITMIME or not.
_OUT_POLICY = _OutPolicy(linesep="\r\n", cte_type="7bit")
_IN_POLICY = policy.default

# Delivery reports are parsed by the stdlib into header blocks, not a body to walk into.
_REPORT_TYPES = frozenset(
    {"message/delivery-status", "message/global-delivery-status", "message/disposition-notification"}
)
_HEADER_LINE_RE = re.compile(rb"[!-9;-~]+:")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_MSGID_RE = re.compile(r"<([^<>\s]+)>")
_WSP_RE = re.compile(r"\s+")
# Reply/forward prefixes in the languages mail clients actually emit, each optionally with a
# counter ("Re[2]:", "AW(3):") and full-width colons from CJK clients.
# One match strips the whole run, so a hostile "Re: Re: Re: ..." subject costs linear time.
_PREFIX_RE = re.compile(
    r"^(?:\s*(?:re|fwd?|aw|wg|sv|vs|antw|tr|rv|odp|enc|res) ?(?:\[\d+\]|\(\d+\))? ?[:\uff1a])+\s*",
    re.IGNORECASE,
)
_DOMAIN_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
    }
)


@dataclass
class ParsedAttachment:
    """One attachment or inline part (inline images carry a ``content_id``)."""

    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False


@dataclass
class ParsedMessage:
    """What the sandbox stores of one inbound message.

    Addresses are bare ``local@domain`` strings (domain lowercased); ``headers`` holds the
    first occurrence of each header, RFC 2047 decoded and unfolded; ``defects`` lists what was
    wrong with the input (never fatal).
    """

    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    from_address: str
    from_name: str | None
    to: list[str]
    cc: list[str]
    reply_to: list[str]
    subject: str
    body_text: str
    body_html: str | None
    date: datetime | None
    headers: dict[str, str]
    attachments: list[ParsedAttachment] = field(default_factory=list)
    attachments_dropped: bool = False
    attachments_dropped_reason: str | None = None
    defects: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- text helpers


def html_to_text(html_source: str) -> str:
    """Render HTML as readable plain text (Markdown-flavoured, no line wrapping).

    Scripts, styles and images are dropped; links keep their target. Never raises: if
    html2text fails on pathological markup, or the document is too big for it to convert
    quickly, tags are stripped instead.
    """
    if not html_source or not html_source.strip():
        return ""
    text = None
    if len(html_source) <= _HTML2TEXT_MAX_CHARS:
        try:
            import html2text

            converter = html2text.HTML2Text()
            converter.body_width = 0
            converter.ignore_images = True
            converter.unicode_snob = True
            text = converter.handle(html_source)
        except Exception as err:  # html2text is not hardened against every malformed document
            logger.debug("html2text failed (%s); stripping tags instead", err)
    if text is None:
        text = _strip_tags(html_source)
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _strip_tags(html_source: str) -> str:
    """Linear-time fallback: drop scripts/styles/comments, break lines at block ends, unescape."""
    text = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>|<!--.*?-->", " ", html_source)
    text = re.sub(r"(?i)<br\s*/?>|</(?:p|div|tr|li|h[1-6]|table|blockquote)\s*>", "\n", text)
    text = html.unescape(re.sub(r"<[^>]*>", " ", text))
    return re.sub(r"[ \t\xa0]+", " ", text)


def normalize_subject(subject: str) -> str:
    """Reduce a subject to its thread key.

    Strips any number of reply/forward prefixes (``Re:``, ``RE:``, ``Fwd:``, ``FW:``,
    ``AW:``, ``WG:``, ``Sv:``, ``Antw:``, counters such as ``Re[2]:``), collapses
    whitespace and casefolds, so ``"RE: Fwd:  Invoice  42"`` and ``"invoice 42"`` match.
    Bracketed list tags are kept: they are part of the subject.
    """
    text = _WSP_RE.sub(" ", subject or "").strip()
    return _PREFIX_RE.sub("", text, count=1).strip().casefold()


def make_message_id(domain: str) -> str:
    """Return a new, globally unique RFC 5322 Message-ID such as ``<3f2a...@example.com>``."""
    host = (domain or "").strip().rstrip(".").lower()
    if "@" in host:
        host = host.rpartition("@")[2]
    if not host or _DOMAIN_RE.fullmatch(host) is None:
        msg = f"cannot make a Message-ID for domain {domain!r}: expected a host name like example.com"
        raise InvalidRequestError(msg)
    return f"<{uuid.uuid4().hex}@{host}>"


# --------------------------------------------------------------------------- parsing


# Labels mean their Windows superset in practice (WHATWG Encoding Standard): mail labelled
# iso-8859-1 carries cp1252 quotes, gb2312 carries GBK, ks_c_5601-1987 carries cp949.
_SUPERSETS = {
    "iso8859-1": "cp1252",
    "iso8859-9": "cp1254",
    "tis-620": "cp874",
    "iso8859-11": "cp874",
    "euc_kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "big5": "big5hkscs",
    "shift_jis": "cp932",
}
_LABEL_FIXES = (
    (re.compile(r"^(?:cp|windows)[-_ ]?(\d+)$"), r"cp\1"),
    (re.compile(r"^(iso-?8859-\d+)-[ie]$"), r"\1"),  # Hebrew/Arabic "logical order" variants
    (re.compile(r"^x-(?!mac-)"), ""),  # x-sjis, x-euc-jp: experimental prefixes
)
_ASCII_LABELS = ("us-ascii", "ascii", "ansi_x3.4-1968", "unknown-8bit", "x-unknown", "unknown")
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def _codec_for(label: str) -> str | None:
    """The Python codec for a MIME charset label, or None when no codec fits."""
    candidates = [label]
    for pattern, replacement in _LABEL_FIXES:
        fixed = pattern.sub(replacement, label)
        if fixed != label:
            candidates.append(fixed)
    if label.startswith("x-mac-"):
        candidates.append("mac-" + label[len("x-mac-") :])
    for candidate in candidates:
        try:
            name = codecs.lookup(candidate).name
        except LookupError:
            continue
        return _SUPERSETS.get(name, name)
    return None


def _bytes_to_text(data: bytes, charset: str | None, defects: list[str], where: str) -> str:
    """Decode ``data`` with the declared charset, falling back to UTF-8, cp1252, latin-1."""
    candidates: list[str] = []
    declared = (charset or "").strip().strip("\"'").lower()
    codec = None
    if declared and declared not in _ASCII_LABELS:
        codec = _codec_for(declared)
        if codec is None:
            defects.append(f"{where}: unknown charset {declared!r}")
        else:
            candidates.append(codec)
    # Mail declared ASCII (or nothing) that carries 8-bit bytes is nearly always UTF-8 today.
    candidates += [c for c in ("utf-8", "cp1252") if c not in candidates]
    for position, name in enumerate(candidates):
        try:
            text = data.decode(name)
        except UnicodeDecodeError:
            if position == 0 and declared and declared not in _ASCII_LABELS:
                defects.append(f"{where}: bytes are not valid {declared!r}")
            continue
        if declared and declared not in _ASCII_LABELS and (codec is None or position > 0):
            defects.append(f"{where}: decoded as {name!r} instead of declared {declared!r}")
        elif declared in _ASCII_LABELS and not data.isascii():
            defects.append(f"{where}: 8-bit data declared {declared!r}; decoded as {name!r}")
        elif not declared and not data.isascii():
            defects.append(f"{where}: 8-bit data without a declared charset; decoded as {name!r}")
        return text
    # latin-1 maps every byte, so nothing is ever lost.
    defects.append(f"{where}: no charset fits; decoded as latin-1")
    return data.decode("latin-1")


def _fix_8bit(value: str, defects: list[str], where: str) -> str:
    """Turn raw 8-bit header bytes (kept by the parser as surrogates) into text."""
    if not any("\udc80" <= c <= "\udcff" for c in value):
        return value
    raw = value.encode("utf-8", "surrogateescape")
    return _bytes_to_text(raw, None, defects, where)


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", value).replace("\r", "").replace("\n", "")


def _decode_header(value: str, defects: list[str], where: str) -> str:
    """Decode RFC 2047 encoded words and 8-bit bytes; unfold; never raise."""
    text = _fix_8bit(_unfold(value), defects, where)
    try:
        header = _IN_POLICY.header_factory("x-decoded", text)
        decoded = str(header)
        defects.extend(f"{where}: {type(d).__name__}" for d in header.defects)
    except Exception as err:  # the header parser has raised on hostile input before
        defects.append(f"{where}: undecodable header ({type(err).__name__})")
        decoded = text
    if "\ufffd" in decoded and "\ufffd" not in text:
        # An encoded word in an unknown charset: the rest of the value is still good.
        defects.append(f"{where}: undecodable characters replaced with U+FFFD")
    return decoded.strip()


def _raw_headers(msg: Message) -> list[tuple[str, str]]:
    try:
        return [(name, str(value)) for name, value in msg.raw_items()]
    except Exception:
        return []


def _first_raw(items: Sequence[tuple[str, str]], name: str) -> str | None:
    lowered = name.lower()
    for key, value in items:
        if key.lower() == lowered:
            return value
    return None


def _clean_address(addr: str, defects: list[str], where: str) -> str | None:
    addr = addr.strip().strip("<>").strip()
    if not addr:
        return None
    try:
        return normalize_address(addr)
    except InvalidRequestError:
        local, at, domain = addr.rpartition("@")
        if at and local and domain and not any(c.isspace() for c in addr):
            # Not our strict shape (an IDN, a quoted local part) but clearly an address: keep it.
            return f"{local}@{domain.lower()}"
        defects.append(f"{where}: unparseable address {addr!r}")
        return None


def _parse_addresses(raw: str | None, defects: list[str], where: str) -> list[tuple[str, str | None]]:
    """Return ``[(address, display_name), ...]`` from one address header."""
    if not raw:
        return []
    text = _fix_8bit(_unfold(raw), defects, where)
    pairs: list[tuple[str, str]] = []
    try:
        header: Any = _IN_POLICY.header_factory(where.lower(), text)
        pairs = [(a.display_name, a.addr_spec) for a in header.addresses]
        defects.extend(f"{where}: {type(d).__name__}" for d in header.defects)
    except Exception as err:
        defects.append(f"{where}: address header parse failed ({type(err).__name__})")
        pairs = [(_decode_header(n, defects, where), a) for n, a in getaddresses([text])]
    if "=?" in text and pairs:
        # The stdlib's phrase parser puts a space between adjacent encoded words, which
        # RFC 2047 6.2 says to drop (a long name folded into several words gains spaces).
        # Decode the names as unstructured text instead, when both parses agree on the
        # addresses.
        simple = getaddresses([text])
        if [a for _, a in simple] == [a for _, a in pairs]:
            pairs = [(_decode_header(n, defects, where), a) for n, a in simple]
    result: list[tuple[str, str | None]] = []
    for name, addr in pairs:
        clean = _clean_address(addr, defects, where)
        if clean is not None:
            result.append((clean, (name or "").strip() or None))
    return result


def _message_ids(raw: str | None) -> list[str]:
    if not raw:
        return []
    return [f"<{m}>" for m in _MSGID_RE.findall(_unfold(raw))]


def _single_message_id(raw: str | None, defects: list[str], where: str) -> str | None:
    if raw is None:
        return None
    ids = _message_ids(raw)
    if ids:
        return ids[0]
    bare = _unfold(raw).strip()
    if bare and not any(c.isspace() for c in bare) and "<" not in bare and ">" not in bare:
        defects.append(f"{where}: Message-ID without angle brackets")
        return f"<{bare}>"
    if bare:
        defects.append(f"{where}: unparseable value {bare[:80]!r}")
    return None


def _parse_date(raw: str | None, defects: list[str]) -> datetime | None:
    if raw is None:
        defects.append("Date: missing")
        return None
    try:
        parsed = parsedate_to_datetime(_unfold(raw).strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append(f"Date: unparseable {raw.strip()[:80]!r}")
        return None
    if parsed.tzinfo is None:
        # RFC 5322 "-0000": the zone is unknown; UTC is the conventional reading.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _safe(call: Any, default: Any) -> Any:
    try:
        return call()
    except Exception:
        return default


def _filename(part: Message, index: int, content_type: str, defects: list[str]) -> str:
    name: str | None = _safe(part.get_filename, None)
    if isinstance(name, str):
        name = _fix_8bit(name, defects, f"attachment {index} filename")
        name = re.sub(r"[\x00-\x1f\x7f]", "", name).replace("\\", "/").rpartition("/")[2].strip()
    if not name and content_type == "message/rfc822":
        inner = _safe(part.get_payload, None)
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            subject = _safe(lambda: str(inner[0].get("Subject", "")), "")
            stem = re.sub(r"[^\w .,()-]+", "_", subject).strip(" ._")[:100]
            name = f"{stem}.eml" if stem else None
    if not name and (content_type in _REPORT_TYPES or content_type == "text/rfc822-headers"):
        name = content_type.partition("/")[2] + ".txt"
    if not name:
        extension = mimetypes.guess_extension(content_type) or (
            ".txt" if content_type.startswith("text/") else ".bin"
        )
        name = f"attachment-{index}{extension}"
    return name[:255]


def _unflow(text: str, *, delsp: bool) -> str:
    """Undo RFC 3676 ``format=flowed``: join soft-broken lines, keep quote depth."""
    out: list[str] = []
    buffer: str | None = None
    depth_of_buffer = 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        flowed = content.endswith(" ") and content != "-- "  # "-- " is the signature separator
        if flowed and delsp:
            content = content[:-1]
        if buffer is not None and depth == depth_of_buffer:
            buffer += content
        else:
            if buffer is not None:
                out.append(_quote_prefix(depth_of_buffer) + buffer)
            buffer, depth_of_buffer = content, depth
        if not flowed:
            out.append(_quote_prefix(depth_of_buffer) + buffer)
            buffer = None
    if buffer is not None:
        out.append(_quote_prefix(depth_of_buffer) + buffer)
    return "\n".join(out)


def _quote_prefix(depth: int) -> str:
    return ">" * depth + " " if depth else ""


@dataclass
class _Walk:
    text_parts: list[str] = field(default_factory=list)
    html_parts: list[str] = field(default_factory=list)
    attachments: list[ParsedAttachment] = field(default_factory=list)
    dropped_size: int = 0
    dropped_count: int = 0


def _content_type(part: Message) -> str:
    value = _safe(part.get_content_type, "text/plain")
    return value if isinstance(value, str) else "text/plain"


def _payload_bytes(part: Message, defects: list[str], where: str) -> bytes:
    data = _safe(lambda: part.get_payload(decode=True), None)
    if isinstance(data, bytes):
        return data
    raw = _safe(part.get_payload, "")
    if isinstance(raw, str):
        defects.append(f"{where}: payload could not be decoded; kept as is")
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _walk(
    part: Message,
    state: _Walk,
    defects: list[str],
    limits: tuple[int, int],
    depth: int = 0,
    path: str = "part",
) -> None:
    defects.extend(f"{path}: {type(d).__name__}" for d in getattr(part, "defects", ()))
    ctype = _content_type(part)
    if depth > _MAX_DEPTH:
        defects.append(f"{path}: nested deeper than {_MAX_DEPTH}; rest skipped")
        return
    if part.is_multipart() and ctype not in _REPORT_TYPES and ctype != "message/rfc822":
        children = _safe(part.get_payload, [])
        for i, child in enumerate(children if isinstance(children, list) else []):
            if isinstance(child, Message):
                _walk(child, state, defects, limits, depth + 1, f"{path}.{i + 1}")
        return

    disposition = (_safe(part.get_content_disposition, None) or "").lower()
    has_name = bool(_safe(part.get_filename, None))
    maintype = ctype.partition("/")[0]
    # A multipart whose boundary is missing arrives as one opaque part: read it as text.
    is_body = (
        disposition != "attachment"
        and not has_name
        and (ctype in ("text/plain", "text/html") or maintype == "multipart")
    )
    if is_body:
        data = _payload_bytes(part, defects, path)
        charset = _safe(part.get_content_charset, None)
        if charset is None and ctype == "text/html":
            # HTML often declares its charset only in a <meta> tag.
            meta = _META_CHARSET_RE.search(data[:4096])
            charset = meta.group(1).decode("ascii") if meta else None
        text = _bytes_to_text(data, charset, defects, path)
        # One trailing newline is MIME framing (set_content adds it), not content.
        text = text.replace("\r\n", "\n").rstrip("\n")
        params = {k.lower(): str(v).lower() for k, v in _safe(lambda: part.get_params() or [], [])[1:]}
        if ctype == "text/plain" and params.get("format") == "flowed":
            text = _unflow(text, delsp=params.get("delsp") == "yes")
        (state.html_parts if ctype == "text/html" else state.text_parts).append(text)
        return

    if ctype == "message/rfc822":
        # A forwarded message travels as an .eml attachment, not mixed into this body.
        inner = _safe(part.get_payload, None)
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            data = _safe(lambda: inner[0].as_bytes(policy=_IN_POLICY), b"")
        else:
            data = _payload_bytes(part, defects, path)
    elif ctype in _REPORT_TYPES:
        # Bounce and read-receipt reports are header blocks; keep them as one text file.
        blocks = _safe(part.get_payload, None)
        if isinstance(blocks, list):
            data = b"".join(_safe(lambda b=b: b.as_bytes(policy=_IN_POLICY), b"") for b in blocks)
        else:
            data = _payload_bytes(part, defects, path)
    else:
        data = _payload_bytes(part, defects, path)
    index = len(state.attachments) + state.dropped_size + state.dropped_count + 1
    filename = _filename(part, index, ctype, defects)
    max_count, max_bytes = limits
    if len(data) > max_bytes:
        state.dropped_size += 1
        defects.append(
            f"attachment {filename!r} ({len(data)} bytes) dropped: over the {max_bytes}-byte limit"
        )
        return
    if len(state.attachments) >= max_count:
        state.dropped_count += 1
        defects.append(f"attachment {filename!r} dropped: more than {max_count} attachments")
        return
    cid_raw = _safe(lambda: part.get("Content-ID"), None)
    content_id = None
    if cid_raw is not None:
        content_id = _unfold(str(cid_raw)).strip().strip("<>").strip() or None
    state.attachments.append(
        ParsedAttachment(
            filename=filename,
            content_type=ctype,
            data=data,
            content_id=content_id,
            inline=disposition == "inline" or (content_id is not None and disposition != "attachment"),
        )
    )


def _parse_tree(raw: bytes, defects: list[str]) -> Message | None:
    for parse_policy in (_IN_POLICY, policy.compat32):
        try:
            return BytesParser(policy=parse_policy).parsebytes(raw)
        except Exception as err:  # stdlib parser bugs on hostile input; try the lenient policy
            defects.append(f"parser ({parse_policy.__class__.__name__}) failed: {type(err).__name__}")
    return None


def parse_message(
    raw: bytes,
    *,
    max_attachments: int = MAX_ATTACHMENTS,
    max_attachment_bytes: int = MAX_ATTACHMENT_BYTES,
) -> ParsedMessage:
    """Parse one RFC 5322 message; never raises on malformed input.

    Args:
        raw: the message exactly as received (bytes; CRLF or LF line ends).
        max_attachments: attachments beyond this count are dropped (the first ones are kept).
        max_attachment_bytes: any single attachment larger than this is dropped.

    Returns:
        A :class:`ParsedMessage`. ``body_text`` is derived from the HTML when the message has
        only HTML. Dropped attachments set ``attachments_dropped`` and
        ``attachments_dropped_reason`` (``"size"``, ``"count"`` or ``"both"``); every problem
        found is listed in ``defects``.
    """
    defects: list[str] = []
    if isinstance(raw, str):  # tolerate a str, never lose it
        raw = raw.encode("utf-8", "surrogateescape")
    raw = bytes(raw)
    stripped = raw.lstrip(b"\r\n")
    if len(stripped) != len(raw) and _HEADER_LINE_RE.match(stripped):
        # A blank first line would make every header part of the body.
        defects.append("blank lines before the headers removed")
        raw = stripped
    msg = _parse_tree(raw, defects)
    if msg is None:
        return ParsedMessage(
            message_id=None,
            in_reply_to=None,
            references=[],
            from_address="",
            from_name=None,
            to=[],
            cc=[],
            reply_to=[],
            subject="",
            body_text=_bytes_to_text(raw, None, defects, "message"),
            body_html=None,
            date=None,
            headers={},
            defects=defects,
        )

    items = _raw_headers(msg)
    headers: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in items:
        if name.lower() not in seen:
            seen.add(name.lower())
            headers[name] = _decode_header(value, defects, name)

    senders = _parse_addresses(_first_raw(items, "From"), defects, "From")
    if not senders:
        defects.append("From: missing or unparseable")
    from_address, from_name = senders[0] if senders else ("", None)

    raw_subject = _first_raw(items, "Subject")
    subject = _decode_header(raw_subject, defects, "Subject") if raw_subject is not None else ""

    state = _Walk()
    _walk(msg, state, defects, (max_attachments, max_attachment_bytes))
    body_html = "\n".join(state.html_parts) if state.html_parts else None
    if state.text_parts:
        body_text = "\n\n".join(state.text_parts)
    elif body_html is not None:
        body_text = html_to_text(body_html)
    else:
        body_text = ""

    reason = None
    if state.dropped_size and state.dropped_count:
        reason = "both"
    elif state.dropped_size:
        reason = "size"
    elif state.dropped_count:
        reason = "count"

    message_id = _single_message_id(_first_raw(items, "Message-ID"), defects, "Message-ID")
    if message_id is None:
        defects.append("Message-ID: missing")
    for attachment in state.attachments:
        attachment.filename = _valid_text(attachment.filename)
        attachment.content_id = _valid_text(attachment.content_id) if attachment.content_id else None
    return _sanitised(
        ParsedMessage(
            message_id=message_id,
            in_reply_to=_single_message_id(_first_raw(items, "In-Reply-To"), defects, "In-Reply-To"),
            references=_message_ids(_first_raw(items, "References")),
            from_address=from_address,
            from_name=from_name,
            to=[a for a, _ in _parse_addresses(_first_raw(items, "To"), defects, "To")],
            cc=[a for a, _ in _parse_addresses(_first_raw(items, "Cc"), defects, "Cc")],
            reply_to=[a for a, _ in _parse_addresses(_first_raw(items, "Reply-To"), defects, "Reply-To")],
            subject=subject,
            body_text=body_text,
            body_html=body_html,
            date=_parse_date(_first_raw(items, "Date"), defects),
            headers=headers,
            attachments=state.attachments,
            attachments_dropped=reason is not None,
            attachments_dropped_reason=reason,
            defects=_summarise(defects),
        )
    )


def _valid_text(value: str) -> str:
    # Lone surrogates (undecodable bytes the stdlib carries through) are not text: they
    # cannot be stored as UTF-8 or sent as JSON.
    return _SURROGATE_RE.sub("\ufffd", value)


def _sanitised(parsed: ParsedMessage) -> ParsedMessage:
    for name in ("message_id", "in_reply_to", "from_name", "body_html"):
        value = getattr(parsed, name)
        if value is not None:
            setattr(parsed, name, _valid_text(value))
    parsed.subject = _valid_text(parsed.subject)
    parsed.body_text = _valid_text(parsed.body_text)
    parsed.from_address = _valid_text(parsed.from_address)
    for name in ("references", "to", "cc", "reply_to"):
        setattr(parsed, name, [_valid_text(v) for v in getattr(parsed, name)])
    parsed.headers = {_valid_text(k): _valid_text(v) for k, v in parsed.headers.items()}
    return parsed


def _summarise(defects: list[str]) -> list[str]:
    unique = list(dict.fromkeys(defects))
    if len(unique) <= _MAX_DEFECTS:
        return unique
    return [*unique[:_MAX_DEFECTS], f"... and {len(unique) - _MAX_DEFECTS} more defects"]


# --------------------------------------------------------------------------- building


def _check_header_text(value: str, what: str) -> str:
    check_no_crlf(value, what)
    if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
        msg = f"{what} must not contain control characters"
        raise InvalidRequestError(msg)
    return value


def _encode_text(value: str, header_name: str) -> str:
    """An unstructured header value: ASCII left to the policy, anything else RFC 2047 encoded."""
    if value.isascii():
        return value
    return _PreEncoded(Header(value, "utf-8", header_name=header_name).encode(linesep="\r\n"))


def _mailbox(addr: str, name: str | None, what: str) -> str:
    clean = normalize_address(addr, what)
    if not name:
        return clean
    _check_header_text(name, f"{what} display name")
    if name.isascii():
        return formataddr((name, clean))
    encoded = Header(name, "utf-8", header_name="From").encode(linesep="\r\n")
    return f"{encoded} <{clean}>"


def _address_header(entries: list[str]) -> str:
    # One address per line once the list is long: each line stays short, nothing refolds.
    joined = ", ".join(entries)
    if len(joined) <= 70 and "\r\n" not in joined:
        return _PreEncoded(joined) if not joined.isascii() else joined
    return _PreEncoded(",\r\n ".join(entries))


def _angle(value: str, what: str) -> str:
    check_no_crlf(value, what)
    value = value.strip()
    if not value.startswith("<"):
        value = f"<{value.strip('<>')}>"
    if _MSGID_RE.fullmatch(value) is None:
        msg = f"{what} {value!r} is not a Message-ID like <id@host>"
        raise InvalidRequestError(msg)
    return value


def _split_type(content_type: str) -> tuple[str, str]:
    maintype, _, subtype = (content_type or "").partition(";")[0].strip().lower().partition("/")
    token = re.compile(r"[a-z0-9!#$&^_.+-]+")
    if not token.fullmatch(maintype or "") or not token.fullmatch(subtype or "") or maintype == "multipart":
        return "application", "octet-stream"
    return maintype, subtype


def build_message(
    *,
    from_address: str,
    to: Sequence[str],
    subject: str,
    body_text: str,
    cc: Sequence[str] = (),
    from_name: str | None = None,
    body_html: str | None = None,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: Iterable[str] = (),
    headers: Mapping[str, str] | None = None,
    attachments: Iterable[ParsedAttachment] = (),
    date: datetime | None = None,
) -> bytes:
    """Build an RFC 5322 message and return its bytes (CRLF line ends, 7-bit clean).

    Non-ASCII subjects, names and filenames are encoded (RFC 2047 / RFC 2231). With
    ``body_html`` the body is ``multipart/alternative``; inline attachments (with a
    ``content_id``) sit beside the HTML in ``multipart/related``; other attachments make it
    ``multipart/mixed``. Bcc is deliberately not a parameter: it never appears in headers.

    Raises:
        InvalidRequestError: an address is invalid, a value contains CR/LF, a custom header
            name is malformed or would replace a structural header.
    """
    msg = EmailMessage(policy=_OUT_POLICY)
    msg["From"] = _PreEncoded(_mailbox(from_address, from_name, "from_address"))
    if isinstance(to, str):
        to = [to]
    if isinstance(cc, str):
        cc = [cc]
    to_list = [_mailbox(a, None, "to") for a in to]
    if to_list:
        msg["To"] = _address_header(to_list)
    cc_list = [_mailbox(a, None, "cc") for a in cc]
    if cc_list:
        msg["Cc"] = _address_header(cc_list)
    msg["Subject"] = _encode_text(_check_header_text(subject, "subject"), "Subject")
    when = date or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    msg["Date"] = format_datetime(when)
    domain = normalize_address(from_address).rpartition("@")[2]
    msg["Message-ID"] = _angle(message_id, "message_id") if message_id else make_message_id(domain)
    refs = [_angle(r, "references") for r in references]
    if in_reply_to:
        parent = _angle(in_reply_to, "in_reply_to")
        msg["In-Reply-To"] = parent
        if parent not in refs:
            refs.append(parent)
    if refs:
        msg["References"] = " ".join(refs)
    for name, value in (headers or {}).items():
        check_header_name(name)
        if name.lower() in _RESERVED_HEADERS:
            msg_text = f"header {name!r} is set by build_message itself; pass it as its argument"
            raise InvalidRequestError(msg_text)
        _check_header_text(str(value), f"header {name}")
        if len(str(value)) > _MAX_HEADER_VALUE:
            msg_text = f"header {name!r} is longer than {_MAX_HEADER_VALUE} characters"
            raise InvalidRequestError(msg_text)
        msg[name] = _encode_text(str(value), name)

    msg.set_content(body_text or "", charset="utf-8")
    files = list(attachments)
    inline = [a for a in files if a.inline and a.content_id]
    if body_html is not None:
        msg.add_alternative(body_html, subtype="html", charset="utf-8")
        if inline:
            html_part: Any = msg.get_payload()[1]  # type: ignore[index]
            for att in inline:
                maintype, subtype = _split_type(att.content_type)
                html_part.add_related(
                    att.data,
                    maintype=maintype,
                    subtype=subtype,
                    cid=_angle(att.content_id or "", "content_id"),
                    disposition="inline",
                    filename=att.filename or None,
                )
            files = [a for a in files if not (a.inline and a.content_id)]
    for att in files:
        maintype, subtype = _split_type(att.content_type)
        check_no_crlf(att.filename or "", "attachment filename")
        extra: dict[str, Any] = {}
        if att.content_id:
            extra["cid"] = _angle(att.content_id, "content_id")
        msg.add_attachment(
            att.data,
            maintype=maintype,
            subtype=subtype,
            filename=att.filename or "attachment.bin",
            disposition="inline" if att.inline else "attachment",
            **extra,
        )
    for part in msg.walk():
        # The stdlib repeats MIME-Version on every part it converts; only the top needs it.
        if part is not msg:
            del part["MIME-Version"]
    return msg.as_bytes(policy=_OUT_POLICY)
