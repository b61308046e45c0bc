"""strip_quoted: one table per client style; nothing new is ever lost."""

from __future__ import annotations

import pytest

from agentmail_tools._quoting import strip_quoted

CASES = [
    pytest.param(
        "Thanks, that works!\n\nOn Tue, 3 Mar 2026 at 10:00, Ann Smith <ann@example.com> wrote:\n> Can you ship Friday?\n> Ann",
        "Thanks, that works!",
        id="gmail",
    ),
    pytest.param(
        "Sounds good.\n\nOn Tue, 3 Mar 2026 at 10:00, Ann Smith <ann@example.com>\nwrote:\n> earlier",
        "Sounds good.",
        id="gmail-wrapped-attribution",
    ),
    pytest.param(
        "Yes.\n\nAm 03.03.2026 um 10:00 schrieb Ann <ann@example.com>:\n> Hallo",
        "Yes.",
        id="german-attribution",
    ),
    pytest.param(
        "Approved.\n\n-----Original Message-----\nFrom: Bob\nSent: Monday\nTo: me\nSubject: budget\n\nold text",
        "Approved.",
        id="outlook-original-message",
    ),
    pytest.param(
        "See below.\n\n________________________________\nFrom: Bob <bob@example.com>\nSent: Monday, 2 March 2026 09:00\n"
        "To: Ann <ann@example.com>\nSubject: RE: budget\n\nold text",
        "See below.",
        id="outlook-header-block",
    ),
    pytest.param("I agree\n> you said this\n> and that\n", "I agree", id="angle-quotes"),
    pytest.param(
        "Answer one\n> question two?\nAnswer two", "Answer one\nAnswer two", id="interleaved-keeps-new-lines"
    ),
    pytest.param("Done.\n\n-- \nBob Jones\nACME Corp", "Done.", id="signature"),
    pytest.param("On my way.\n\nSent from my iPhone", "On my way.", id="mobile-signoff"),
    pytest.param(
        "Invoice attached.\n\nCONFIDENTIALITY NOTICE: This email is intended only for the addressee.",
        "Invoice attached.",
        id="disclaimer",
    ),
    pytest.param(
        "FYI\n\n---------- Forwarded message ---------\nFrom: Carol\nSubject: outage\n\nThe server is down.",
        "FYI",
        id="forwarded",
    ),
    pytest.param(
        "Hi,\nOn Monday we ship the order.\nThanks",
        "Hi,\nOn Monday we ship the order.\nThanks",
        id="on-in-prose",
    ),
    pytest.param("line one\r\nline two\r\n> quoted", "line one\nline two", id="crlf"),
    pytest.param(
        "Merci.\n\nLe lun. 2 mars 2026 à 10:00, Ann <ann@example.com> a écrit :\n> Bonjour",
        "Merci.",
        id="french-attribution",
    ),
    pytest.param(
        "Ok.\n\nEl lun, 2 mar 2026 a las 10:00, Ann (<ann@example.com>) escribió:\n> Hola",
        "Ok.",
        id="spanish-attribution",
    ),
    pytest.param(
        "Danke.\n\nVon: Bob <bob@example.com>\nGesendet: Montag, 2. März 2026 10:00\nAn: Ann\nBetreff: Test\n\nalt",
        "Danke.",
        id="german-outlook-block",
    ),
    pytest.param(
        "From: the team, with love\nWe ship today.",
        "From: the team, with love\nWe ship today.",
        id="from-in-prose-is-not-a-header-block",
    ),
    pytest.param("", "", id="empty"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_strip_quoted(text: str, expected: str) -> None:
    assert strip_quoted(text) == expected


def test_forwarded_content_can_be_kept() -> None:
    text = "FYI\n\n---------- Forwarded message ---------\nFrom: Carol\nSubject: x\n\nThe server is down."
    assert "The server is down." in strip_quoted(text, forwarded=False)


def test_signature_can_be_kept() -> None:
    assert strip_quoted("Done.\n-- \nBob", signature=False) == "Done.\n-- \nBob"


def test_only_quote_keeps_the_original() -> None:
    # A message that is nothing but a quote must not become empty.
    assert strip_quoted("> only a quote\n> more") == "> only a quote\n> more"
