"""Token-aware chunking: messages by tokens with overlap, documents by heading then tokens.

Chunks break at the largest natural boundary that fits (paragraph, then line, then
sentence, then word) and only split inside a word when a single "word" is longer than a
chunk, so no chunk starts or ends mid-sentence when it can be avoided. Sizes are counted
with the same tiktoken counter as the rest of the project (``agentmail_tools._tokens``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["DocChunk", "chunk_document", "chunk_text", "detect_format", "split_sections"]

DocFormat = Literal["markdown", "text", "html"]

_PARAGRAPH_RE = re.compile(r"\n\s*\n")
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=\S)")
_ATX_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SETEXT_RE = re.compile(r"^(=+|-+)\s*$")
_FENCE_RE = re.compile(r"^\s*(```|~~~)")
_HTML_HINT_RE = re.compile(r"<(?:html|body|p|div|h[1-6]|ul|ol|table|br)\b", re.IGNORECASE)


def _counter(model: str | None) -> Callable[[str], int]:
    from agentmail_tools._tokens import count_tokens

    return lambda text: count_tokens(text, model)


def _split_hard(text: str, max_tokens: int, count: Callable[[str], int]) -> list[str]:
    """Split one oversize "word" (the only place a cut may land mid-word).

    Cut by characters, not tokens: a token slice can end inside a UTF-8 sequence, and its
    decoded text (with U+FFFD) re-encodes to more tokens than the slice had. Each piece is
    the longest prefix within the budget, found by doubling a window and then bisecting it,
    so no count ever looks at more than about twice a piece (a base64 blob stays linear).
    """
    out: list[str] = []
    rest = text
    while rest:
        lo, hi = 1, min(len(rest), max_tokens * 4)
        while hi < len(rest) and count(rest[:hi]) <= max_tokens:
            lo, hi = hi, min(len(rest), hi * 2)
        while lo < hi:  # lo fits (or is one character); find the longest prefix that fits
            mid = (lo + hi + 1) // 2
            if count(rest[:mid]) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        out.append(rest[:lo])
        rest = rest[lo:]
    return out


def _units(text: str, max_tokens: int, count: Callable[[str], int]) -> list[str]:
    """Break ``text`` into stripped pieces of at most ``max_tokens``, coarsest boundaries first.

    Pieces are measured as they will be joined, stripped: a leading space changes how BPE
    splits the next word (" déjà 42?" is 5 tokens, "déjà 42?" is 6).
    """
    text = text.strip()
    if count(text) <= max_tokens:
        return [text]
    for splitter in (_PARAGRAPH_RE, re.compile(r"\n"), _SENTENCE_RE, re.compile(r"\s+")):
        parts = [p.strip() for p in splitter.split(text) if p.strip()]
        if len(parts) > 1:
            out: list[str] = []
            for part in parts:
                out.extend(_units(part, max_tokens, count))
            return out
    return _split_hard(text, max_tokens, count)


def chunk_text(
    text: str,
    *,
    max_tokens: int = 200,
    overlap: int = 40,
    model: str | None = None,
) -> list[str]:
    """Split ``text`` into chunks of at most ``max_tokens`` tokens, consecutive chunks overlapping.

    Args:
        text: Any plain text.
        max_tokens: Upper bound per chunk (the default keeps MiniLM's 256-wordpiece window).
        overlap: Roughly how many tokens of the previous chunk's tail start the next one
            (whole sentences/words, never more than ``overlap``).
        model: Tokeniser to count with (``None``: cl100k_base).

    Returns:
        The chunks, in order; ``[]`` for blank text. Every chunk has at most ``max_tokens``
        tokens (joining separators included), except a single character that alone takes
        more (an emoji is 2-3 tokens), which stands as its own chunk.
    """
    if max_tokens < 1:
        msg = f"max_tokens must be >= 1, got {max_tokens}"
        raise ValueError(msg)
    if overlap < 0 or overlap >= max_tokens:
        msg = f"overlap must be in [0, max_tokens), got {overlap} for max_tokens={max_tokens}"
        raise ValueError(msg)
    text = text.strip()
    if not text:
        return []
    count = _counter(model)
    if count(text) <= max_tokens:
        return [text]
    units = _units(text, max_tokens, count)
    sizes = [count(u) for u in units]
    chunks: list[str] = []
    start = 0
    while start < len(units):
        end, total = start, 0
        # Unit sizes add up to about the joined size; the check below makes it exact.
        while end < len(units) and total + sizes[end] <= max_tokens:
            total += sizes[end]
            end += 1
        end = max(end, start + 1)
        piece = " ".join(u.strip() for u in units[start:end])
        while count(piece) > max_tokens and end > start + 1:
            end -= 1
            piece = " ".join(u.strip() for u in units[start:end])
        chunks.append(piece)
        if end >= len(units):
            break
        # Step back over trailing units worth at most `overlap` tokens, always advancing.
        back, carried = end, 0
        while back - 1 > start and carried + sizes[back - 1] <= overlap:
            back -= 1
            carried += sizes[back]
        start = back
    return chunks


@dataclass(frozen=True)
class DocChunk:
    """One chunk of a document: its text, the heading path it sits under, and its position."""

    text: str
    section: str
    index: int
    source: str
    metadata: dict[str, str | int | float | bool] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """Stable id: the source, then the chunk number within it."""
        return f"{self.source}#{self.index}"


def detect_format(text: str, source: str = "") -> DocFormat:
    """Guess the format from the file name, else from the content."""
    lowered = source.lower()
    if lowered.endswith((".md", ".markdown", ".mdx")):
        return "markdown"
    if lowered.endswith((".html", ".htm", ".xhtml")):
        return "html"
    if lowered.endswith(".txt"):
        return "text"
    if _HTML_HINT_RE.search(text[:2000]):
        return "html"
    if any(_ATX_RE.match(line) for line in text.splitlines()[:200]):
        return "markdown"
    return "text"


def _is_text_heading(line: str, next_line: str | None) -> bool:
    # Plain text has no markup: a short line in capitals, or a short title-like line followed
    # by a blank line and ending without sentence punctuation, reads as a heading.
    stripped = line.strip()
    if not stripped or len(stripped) > 80 or stripped.endswith((".", ",", ";", "?", "!")):
        return False
    letters = [c for c in stripped if c.isalpha()]
    if len(letters) >= 3 and all(c.isupper() for c in letters):
        return True
    return bool(re.match(r"^\d+(\.\d+)*\.?\s+\S", stripped)) and (next_line is None or not next_line.strip())


def split_sections(text: str, fmt: DocFormat) -> list[tuple[list[str], str]]:
    """Split a document into ``(heading_path, body)`` pairs, in order.

    Markdown: ATX (``#``) and setext (``===``/``---``) headings, ignoring fenced code.
    HTML: converted to markdown first (``html2text``), then as markdown. Text: capitalised
    or numbered title lines and setext underlines.
    """
    if fmt == "html":
        from agentmail_tools._mime import html_to_text

        text = _html_to_markdown(text, html_to_text)
        fmt = "markdown"
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    path: list[tuple[int, str]] = []
    sections: list[tuple[list[str], str]] = []
    body: list[str] = []
    in_fence = False

    def flush() -> None:
        content = "\n".join(body).strip()
        if content:
            sections.append(([title for _, title in path], content))
        body.clear()

    def open_heading(level: int, title: str) -> None:
        flush()
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, title.strip().strip("*_").strip()))

    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else None
        if _FENCE_RE.match(line):
            in_fence = not in_fence
            body.append(line)
        elif in_fence:
            body.append(line)
        elif fmt == "markdown" and (m := _ATX_RE.match(line)):
            open_heading(len(m.group(1)), m.group(2))
        elif (
            line.strip()
            and nxt is not None
            and _SETEXT_RE.match(nxt)
            and not line.lstrip().startswith(("-", "*"))
        ):
            open_heading(1 if nxt.strip().startswith("=") else 2, line)
            i += 1
        elif fmt == "text" and _is_text_heading(line, nxt) and (i == 0 or not lines[i - 1].strip()):
            open_heading(1, line)
        else:
            body.append(line)
        i += 1
    flush()
    return sections


def _html_to_markdown(html: str, fallback: Callable[[str], str]) -> str:
    try:
        import html2text
    except ImportError:  # pragma: no cover - html2text is a core dependency
        return fallback(html)
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_links = False
    return converter.handle(html)


def chunk_document(
    text: str,
    *,
    source: str,
    fmt: DocFormat | None = None,
    max_tokens: int = 200,
    overlap: int = 40,
    model: str | None = None,
) -> list[DocChunk]:
    """Heading-aware chunks: split at headings first, then by tokens within each section.

    The heading path ("Billing > Refunds") is kept as each chunk's ``section`` and is
    prefixed to the text that gets embedded (see :meth:`retrieval.MailIndex.add_document`).
    """
    fmt = fmt or detect_format(text, source)
    if fmt not in ("markdown", "text", "html"):
        msg = f"unknown document format {fmt!r}: use 'markdown', 'text' or 'html'"
        raise ValueError(msg)
    chunks: list[DocChunk] = []
    for heading_path, body in split_sections(text, fmt):
        section = " > ".join(heading_path)
        for piece in chunk_text(body, max_tokens=max_tokens, overlap=overlap, model=model):
            chunks.append(DocChunk(text=piece, section=section, index=len(chunks), source=source))
    return chunks
