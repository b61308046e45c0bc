"""Text out of attachments, on demand and size-capped: text, HTML, PDF, DOCX.

Anything else is described (name, type, size), never dumped. Every extractor is
bounded: bytes in (checked before download by the caller), PDF pages, DOCX uncompressed
size (a zip bomb would otherwise expand in memory) and characters out.
"""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass

__all__ = ["ExtractedText", "extract_text", "kind_of"]

logger = logging.getLogger("agentmail_tools")

MAX_PDF_PAGES = 50
MAX_DOCX_UNCOMPRESSED = 50 * 1024 * 1024

_TEXT_TYPES = {
    "application/json",
    "application/xml",
    "application/csv",
    "application/x-yaml",
    "application/yaml",
    "application/x-ndjson",
    "message/rfc822",
}
_TEXT_EXTENSIONS = {
    ".txt",
    ".md",
    ".csv",
    ".tsv",
    ".json",
    ".xml",
    ".yaml",
    ".yml",
    ".log",
    ".ics",
    ".eml",
    ".rst",
}
_DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass(frozen=True)
class ExtractedText:
    """Result of :func:`extract_text`.

    Attributes:
        kind: ``"text"``, ``"html"``, ``"pdf"``, ``"docx"`` or ``"unsupported"``.
        text: The extracted text (may be empty).
        truncated: The text was cut at ``max_chars`` (or the PDF page cap).
        note: One sentence for the model about what was (not) extracted.
    """

    kind: str
    text: str
    truncated: bool
    note: str


def kind_of(content_type: str, filename: str = "") -> str:
    """Classify an attachment by MIME type, falling back to its file extension."""
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    name = (filename or "").lower()
    ext = name[name.rfind(".") :] if "." in name else ""
    if ctype == "text/html" or ext in (".html", ".htm"):
        return "html"
    if ctype == "application/pdf" or ext == ".pdf":
        return "pdf"
    if ctype == _DOCX_TYPE or ext == ".docx":
        return "docx"
    if ctype.startswith("text/") or ctype in _TEXT_TYPES or ctype.endswith(("+json", "+xml")):
        return "text"
    if ext in _TEXT_EXTENSIONS:
        return "text"
    return "unsupported"


def _charset(content_type: str) -> str:
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return "utf-8"


def _decode(data: bytes, charset: str) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode(charset)
    except (LookupError, UnicodeDecodeError):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            # cp1252 decodes every byte sequence: the best last resort for Western mail.
            return data.decode("cp1252", errors="replace")


def _pdf_text(data: bytes, max_chars: int) -> tuple[str, bool, str]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            return "", False, "The PDF is password-protected; its text cannot be read."
        pages = reader.pages
        parts: list[str] = []
        size = 0
        truncated = len(pages) > MAX_PDF_PAGES
        for number, page in enumerate(pages[:MAX_PDF_PAGES], 1):
            page_text = (page.extract_text() or "").strip()
            parts.append(f"[page {number}]\n{page_text}")
            size += len(page_text)
            if size >= max_chars:
                truncated = truncated or number < len(pages)
                break
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as err:
        logger.info("PDF text extraction failed: %s", err)
        return "", False, f"The PDF could not be parsed ({type(err).__name__}); it may be damaged."
    text = "\n\n".join(parts)
    note = f"Text extracted from a {len(pages)}-page PDF."
    if not text.replace("[page", "").strip(" \n]0123456789"):
        note = f"The {len(pages)}-page PDF has no extractable text (probably scanned images)."
    return text, truncated, note


def _docx_text(data: bytes) -> tuple[str, str]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            expanded = sum(info.file_size for info in zf.infolist())
    except zipfile.BadZipFile:
        return "", "The DOCX file is damaged (not a valid zip archive)."
    if expanded > MAX_DOCX_UNCOMPRESSED:
        return "", f"The DOCX file expands to {expanded // (1024 * 1024)} MB; too large to read safely."
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as err:  # python-docx raises many unrelated types on bad input
        logger.info("DOCX text extraction failed: %s", err)
        return "", f"The DOCX file could not be parsed ({type(err).__name__})."
    parts = [p.text for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            cells = [cell.text.strip() for cell in row.cells]
            if any(cells):
                parts.append(" | ".join(cells))
    return "\n".join(parts), "Text extracted from a Word document (paragraphs, then tables)."


def extract_text(
    data: bytes, content_type: str, filename: str = "", *, max_chars: int = 200_000
) -> ExtractedText:
    """Extract readable text from an attachment's bytes.

    Args:
        data: The attachment content.
        content_type: Its MIME type (parameters such as ``charset`` are honoured).
        filename: Used to classify generic types such as ``application/octet-stream``.
        max_chars: Cap on the returned text; the caller usually cuts it further to a
            token budget.

    Returns:
        An :class:`ExtractedText`; unsupported or damaged files yield empty text and
        a note saying why. Never raises on bad content.
    """
    kind = kind_of(content_type, filename)
    truncated = False
    if kind == "text":
        text, note = _decode(data, _charset(content_type)), "Plain-text attachment."
    elif kind == "html":
        from .._mime import html_to_text

        text, note = html_to_text(_decode(data, _charset(content_type))), "Text of an HTML attachment."
    elif kind == "pdf":
        text, truncated, note = _pdf_text(data, max_chars)
    elif kind == "docx":
        text, note = _docx_text(data)
    else:
        return ExtractedText(
            "unsupported",
            "",
            False,
            f"No text extraction for {content_type or 'this file type'}; only text, HTML, PDF and DOCX are read.",
        )
    text = text.replace("\x00", "")
    if len(text) > max_chars:
        text, truncated = text[:max_chars], True
    return ExtractedText(kind, text, truncated, note)
