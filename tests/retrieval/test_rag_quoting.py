"""Reply stripping across mail clients' quoting styles, and what reaches the index."""

from __future__ import annotations

import pytest
from _rag_support import make_message

import agentmail_tools._quoting
import retrieval
from retrieval import MailIndex, strip_quoted

CASES = [
    (
        "gmail",
        "Yes, Thursday works.\n\nOn Tue, Mar 3, 2026 at 10:12 AM Alice Smith <alice@example.com> wrote:\n> Can we meet?\n> Thanks",
        "Yes, Thursday works.",
    ),
    (
        "gmail-wrapped-attribution",
        "Sounds good.\n\nOn Tue, Mar 3, 2026 at 10:12 AM Alice Smith\n<alice@example.com> wrote:\n> earlier",
        "Sounds good.",
    ),
    (
        "outlook-header-block",
        "Please send the invoice.\n\nFrom: Bob Jones <bob@example.com>\nSent: Monday, March 2, 2026 9:00 AM\n"
        "To: Support <support@example.com>\nSubject: RE: Invoice\n\nOld message text",
        "Please send the invoice.",
    ),
    (
        "outlook-original-message",
        "Approved.\n\n-----Original Message-----\nFrom: bob@example.com\nHi, can you approve?",
        "Approved.",
    ),
    ("angle-quotes", "> quoted line\nMy answer is no.\n> another quote", "My answer is no."),
    ("signature", "See you then.\n-- \nDana\nACME Corp | +1 555 0100", "See you then."),
    ("mobile-signoff", "On my way.\n\nSent from my iPhone", "On my way."),
    (
        "forwarded",
        "FYI, see below.\n\n---------- Forwarded message ---------\nFrom: Carol <c@example.com>\nDate: Mon\n\nInternal details",
        "FYI, see below.",
    ),
    (
        "disclaimer",
        "The contract is attached.\n\nCONFIDENTIALITY NOTICE: This e-mail is intended only for the addressee.",
        "The contract is attached.",
    ),
    ("no-quote", "Just a plain message.\nTwo lines.", "Just a plain message.\nTwo lines."),
]


@pytest.mark.parametrize(("style", "raw", "expected"), CASES, ids=[c[0] for c in CASES])
def test_strip_quoted_table(style: str, raw: str, expected: str) -> None:
    assert strip_quoted(raw) == expected


def test_only_a_quote_is_kept_rather_than_emptied() -> None:
    assert strip_quoted("> only quoted") != ""


def test_one_implementation_shared_with_the_tools() -> None:
    assert retrieval.strip_quoted is agentmail_tools._quoting.strip_quoted


def test_index_stores_only_the_new_text(index: MailIndex) -> None:
    raw = CASES[0][1]
    index.index_message(make_message("m1", raw))
    stored = index.thread_messages("mb-a", "th-1")[0]["text"]
    assert stored == "Yes, Thursday works."
    assert "Can we meet" not in " ".join(h.text for h in index.query("mb-a", "Can we meet?", k=5))
