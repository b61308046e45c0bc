"""MIME parse (inbound) and build (outbound): the corpus of hard messages, limits, round trips."""

from __future__ import annotations

import base64
import json
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentmail_tools._errors import InvalidRequestError
from agentmail_tools._mime import (
    MAX_ATTACHMENT_BYTES,
    ParsedAttachment,
    ParsedMessage,
    build_message,
    html_to_text,
    make_message_id,
    normalize_subject,
    parse_message,
)

CORPUS = Path(__file__).parent / "corpus"
CASES: dict[str, dict[str, object]] = json.loads((CORPUS / "cases.json").read_text(encoding="utf-8"))


def big_attachment_message(size: int, *, small_attachments: int = 0) -> bytes:
    """A message with one attachment of ``size`` bytes (built in memory, never committed).

    Assembled by hand: the stdlib generator needs seconds to encode 25 MB, base64 in C does not.
    """
    parts = [
        b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe body survives the dropped attachment.\r\n"
    ]
    for i in range(small_attachments):
        parts.append(
            b"--B\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=small%d.txt\r\n\r\n"
            b"small %d\r\n" % (i, i)
        )
    parts.append(
        b"--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-Disposition: attachment; filename=huge.bin\r\n\r\n"
        + base64.encodebytes(b"\0" * size).replace(b"\n", b"\r\n")
    )
    head = (
        b"From: big@example.org\r\nTo: inbox@sandbox.robotomail.test\r\nSubject: A very large attachment\r\n"
        b"Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nMessage-ID: <big@example.org>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
    )
    return head + b"".join(parts) + b"--B--\r\n"


# --------------------------------------------------------------------------- the corpus


@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus_message(name: str) -> None:
    expected = CASES[name]
    parsed = parse_message((CORPUS / name).read_bytes())
    assert isinstance(parsed, ParsedMessage)

    if "subject" in expected:
        assert parsed.subject == expected["subject"]
    if "subject_contains" in expected:
        assert expected["subject_contains"] in parsed.subject
    for fragment in expected.get("body_contains", []):  # type: ignore[attr-defined]
        assert fragment in parsed.body_text
    for fragment in expected.get("body_excludes", []):  # type: ignore[attr-defined]
        assert fragment not in parsed.body_text
    if "body" in expected:
        assert parsed.body_text == expected["body"]
    assert (parsed.body_html is not None) == bool(expected.get("html", False))
    if "from" in expected:
        assert parsed.from_address == expected["from"]
    if "from_name" in expected:
        assert parsed.from_name == expected["from_name"]
    for key in ("to", "cc", "reply_to", "in_reply_to", "references", "message_id"):
        if key in expected:
            assert getattr(parsed, key) == expected[key], key
    if "date" in expected:
        assert parsed.date is None
    else:
        assert parsed.date is not None and parsed.date.tzinfo is not None
    if "attachments" in expected:
        assert len(parsed.attachments) == expected["attachments"]
    if "filenames" in expected:
        names = [a.filename for a in parsed.attachments]
        for filename in expected["filenames"]:  # type: ignore[attr-defined]
            assert filename in names
    for cid in expected.get("inline", []):  # type: ignore[attr-defined]
        match = [a for a in parsed.attachments if a.content_id == cid]
        assert match and match[0].inline and match[0].data.startswith(b"\x89PNG")
    for filename, size in expected.get("attachment_bytes", {}).items():  # type: ignore[attr-defined]
        assert len(next(a for a in parsed.attachments if a.filename == filename).data) == size
    assert parsed.attachments_dropped is ("dropped" in expected)
    assert parsed.attachments_dropped_reason == expected.get("dropped")
    if expected.get("defects"):
        assert parsed.defects
    if "normalized" in expected:
        assert normalize_subject(parsed.subject) == expected["normalized"]
    for header, value in expected.get("headers", {}).items():  # type: ignore[attr-defined]
        assert parsed.headers[header] == value


def test_corpus_clean_messages_report_no_defects() -> None:
    parsed = parse_message((CORPUS / "01_plain_utf8.eml").read_bytes())
    assert parsed.defects == []


def test_corpus_is_complete() -> None:
    # Every message on disk is described, and every description has its message.
    on_disk = {p.name for p in CORPUS.glob("*.eml")}
    assert on_disk == set(CASES)
    assert len(on_disk) >= 25


def test_forwarded_message_is_kept_whole_as_eml() -> None:
    parsed = parse_message((CORPUS / "08_nested_multipart.eml").read_bytes())
    eml = next(a for a in parsed.attachments if a.content_type == "message/rfc822")
    assert eml.filename == "Original question.eml"
    inner = parse_message(eml.data)
    assert inner.subject == "Original question" and inner.body_text == "Is the invoice paid?"
    # The forwarded body is not mixed into the outer message's text.
    assert "invoice paid" not in parsed.body_text


def test_broken_headers_keep_the_rest_of_the_message() -> None:
    parsed = parse_message((CORPUS / "12_broken_headers.eml").read_bytes())
    assert parsed.from_address == ""
    assert parsed.message_id == "<c12@example.org>"
    assert parsed.to == ["inbox@sandbox.robotomail.test"]
    assert any("From" in d for d in parsed.defects)
    assert any(d.startswith("Date: unparseable") for d in parsed.defects)
    assert len(parsed.defects) == len(set(parsed.defects))


def test_undeclared_8bit_header_is_decoded_and_noted() -> None:
    parsed = parse_message((CORPUS / "03_undeclared_utf8_8bit.eml").read_bytes())
    assert parsed.headers["Subject"] == "Grüße aus Köln"
    assert any("without a declared charset" in d for d in parsed.defects)


# --------------------------------------------------------------------------- limits


@pytest.mark.slow
def test_attachment_over_25_mb_is_dropped_and_message_kept() -> None:
    raw = big_attachment_message(MAX_ATTACHMENT_BYTES + 1, small_attachments=2)
    parsed = parse_message(raw)
    assert parsed.body_text == "The body survives the dropped attachment."
    assert [a.filename for a in parsed.attachments] == ["small0.txt", "small1.txt"]
    assert parsed.attachments_dropped is True
    assert parsed.attachments_dropped_reason == "size"
    assert any("huge.bin" in d for d in parsed.defects)


def test_attachment_exactly_at_the_limit_is_kept() -> None:
    parsed = parse_message(big_attachment_message(1000), max_attachment_bytes=1000)
    assert [a.filename for a in parsed.attachments] == ["huge.bin"]
    assert parsed.attachments_dropped is False
    parsed = parse_message(big_attachment_message(1001), max_attachment_bytes=1000)
    assert parsed.attachments == [] and parsed.attachments_dropped_reason == "size"


def test_count_and_size_together_give_both() -> None:
    raw = big_attachment_message(5000, small_attachments=4)
    parsed = parse_message(raw, max_attachments=3, max_attachment_bytes=4000)
    assert [a.filename for a in parsed.attachments] == ["small0.txt", "small1.txt", "small2.txt"]
    assert parsed.attachments_dropped_reason == "both"


def test_inline_images_count_as_attachments() -> None:
    parsed = parse_message((CORPUS / "09_inline_images.eml").read_bytes(), max_attachments=1)
    assert [a.content_id for a in parsed.attachments] == ["logo"]
    assert parsed.attachments_dropped_reason == "count"


# --------------------------------------------------------------------------- never raises


def _mutations(seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for path in sorted(CORPUS.glob("*.eml")):
        raw = bytearray(path.read_bytes())
        cut = raw[: rng.randrange(len(raw) + 1)]
        out.append(bytes(cut))
        for _ in range(8):
            if raw:
                raw[rng.randrange(len(raw))] = rng.randrange(256)
        out.append(bytes(raw))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_mutated_corpus_never_raises(seed: int) -> None:
    for raw in _mutations(seed):
        parsed = parse_message(raw)
        assert isinstance(parsed.body_text, str) and isinstance(parsed.defects, list)
        _assert_storable(parsed)


def _assert_storable(parsed: ParsedMessage) -> None:
    """Every string is valid UTF-8 (no lone surrogates), so it can go to SQLite and JSON."""
    strings = [
        parsed.subject,
        parsed.body_text,
        parsed.body_html or "",
        parsed.from_address,
        parsed.from_name or "",
        parsed.message_id or "",
        parsed.in_reply_to or "",
        *parsed.references,
        *parsed.to,
        *parsed.cc,
        *parsed.reply_to,
        *parsed.headers,
        *parsed.headers.values(),
        *(a.filename for a in parsed.attachments),
        *(a.content_id or "" for a in parsed.attachments),
        *parsed.defects,
    ]
    for value in strings:
        value.encode("utf-8")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    parsed = parse_message(raw)
    assert isinstance(parsed, ParsedMessage)
    _assert_storable(parsed)


_HEADERISH = st.lists(
    st.sampled_from(
        [
            b"From: ",
            b"To: ",
            b"Subject: ",
            b"Content-Type: multipart/mixed; boundary=",
            b"Content-Type: text/plain; charset=",
            b"Content-Transfer-Encoding: base64",
            b"Content-Transfer-Encoding: quoted-printable",
            b"--",
            b"=?utf-8?b?",
            b"=?x?q?",
            b"?=",
            b"<",
            b">",
            b"@",
            b",",
            b"\r\n",
            b"\n",
            b"\r\n\r\n",
            b" ",
            b"\xff\xfe",
            b"\xc3\xa9",
            b"abc",
            b"=",
            b'"',
            b";",
            b"Content-Disposition: attachment; filename*=utf-8''%ZZ",
            b"=?unknown-8bit?q?=FF?=",
            b"Content-Disposition: attachment; filename*=unknown-8bit''%FF",
            b"\x80\x81",
        ]
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(_HEADERISH)
def test_header_shaped_garbage_never_raises(chunks: list[bytes]) -> None:
    parsed = parse_message(b"".join(chunks))
    assert isinstance(parsed, ParsedMessage)
    _assert_storable(parsed)


def test_deeply_nested_multipart_is_cut_off_not_crashed() -> None:
    depth = 60
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(depth)
    )
    raw = b"Subject: deep\r\n" + head + b"Content-Type: text/plain\r\n\r\ninnermost\r\n"
    parsed = parse_message(raw)
    assert parsed.subject == "deep"
    assert any("nested deeper" in d for d in parsed.defects)


def test_str_input_is_tolerated() -> None:
    parsed = parse_message("Subject: text\r\n\r\nbody")  # type: ignore[arg-type]
    assert parsed.subject == "text" and parsed.body_text == "body"


# --------------------------------------------------------------------------- details


def test_dates() -> None:
    unknown_zone = parse_message(b"Date: Tue, 24 Nov 2026 14:00:00 -0000\r\n\r\nx")
    assert unknown_zone.date == datetime(2026, 11, 24, 14, tzinfo=UTC)
    offset = parse_message(b"Date: Tue, 24 Nov 2026 14:00:00 +0530\r\n\r\nx")
    assert offset.date is not None and offset.date.utcoffset() == timedelta(hours=5, minutes=30)


def test_header_values_are_first_occurrence_decoded_and_unfolded() -> None:
    raw = (
        b"Received: from a\r\n by b\r\nReceived: from c\r\nX-Note: =?utf-8?q?caf=C3=A9?=\r\n"
        b"Subject: s\r\n\r\nbody"
    )
    parsed = parse_message(raw)
    assert parsed.headers["Received"] == "from a by b"
    assert parsed.headers["X-Note"] == "café"


def test_address_edge_cases() -> None:
    raw = (
        b'From: "Last, First" <First.Last@Example.COM>\r\n'
        b"To: undisclosed-recipients:;\r\n"
        b"Cc: a@example.com, , b@EXAMPLE.com, not-an-address\r\n\r\nx"
    )
    parsed = parse_message(raw)
    assert (parsed.from_address, parsed.from_name) == ("First.Last@example.com", "Last, First")
    assert parsed.to == []
    assert parsed.cc == ["a@example.com", "b@example.com"]


def test_text_and_html_alternative_keep_both() -> None:
    raw = build_message(
        from_address="a@example.com",
        to=["b@example.com"],
        subject="alt",
        body_text="plain version",
        body_html="<p>html <i>version</i></p>",
    )
    parsed = parse_message(raw)
    assert parsed.body_text == "plain version"
    assert parsed.body_html == "<p>html <i>version</i></p>"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Invoice 42", "invoice 42"),
        ("Re: Invoice 42", "invoice 42"),
        ("RE: re: Re:Invoice 42", "invoice 42"),
        ("Fwd: FW: Fw: Invoice 42", "invoice 42"),
        ("AW: WG: Sv: Antw: Invoice 42", "invoice 42"),
        ("Re[2]: Re (3): Invoice 42", "invoice 42"),
        ("Re\uff1a Invoice 42", "invoice 42"),
        ("  Re:   Invoice \t 42  ", "invoice 42"),
        ("[list] Re: Invoice 42", "[list] re: invoice 42"),
        ("Regarding the invoice", "regarding the invoice"),
        ("Re:", ""),
        ("", ""),
        ("STRASSE Straße", "strasse strasse"),
    ],
)
def test_normalize_subject(subject: str, expected: str) -> None:
    assert normalize_subject(subject) == expected


def test_make_message_id() -> None:
    first, second = make_message_id("Example.COM"), make_message_id("user@example.com")
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.com>", first)
    assert second.endswith("@example.com>") and first != second
    for bad in ("", "exa mple.com", "<x>", "a\r\nb"):
        with pytest.raises(InvalidRequestError):
            make_message_id(bad)


def test_html_to_text() -> None:
    text = html_to_text("<style>.x{}</style><h2>Title</h2><p>a &amp; b</p><br><ul><li>one</li></ul>")
    assert "Title" in text and "a & b" in text and "one" in text and ".x{}" not in text
    assert html_to_text("") == "" and html_to_text("   ") == ""
    assert html_to_text("<p>unclosed <b>bold").startswith("unclosed")


# --------------------------------------------------------------------------- building


def _outgoing(**overrides: object) -> bytes:
    fields: dict[str, object] = {
        "from_address": "agent@sandbox.robotomail.test",
        "to": ["customer@example.com"],
        "subject": "Your refund",
        "body_text": "Hello",
    }
    fields.update(overrides)
    return build_message(**fields)  # type: ignore[arg-type]


def test_build_is_rfc5322_crlf_and_7bit() -> None:
    raw = _outgoing(
        subject="Rückerstattung — ✓ " + "long " * 40,
        body_text="Grüße\n" + "y" * 2000,
        from_name="Agent Ünïcode",
        attachments=[ParsedAttachment("naïve.txt", "text/plain", "ü".encode(), None, False)],
    )
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    parsed_std = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed_std["MIME-Version"] == "1.0"
    assert parsed_std["Message-ID"].endswith("@sandbox.robotomail.test>")
    assert parsed_std["Date"] is not None
    assert "Bcc" not in parsed_std
    # Only the top level carries MIME-Version.
    assert raw.count(b"MIME-Version") == 1


def test_build_threading_headers() -> None:
    parsed = parse_message(_outgoing(in_reply_to="<parent@x.org>", references=["<root@x.org>"]))
    assert parsed.in_reply_to == "<parent@x.org>"
    assert parsed.references == ["<root@x.org>", "<parent@x.org>"]
    parsed = parse_message(_outgoing(in_reply_to="bare@x.org", message_id="given@y.org"))
    assert parsed.references == ["<bare@x.org>"] and parsed.message_id == "<given@y.org>"


def test_build_inline_images_go_into_related_and_attachments_into_mixed() -> None:
    raw = _outgoing(
        body_html='<p><img src="cid:logo@x"></p>',
        attachments=[
            ParsedAttachment("logo.png", "image/png", b"\x89PNGdata", "logo@x", True),
            ParsedAttachment("terms.pdf", "application/pdf", b"%PDF", None, False),
        ],
    )
    tree = BytesParser(policy=policy.default).parsebytes(raw)
    assert tree.get_content_type() == "multipart/mixed"
    types = [p.get_content_type() for p in tree.walk()]
    assert types == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
        "application/pdf",
    ]
    parsed = parse_message(raw)
    assert [(a.filename, a.content_id, a.inline) for a in parsed.attachments] == [
        ("logo.png", "logo@x", True),
        ("terms.pdf", None, False),
    ]


def test_build_custom_headers() -> None:
    parsed = parse_message(
        _outgoing(headers={"X-Robotomail-Idempotency-Key": "k1", "Auto-Submitted": "auto-replied"})
    )
    assert parsed.headers["X-Robotomail-Idempotency-Key"] == "k1"
    assert parsed.headers["Auto-Submitted"] == "auto-replied"


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": "Hi\r\nBcc: victim@example.com"},
        {"from_name": "Eve\nBcc: x@example.com"},
        {"to": ["not an address"]},
        {"to": ["a@example.com\r\nBcc: b@example.com"]},
        {"from_address": "nobody"},
        {"headers": {"Bcc": "x@example.com"}},
        {"headers": {"Content-Type": "text/html"}},
        {"headers": {"Bad Name": "v"}},
        {"headers": {"X-Custom-A": "v\r\nInjected: 1"}},
        {"headers": {"X-Custom-A": "v" * 1000}},
        {"in_reply_to": "<a@b>\r\nX: y"},
        {"message_id": "has space@x"},
        {"attachments": [ParsedAttachment("a\r\nb.txt", "text/plain", b"x", None, False)]},
    ],
)
def test_build_refuses_bad_input(overrides: dict[str, object]) -> None:
    with pytest.raises(InvalidRequestError):
        _outgoing(**overrides)


def test_build_odd_content_type_falls_back_to_octet_stream() -> None:
    parsed = parse_message(_outgoing(attachments=[ParsedAttachment("x", "garbage", b"1", None, False)]))
    assert parsed.attachments[0].content_type == "application/octet-stream"


def test_build_naive_date_is_utc_and_offsets_kept() -> None:
    parsed = parse_message(_outgoing(date=datetime(2026, 1, 2, 3, 4, 5)))
    assert parsed.date == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    tz = timezone(timedelta(hours=-7))
    parsed = parse_message(_outgoing(date=datetime(2026, 1, 2, 3, 4, 5, tzinfo=tz)))
    assert parsed.date is not None and parsed.date.utcoffset() == timedelta(hours=-7)


# --------------------------------------------------------------------------- round trip (property)

# Characters the MIME line model itself rewrites (line separators other than \n, and lone
# CR) cannot survive any email round trip, so they are outside the property; so are
# surrogates, which are not text.
_TEXT = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc", "Zl", "Zp"),
        blacklist_characters="\x85",
    )
    | st.sampled_from(["\n", "\t", " "]),
    max_size=300,
)
_LINE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\x85"),
    max_size=120,
)
_LOCAL = st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,15}[a-z0-9]", fullmatch=True).filter(lambda s: ".." not in s)
_DOMAIN = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]\.(com|org|de|test)", fullmatch=True)
_ADDRESS = st.builds(lambda local, domain: f"{local}@{domain}", _LOCAL, _DOMAIN)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=_LINE,
    body=_TEXT,
    html_body=st.none() | _TEXT,
    sender=_ADDRESS,
    name=st.none() | _LINE.filter(lambda s: s.strip() != ""),
    to=st.lists(_ADDRESS, min_size=1, max_size=4),
    cc=st.lists(_ADDRESS, max_size=3),
    # email.utils.unquote strips a <...> wrapper from parameter values; path separators are
    # deliberately removed from inbound filenames.
    filename=_LINE.filter(
        lambda s: (
            s.strip() not in ("", ".", "..")
            and "/" not in s
            and "\\" not in s
            and not (s.strip().startswith("<") and s.strip().endswith(">"))
        )
    ),
    data=st.binary(max_size=300),
)
def test_build_then_parse_is_identity(
    subject: str,
    body: str,
    html_body: str | None,
    sender: str,
    name: str | None,
    to: list[str],
    cc: list[str],
    filename: str,
    data: bytes,
) -> None:
    raw = build_message(
        from_address=sender,
        from_name=name,
        to=to,
        cc=cc,
        subject=subject,
        body_text=body,
        body_html=html_body,
        attachments=[ParsedAttachment(filename, "application/octet-stream", data, None, False)],
    )
    parsed = parse_message(raw)
    assert parsed.subject == subject.strip()
    assert parsed.body_text == body.rstrip("\n")
    if html_body is None:
        assert parsed.body_html is None
    else:
        assert parsed.body_html == html_body.rstrip("\n")
    assert parsed.from_address == sender
    # A display name is an RFC 5322 phrase: its whitespace is not significant.
    assert (parsed.from_name or "").split() == (name or "").split()
    assert parsed.to == to and parsed.cc == cc
    assert [(a.filename, a.data) for a in parsed.attachments] == [(filename.strip(), data)]
    assert parsed.defects == []


@pytest.mark.parametrize(
    ("label", "text", "codec"),
    [
        ("windows-1252", "“smart” €", "cp1252"),
        ("cp-1252", "“smart” €", "cp1252"),
        ("iso-8859-1", "“smart” €", "cp1252"),
        ("iso-8859-8-i", "שלום", "iso8859-8"),
        ("x-mac-roman", "café", "mac-roman"),
        ("x-sjis", "テスト", "cp932"),
        ("windows-874", "สวัสดี", "cp874"),
        ("utf8", "naïve", "utf-8"),
        ('"UTF-8"', "naïve", "utf-8"),
    ],
)
def test_charset_labels_as_mail_clients_write_them(label: str, text: str, codec: str) -> None:
    head = (
        "From: a@example.com\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\nMessage-ID: <l@example.com>\r\n"
        f"Subject: s\r\nContent-Type: text/plain; charset={label}\r\n\r\n"
    )
    raw = head.encode() + text.encode(codec)
    parsed = parse_message(raw)
    assert parsed.body_text == text
    assert parsed.defects == []


def test_fifty_recipients_fold_into_short_lines_and_round_trip() -> None:
    to = [f"recipient.number.{i:02d}@customers.example.com" for i in range(50)]
    raw = _outgoing(to=to, cc=to[:3], from_name="Support — Ünïcode Team")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    parsed = parse_message(raw)
    assert parsed.to == to and parsed.cc == to[:3]
    assert parsed.from_name == "Support — Ünïcode Team"
    assert parsed.defects == []


def test_format_flowed_with_delsp() -> None:
    raw = (
        b"Subject: s\r\nContent-Type: text/plain; charset=utf-8; format=flowed; delsp=yes\r\n\r\n"
        b"Lang \r\nwort\r\n>> deep \r\n>> quote\r\n"
    )
    assert parse_message(raw).body_text == "Langwort\n>> deepquote"


def test_huge_html_uses_the_linear_fallback() -> None:
    block = "<div><p>Hello <b>world</b> &amp; friends</p><script>var x = 1;</script></div>"
    text = html_to_text("<html><body>" + block * 20000 + "</body></html>")
    assert text.count("Hello world & friends") == 20000
    assert "var x" not in text and "<" not in text


def test_many_broken_parts_keep_defects_bounded() -> None:
    parts = b"".join(
        b"--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-Disposition: attachment; filename=f%d.bin\r\n\r\n!!!\r\n" % i
        for i in range(400)
    )
    raw = b'Subject: many\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n' + parts + b"--B--\r\n"
    parsed = parse_message(raw)
    assert len(parsed.attachments) == 20 and parsed.attachments_dropped_reason == "count"
    assert len(parsed.defects) == 201 and parsed.defects[-1].endswith("more defects")


@settings(max_examples=200, deadline=None)
@given(
    subject=st.text(max_size=60),
    prefixes=st.lists(
        st.sampled_from(["Re: ", "RE:", "Fwd: ", "FW: ", "AW: ", "Sv:", "Antw: ", "Re[4]: "]), max_size=4
    ),
)
def test_normalize_subject_ignores_prefixes_and_is_idempotent(subject: str, prefixes: list[str]) -> None:
    key = normalize_subject(subject)
    assert normalize_subject("".join(prefixes) + subject) == key
    assert normalize_subject(key) == key


def test_blank_lines_before_headers_and_mbox_from_line() -> None:
    parsed = parse_message(b"\r\n\r\nFrom: a@example.com\r\nSubject: late headers\r\n\r\nbody")
    assert (parsed.subject, parsed.from_address, parsed.body_text) == (
        "late headers",
        "a@example.com",
        "body",
    )
    assert "blank lines before the headers removed" in parsed.defects
    mbox = parse_message(
        b"From a@example.com Tue Nov 24 10:00:00 2026\nFrom: a@example.com\nSubject: mbox\n\nbody\n"
    )
    assert (mbox.subject, mbox.body_text) == ("mbox", "body")
