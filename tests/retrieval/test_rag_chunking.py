"""Token chunking with overlap and heading-aware document chunking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentmail_tools._tokens import count_tokens
from retrieval import chunk_document, chunk_text
from retrieval._chunking import detect_format, split_sections

words = st.lists(
    st.sampled_from(["refund", "order", "ship.", "Hello!", "x" * 40, "\n\n", "déjà", "42?", "—"]),
    max_size=400,
)


@settings(max_examples=40, deadline=None)
@given(parts=words, max_tokens=st.integers(5, 120), overlap_frac=st.floats(0, 0.9))
def test_chunks_never_exceed_the_budget_and_cover_the_text(
    parts: list[str], max_tokens: int, overlap_frac: float
) -> None:
    text = " ".join(parts)
    overlap = int(max_tokens * overlap_frac)
    chunks = chunk_text(text, max_tokens=max_tokens, overlap=overlap)
    assert all(count_tokens(c) <= max_tokens for c in chunks)
    # Every word of the input survives in some chunk (nothing is lost at boundaries).
    joined = " ".join(chunks)
    for word in set(text.split()):
        if count_tokens(word) <= max_tokens:
            assert word in joined


def test_overlap_repeats_the_tail_of_the_previous_chunk() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(60))
    chunks = chunk_text(text, max_tokens=40, overlap=12)
    assert len(chunks) > 3
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        first_sentence = nxt.split(".")[0]
        assert first_sentence in prev  # the next chunk starts inside the previous one


def test_short_text_is_one_chunk_and_blank_is_none() -> None:
    assert chunk_text("  hello there  ") == ["hello there"]
    assert chunk_text(" \n ") == []


@pytest.mark.parametrize(("max_tokens", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_bad_sizes_are_refused(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_text("text", max_tokens=max_tokens, overlap=overlap)


MARKDOWN = """# Billing

Invoices are sent monthly.

## Refunds

Refunds take 5 business days.

```
# not a heading inside code
```

### Partial refunds
Only within 30 days.

Shipping
========

We ship worldwide.
"""


def test_markdown_heading_paths() -> None:
    chunks = chunk_document(MARKDOWN, source="help.md")
    sections = [c.section for c in chunks]
    assert sections == ["Billing", "Billing > Refunds", "Billing > Refunds > Partial refunds", "Shipping"]
    assert "# not a heading inside code" in chunks[1].text
    assert [c.id for c in chunks] == [f"help.md#{i}" for i in range(4)]


def test_html_headings() -> None:
    html = "<html><body><h1>Account</h1><p>Manage it.</p><h2>Passwords</h2><p>Reset via <b>Settings</b>.</p></body></html>"
    chunks = chunk_document(html, source="account.html")
    assert [c.section for c in chunks] == ["Account", "Account > Passwords"]
    assert "Settings" in chunks[1].text and "<b>" not in chunks[1].text


def test_text_headings() -> None:
    text = "SECURITY\n\nWe use 2FA.\n\n1. Passwords\n\nRotate them yearly.\n"
    chunks = chunk_document(text, source="security.txt")
    assert [(c.section, c.text) for c in chunks] == [
        ("SECURITY", "We use 2FA."),
        ("1. Passwords", "Rotate them yearly."),
    ]


def test_long_sections_are_token_chunked_under_their_heading() -> None:
    body = " ".join(f"Rule {i} applies to every order." for i in range(200))
    chunks = chunk_document(f"# Policy\n\n{body}", source="p.md", max_tokens=50, overlap=10)
    assert len(chunks) > 5
    assert {c.section for c in chunks} == {"Policy"}
    assert all(count_tokens(c.text) <= 50 for c in chunks)


def test_format_detection_and_unknown_format() -> None:
    assert detect_format("plain", "a.MD") == "markdown"
    assert detect_format("<p>x</p>") == "html"
    assert detect_format("# Title\ntext") == "markdown"
    assert detect_format("just words") == "text"
    assert split_sections("", "text") == []
    with pytest.raises(ValueError, match="unknown document format"):
        chunk_document("x", source="x", fmt="pdf")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "max_tokens"),
    [
        ("refund \n\n déjà 42?", 5),  # a stripped piece tokenises longer than with its space
        ("漢" * 40, 4),  # one long "word": a token slice would cut a character in two
        ("😀é" * 30, 3),
    ],
)
def test_pieces_are_measured_as_they_are_joined(text: str, max_tokens: int) -> None:
    chunks = chunk_text(text, max_tokens=max_tokens, overlap=0)
    assert all(count_tokens(c) <= max_tokens for c in chunks), [(c, count_tokens(c)) for c in chunks]
    assert "".join(chunks).replace(" ", "") == "".join(text.split())


def test_a_long_unbroken_word_is_split_in_linear_work() -> None:
    from retrieval._chunking import _split_hard

    blob = "".join(f"{i:x}Zq" for i in range(20_000))  # ~100 KB, no whitespace (think base64)
    looked_at: list[int] = []

    def counting(text: str) -> int:
        looked_at.append(len(text))
        return count_tokens(text)

    pieces = _split_hard(blob, 50, counting)
    assert "".join(pieces) == blob and all(count_tokens(p) <= 50 for p in pieces)
    # Each count sees a bounded window, never the rest of the text (that was quadratic).
    assert max(looked_at) <= max(4 * 50, 2 * max(len(p) for p in pieces))
    assert len(looked_at) <= 20 * len(pieces)
