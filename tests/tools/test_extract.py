"""Attachment text extraction: text, HTML, PDF, DOCX; everything else described."""

from __future__ import annotations

import io
import zipfile

import pytest

from agentmail_tools.tools import _extract, extract_text
from agentmail_tools.tools._extract import kind_of

from ._docs import make_docx, make_pdf


@pytest.mark.parametrize(
    ("ctype", "name", "kind"),
    [
        ("text/plain; charset=utf-8", "a.txt", "text"),
        ("text/csv", "a.csv", "text"),
        ("application/json", "a.json", "text"),
        ("application/octet-stream", "notes.md", "text"),
        ("text/html", "a.html", "html"),
        ("application/octet-stream", "page.HTM", "html"),
        ("application/pdf", "x", "pdf"),
        ("application/octet-stream", "scan.pdf", "pdf"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "x", "docx"),
        ("image/png", "photo.png", "unsupported"),
        ("application/zip", "a.zip", "unsupported"),
        ("", "", "unsupported"),
    ],
)
def test_kind_of(ctype: str, name: str, kind: str) -> None:
    assert kind_of(ctype, name) == kind


def test_text_charsets() -> None:
    assert extract_text("Grüße".encode("latin-1"), "text/plain; charset=iso-8859-1").text == "Grüße"
    assert extract_text("Grüße".encode(), "text/plain").text == "Grüße"
    assert extract_text("\ufeffBOM".encode(), "text/plain").text == "BOM"
    assert extract_text("hi".encode("utf-16"), "text/plain").text == "hi"
    # Wrong declared charset: falls back instead of failing.
    assert extract_text("Grüße".encode("cp1252"), "text/plain; charset=utf-8").text == "Grüße"
    assert extract_text(b"x", "text/plain; charset=bogus-charset").text == "x"


def test_html() -> None:
    out = extract_text(
        b"<html><body><h1>Refunds</h1><p>Within <b>30</b> days.</p></body></html>", "text/html"
    )
    assert out.kind == "html"
    assert "Refunds" in out.text and "30" in out.text and "<p>" not in out.text


def test_pdf_pages() -> None:
    out = extract_text(make_pdf([["Invoice 42", "Total 99 EUR"], ["Page two"]]), "application/pdf", "i.pdf")
    assert out.kind == "pdf"
    assert "Invoice 42" in out.text and "Total 99 EUR" in out.text and "[page 2]\nPage two" in out.text
    assert "2-page PDF" in out.note


def test_pdf_page_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_extract, "MAX_PDF_PAGES", 2)
    out = extract_text(make_pdf([["one"], ["two"], ["three"]]), "application/pdf")
    assert "three" not in out.text and out.truncated


def test_damaged_pdf_is_described_not_raised() -> None:
    out = extract_text(b"%PDF-1.4 garbage", "application/pdf")
    assert out.text == ""
    assert "could not be parsed" in out.note or "no extractable text" in out.note


def test_docx_paragraphs_and_tables() -> None:
    data = make_docx(["Contract terms", "Payment in 30 days"], table=[["SKU", "Qty"], ["A-1", "3"]])
    out = extract_text(data, "application/octet-stream", "contract.docx")
    assert out.kind == "docx"
    assert "Contract terms\nPayment in 30 days" in out.text
    assert "A-1 | 3" in out.text


def test_docx_zip_bomb_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_extract, "MAX_DOCX_UNCOMPRESSED", 1000)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("word/document.xml", b"\0" * 5000)
    out = extract_text(buf.getvalue(), "application/octet-stream", "bomb.docx")
    assert out.text == "" and "too large to read safely" in out.note


def test_bad_docx() -> None:
    assert "damaged" in extract_text(b"not a zip", "application/octet-stream", "x.docx").note


def test_unsupported_is_described() -> None:
    out = extract_text(b"\x89PNG....", "image/png", "photo.png")
    assert out.kind == "unsupported" and out.text == "" and "image/png" in out.note


def test_max_chars() -> None:
    out = extract_text(b"a" * 1000, "text/plain", max_chars=100)
    assert len(out.text) == 100 and out.truncated
