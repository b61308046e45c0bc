"""Remove quoted history, signatures and boilerplate from a plain-text mail body.

One implementation shared by the tools (what the model reads) and ``retrieval`` (what
gets indexed), so both agree on what "the new text of a message" is. Heuristics follow
what real clients emit: Gmail/Apple ``On <date>, <name> wrote:``, Outlook's
``-----Original Message-----`` and ``From:/Sent:/To:/Subject:`` header block, ``>``
quoting, the RFC 3676 ``-- `` signature separator, mobile sign-offs, forwarded-message
banners and legal disclaimers.

No library fits: ``mail-parser-reply``/``email_reply_parser`` are unmaintained, English-
only and drop forwarded content; this is ~150 lines we can test from a table.
"""

from __future__ import annotations

import re

__all__ = ["strip_quoted"]

# "On Tue, 3 Mar 2026 at 10:00, Ann <ann@x.com> wrote:" (possibly wrapped over 2-3 lines),
# and common non-English variants (Am ... schrieb, Le ... a écrit, El ... escribió).
_ATTRIBUTION_RE = re.compile(
    r"^\s*(?:On|Am|Le|El|Il|Op|Den|På)\s.{0,300}?"
    r"(?:wrote|schrieb|a\s+écrit|escribió|ha\s+scritto|schreef|skrev)(?:\s.{0,200})?:\s*$",
    re.IGNORECASE | re.DOTALL,
)
_ATTRIBUTION_OPENERS = frozenset({"on", "am", "le", "el", "il", "op", "den", "på"})
_ORIGINAL_MESSAGE_RE = re.compile(
    r"^\s*-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_FORWARD_RE = re.compile(
    r"^\s*(?:-{2,}\s*Forwarded message\s*-{2,}|Begin forwarded message:|-{2,}\s*Weitergeleitete Nachricht\s*-{2,})\s*$",
    re.IGNORECASE,
)
# Outlook's header block: "From: ..." followed within a few lines by Sent:/Date: and To:/Subject:.
_HEADER_FROM_RE = re.compile(r"^\s*\**(?:From|Von|De)\s*:\**\s*\S", re.IGNORECASE)
_HEADER_NEXT_RE = re.compile(
    r"^\s*\**(?:Sent|Date|Gesendet|Envoyé|To|An|À|Subject|Betreff|Objet|Cc)\s*:", re.IGNORECASE
)
_SIGNATURE_RE = re.compile(r"^(?:-- ?|—)$")
_MOBILE_RE = re.compile(
    r"^\s*(?:Sent from my \w+|Sent from (?:Outlook|Mail) for \w+|Get Outlook for \w+|Von meinem \w+ gesendet)\b.*$",
    re.IGNORECASE,
)
_DISCLAIMER_RE = re.compile(
    r"^\s*\**(?:CONFIDENTIALITY NOTICE|DISCLAIMER|IMPORTANT NOTICE|LEGAL NOTICE)\b"
    r"|^\s*(?:This (?:e-?mail|message)(?: and any (?:attachments|files)(?: transmitted with it)?)? "
    r"(?:is|are|may be|contains?) (?:strictly )?(?:confidential|privileged|intended))",
    re.IGNORECASE,
)


def _attribution_start(lines: list[str], i: int) -> int | None:
    """If an attribution line ends at line ``i`` (wrapped over up to 3 lines), its first line."""
    for span in (1, 2, 3):
        start = i - span + 1
        if start < 0:
            break
        chunk = " ".join(line.strip() for line in lines[start : i + 1])
        # The first line must open the attribution, or we would cut mid-paragraph.
        first_word = lines[start].strip().split(" ", 1)[0].lower()
        if first_word in _ATTRIBUTION_OPENERS and _ATTRIBUTION_RE.match(chunk):
            return start
    return None


def _is_outlook_header(lines: list[str], i: int) -> bool:
    if not _HEADER_FROM_RE.match(lines[i]):
        return False
    following = [line for line in lines[i + 1 : i + 6] if line.strip()]
    return sum(1 for line in following[:4] if _HEADER_NEXT_RE.match(line)) >= 2


def strip_quoted(
    text: str,
    *,
    signature: bool = True,
    forwarded: bool = True,
    disclaimer: bool = True,
) -> str:
    """Return the new text of a reply: quoted history and boilerplate removed.

    Args:
        text: A plain-text mail body (CRLF or LF).
        signature: Also cut at a ``-- `` signature separator and mobile sign-offs.
        forwarded: Also cut at a forwarded-message banner. Pass ``False`` where the
            forwarded content is the point of the message (a model reading a forward).
        disclaimer: Also cut a trailing legal disclaimer.

    Returns:
        The stripped text (trailing whitespace removed). If stripping would leave
        nothing (a bare forward or a message that is only a quote) the original text is
        returned stripped, so a message never becomes empty.
    """
    if not text:
        return ""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = len(lines)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if _ORIGINAL_MESSAGE_RE.match(line) or _is_outlook_header(lines, i):
            cut = i
            break
        if forwarded and _FORWARD_RE.match(line):
            cut = i
            break
        if stripped.endswith(":") and (start := _attribution_start(lines, i)) is not None:
            cut = start
            break
        if signature and (_SIGNATURE_RE.match(line.rstrip("\n")) or _MOBILE_RE.match(line)):
            cut = i
            break
        if disclaimer and _DISCLAIMER_RE.match(line) and i > 0:
            cut = i
            break
        # Underscore rules are how Outlook separates the reply from the quoted header block.
        if stripped.startswith("_" * 10) and i + 1 < len(lines) and _is_outlook_header(lines, i + 1):
            cut = i
            break
    kept = [line for line in lines[:cut] if not line.lstrip().startswith(">")]
    result = "\n".join(kept).strip()
    if not result:
        return text.strip()
    return re.sub(r"\n{3,}", "\n\n", result)
