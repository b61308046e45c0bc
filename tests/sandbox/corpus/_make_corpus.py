"""Regenerate the corpus of hard inbound messages: ``python tests/sandbox/corpus/_make_corpus.py``.

Each message is written byte for byte (odd charsets and broken MIME cannot be produced by a
well-behaved generator), and ``cases.json`` records what a correct parser must extract. The
>25 MB attachment is not stored: tests generate it (see ``big_attachment_message``).
"""

from __future__ import annotations

import base64
import json
import quopri
from pathlib import Path

HERE = Path(__file__).parent
CRLF = b"\r\n"
RCPT = "inbox@sandbox.robotomail.test"

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", CRLF)


def msg(headers: list[str | bytes], body: bytes, *, eol: bytes = CRLF) -> bytes:
    lines = [h.encode("ascii") if isinstance(h, str) else h for h in headers]
    return eol.join(lines) + eol + eol + body.replace(b"\r\n", b"\n").replace(b"\n", eol)


def base(subject: str | bytes, *, mid: str, extra: list[str | bytes] | None = None) -> list[str | bytes]:
    subj = subject if isinstance(subject, bytes) else subject.encode("ascii")
    return [
        "From: Alice Sender <alice@example.org>",
        f"To: Inbox <{RCPT}>",
        b"Subject: " + subj,
        "Date: Tue, 24 Nov 2026 10:00:00 +0100",
        f"Message-ID: <{mid}@example.org>",
        *(extra or []),
    ]


def build() -> dict[str, tuple[bytes, dict[str, object]]]:
    cases: dict[str, tuple[bytes, dict[str, object]]] = {}

    cases["01_plain_utf8.eml"] = (
        msg(
            [
                *base("=?utf-8?q?Caf=C3=A9_meeting?=", mid="c01"),
                "MIME-Version: 1.0",
                'Content-Type: text/plain; charset="utf-8"',
                "Content-Transfer-Encoding: 8bit",
            ],
            "Hello, the café opens at 9 — see you there ☕\n".encode(),
        ),
        {
            "subject": "Café meeting",
            "body_contains": ["café opens at 9 — see you there ☕"],
            "from": "alice@example.org",
            "from_name": "Alice Sender",
            "attachments": 0,
        },
    )

    cases["02_latin1_qp.eml"] = (
        msg(
            [
                *base("Facture =?iso-8859-1?q?r=E9gl=E9e?=", mid="c02"),
                "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=iso-8859-1",
                "Content-Transfer-Encoding: quoted-printable",
            ],
            quopri.encodestring("Votre facture a été réglée. Merci beaucoup, àçèù.\n".encode("latin-1")),
        ),
        {
            "subject": "Facture réglée",
            "body_contains": ["Votre facture a été réglée", "àçèù"],
            "attachments": 0,
        },
    )

    cases["03_undeclared_utf8_8bit.eml"] = (
        msg(
            [
                *base("Grüße aus Köln".encode(), mid="c03"),
                "MIME-Version: 1.0",
                "Content-Type: text/plain",
                "Content-Transfer-Encoding: 8bit",
            ],
            "Schöne Grüße, Jürgen — Straße 5\n".encode(),
        ),
        {
            "subject": "Grüße aus Köln",
            "body_contains": ["Schöne Grüße, Jürgen — Straße 5"],
            "attachments": 0,
            "defects": True,
        },
    )

    cases["04_undeclared_cp1252.eml"] = (
        msg(
            [*base("Quote test", mid="c04"), "MIME-Version: 1.0", "Content-Type: text/plain"],
            "He said “hello” – it’s café time.\n".encode("cp1252"),
        ),
        {"subject": "Quote test", "body_contains": ["He said “hello” – it’s café time."], "attachments": 0},
    )

    cases["05_wrong_charset.eml"] = (
        msg(
            [
                *base("Mislabelled", mid="c05"),
                "MIME-Version: 1.0",
                "Content-Type: multipart/mixed; boundary=XX",
            ],
            b"--XX\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            + "naïve résumé (utf-8 bytes declared ascii)\n".encode()
            + b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            + "Ångström (latin-1 bytes declared utf-8)\n".encode("latin-1")
            + b"--XX--\r\n",
        ),
        {
            "subject": "Mislabelled",
            "body_contains": ["naïve résumé", "Ångström"],
            "attachments": 0,
            "defects": True,
        },
    )

    cases["06_unknown_charset.eml"] = (
        msg(
            [
                *base("=?x-klingon?q?Qapla=27?= unknown charset", mid="c06"),
                "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=x-klingon",
            ],
            b"Qapla' -- plain ASCII in an unknown charset\n",
        ),
        {
            "subject_contains": "unknown charset",
            "body_contains": ["Qapla' -- plain ASCII"],
            "attachments": 0,
            "defects": True,
        },
    )

    html = (
        "<html><head><style>p { color: red }</style><script>alert('x')</script></head>"
        "<body><h1>Order shipped</h1><p>Your order <b>#4521</b> is on its way &amp; arrives "
        "Friday.</p><p><a href='https://track.example.org/4521'>Track it</a></p></body></html>\n"
    )
    cases["07_html_only.eml"] = (
        msg(
            [
                *base("Your order shipped", mid="c07"),
                "MIME-Version: 1.0",
                'Content-Type: text/html; charset="utf-8"',
                "Content-Transfer-Encoding: base64",
            ],
            b64(html.encode()),
        ),
        {
            "subject": "Your order shipped",
            "html": True,
            "body_contains": ["Order shipped", "#4521", "arrives Friday", "https://track.example.org/4521"],
            "body_excludes": ["alert(", "color: red", "<p>"],
            "attachments": 0,
        },
    )

    inner = msg(
        [
            "From: Bob <bob@example.net>",
            "To: alice@example.org",
            "Subject: Original question",
            "Date: Mon, 23 Nov 2026 09:00:00 +0000",
            "Message-ID: <inner@example.net>",
        ],
        b"Is the invoice paid?\n",
    )
    nested_body = (
        b"--OUTER\r\n"
        b"Content-Type: multipart/alternative; boundary=ALT\r\n\r\n"
        b"--ALT\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"See the chart below and the attached PDF.\r\n"
        b"--ALT\r\nContent-Type: multipart/related; boundary=REL\r\n\r\n"
        b"--REL\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b'<p>See the chart <img src="cid:chart@example.org"> and the PDF.</p>\r\n'
        b"--REL\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-ID: <chart@example.org>\r\nContent-Disposition: inline; filename=chart.png\r\n\r\n"
        + b64(PNG)
        + b"--REL--\r\n--ALT--\r\n"
        b"--OUTER\r\nContent-Type: application/pdf; name=report.pdf\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-Disposition: attachment; filename=report.pdf\r\n\r\n"
        + b64(PDF)
        + b"--OUTER\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"
        + inner
        + b"\r\n--OUTER--\r\n"
    )
    cases["08_nested_multipart.eml"] = (
        msg(
            [
                *base("Quarterly report", mid="c08"),
                "MIME-Version: 1.0",
                'Content-Type: multipart/mixed; boundary="OUTER"',
            ],
            nested_body,
        ),
        {
            "subject": "Quarterly report",
            "html": True,
            "body_contains": ["See the chart below and the attached PDF."],
            "attachments": 3,
            "filenames": ["chart.png", "report.pdf"],
            "inline": ["chart@example.org"],
            "attachment_bytes": {"chart.png": len(PNG), "report.pdf": len(PDF)},
        },
    )

    related = b'--R\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Logo: <img src="cid:logo"> Photo: <img src="cid:photo"></p>\r\n'
    for cid in ("logo", "photo"):
        related += (
            b"--R\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"
            + f"Content-ID: <{cid}>\r\n\r\n".encode()
            + b64(PNG)
        )
    related += b"--R--\r\n"
    cases["09_inline_images.eml"] = (
        msg(
            [
                *base("Two inline images", mid="c09"),
                "MIME-Version: 1.0",
                'Content-Type: multipart/related; boundary="R"; type="text/html"',
            ],
            related,
        ),
        {
            "subject": "Two inline images",
            "html": True,
            "body_contains": ["Logo:", "Photo:"],
            "attachments": 2,
            "inline": ["logo", "photo"],
        },
    )

    many = b"--M\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nTwenty-three files attached.\r\n"
    for i in range(1, 24):
        many += (
            b"--M\r\nContent-Type: text/plain; charset=utf-8\r\n"
            + f"Content-Disposition: attachment; filename=file{i:02d}.txt\r\n\r\n".encode()
            + f"file number {i}\r\n".encode()
        )
    many += b"--M--\r\n"
    cases["10_many_attachments.eml"] = (
        msg(
            [
                *base("23 attachments", mid="c10"),
                "MIME-Version: 1.0",
                'Content-Type: multipart/mixed; boundary="M"',
            ],
            many,
        ),
        {
            "subject": "23 attachments",
            "body_contains": ["Twenty-three files attached."],
            "attachments": 20,
            "dropped": "count",
            "filenames": [f"file{i:02d}.txt" for i in range(1, 21)],
        },
    )

    cases["12_broken_headers.eml"] = (
        msg(
            [
                "From: =?utf-8?B?broken-encoded-word <not an address",
                "To: " + RCPT,
                "Subject: =?utf-8?q?half=ZZ?= done",
                "Date: Someday, 99 Foo 20260 25:61:00 +9999",
                "Message-ID: <c12@example.org>",
                "X-Garbage: \x01\x02control",
                "This line has no colon and ends the header block",
                "Content-Type: text/plain",
            ],
            b"The body still arrives.\n",
        ),
        {
            "subject_contains": "done",
            "body_contains": ["The body still arrives."],
            "date": None,
            "defects": True,
        },
    )

    cases["13_missing_date_and_id.eml"] = (
        msg(["From: carol@example.com", f"To: {RCPT}", "Subject: No date, no id"], b"Nothing but a body.\n"),
        {
            "subject": "No date, no id",
            "body_contains": ["Nothing but a body."],
            "date": None,
            "message_id": None,
            "from": "carol@example.com",
        },
    )

    for suffix, text in (("a", "First message with this id."), ("b", "Second, different message, same id.")):
        cases[f"14_duplicate_message_id_{suffix}.eml"] = (
            msg(
                [
                    "From: dave@example.com",
                    f"To: {RCPT}",
                    f"Subject: Duplicate id {suffix}",
                    "Date: Tue, 24 Nov 2026 11:00:00 +0000",
                    "Message-ID: <same-id@example.com>",
                ],
                text.encode() + b"\n",
            ),
            {
                "subject": f"Duplicate id {suffix}",
                "body_contains": [text],
                "message_id": "<same-id@example.com>",
            },
        )

    ew_body = (
        b"--E\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + b64("Привет! Файлы во вложении.\n".encode())
        + b"--E\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''%D0%BE%D1%82%D1%87%D1%91%D1%82.bin\r\n\r\n"
        + b64(b"\x00\x01\x02binary")
        + b'--E\r\nContent-Type: text/csv; name="=?utf-8?q?donn=C3=A9es.csv?="\r\n'
        b'Content-Disposition: attachment; filename="=?utf-8?q?donn=C3=A9es.csv?="\r\n\r\n'
        b"a,b\r\n1,2\r\n"
        b"--E--\r\n"
    )
    cases["15_encoded_words.eml"] = (
        msg(
            [
                "From: =?utf-8?B?0JjQstCw0L0g0J/QtdGC0YDQvtCy?= <ivan@example.ru>",
                f'To: =?utf-8?q?Doe=2C_John?= <john@example.com>, "Smith, Ann" <ann@example.com>, {RCPT}',
                "Cc: =?iso-8859-1?q?J=FCrgen?= <juergen@example.de>",
                "Subject: =?utf-8?B?0J7RgtGH0ZHRgg==?= =?utf-8?q?_=E2=80=94_Q3?=",
                "Date: Tue, 24 Nov 2026 12:00:00 +0300",
                "Message-ID: <c15@example.ru>",
                "MIME-Version: 1.0",
                'Content-Type: multipart/mixed; boundary="E"',
            ],
            ew_body,
        ),
        {
            "subject": "Отчёт — Q3",
            "from": "ivan@example.ru",
            "from_name": "Иван Петров",
            "to": ["john@example.com", "ann@example.com", RCPT],
            "cc": ["juergen@example.de"],
            "body_contains": ["Привет! Файлы во вложении."],
            "attachments": 2,
            "filenames": ["отчёт.bin", "données.csv"],
        },
    )

    cases["16_folded_headers.eml"] = (
        msg(
            [
                "From: Erin <erin@example.com>",
                f"To: {RCPT}",
                "Subject: This is a very long subject line that was folded",
                "   across several lines by a",
                "\tcareful mail client",
                "Date: Tue, 24 Nov 2026 13:00:00 +0000",
                "Message-ID: <c16@example.com>",
                "In-Reply-To: <parent@example.com>",
                "References: <root@example.com>",
                " <parent@example.com>",
                "MIME-Version: 1.0",
                "Content-Type: text/plain;",
                " charset=utf-8",
            ],
            b"Folded headers body.\n",
        ),
        {
            "subject": "This is a very long subject line that was folded   across several lines by a\tcareful mail client",
            "body_contains": ["Folded headers body."],
            "in_reply_to": "<parent@example.com>",
            "references": ["<root@example.com>", "<parent@example.com>"],
        },
    )

    cases["17_broken_base64.eml"] = (
        msg(
            [
                *base("Broken base64 and no closing boundary", mid="c17"),
                "MIME-Version: 1.0",
                'Content-Type: multipart/mixed; boundary="B"',
            ],
            b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBody before the broken part.\r\n"
            b"--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=broken.bin\r\n\r\nSGVsbG8gV29ybGQ!!!@@@===x\r\n",
        ),
        {
            "subject": "Broken base64 and no closing boundary",
            "body_contains": ["Body before the broken part."],
            "attachments": 1,
            "filenames": ["broken.bin"],
            "defects": True,
        },
    )

    cases["18_multipart_without_boundary.eml"] = (
        msg(
            [
                *base("Multipart without boundary", mid="c18"),
                "MIME-Version: 1.0",
                "Content-Type: multipart/mixed",
            ],
            b"This text sits in a multipart that never declared its boundary.\n",
        ),
        {
            "subject": "Multipart without boundary",
            "body_contains": ["never declared its boundary"],
            "defects": True,
        },
    )

    cases["19_lf_line_endings.eml"] = (
        msg(
            [*base("LF only", mid="c19"), "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"],
            b"Line one.\nLine two.\n",
            eol=b"\n",
        ),
        {"subject": "LF only", "body_contains": ["Line one.\nLine two."]},
    )

    cases["20_iso2022jp.eml"] = (
        msg(
            [
                *base("=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=", mid="c20"),
                "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=ISO-2022-JP",
                "Content-Transfer-Encoding: 7bit",
            ],
            "こんにちは、テストです。\n".encode("iso-2022-jp"),
        ),
        {"subject": "テスト", "body_contains": ["こんにちは、テストです。"]},
    )

    cases["21_koi8r.eml"] = (
        msg(
            [
                *base("=?koi8-r?B?" + base64.b64encode("Счёт".encode("koi8-r")).decode() + "?=", mid="c21"),
                "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=koi8-r",
                "Content-Transfer-Encoding: 8bit",
            ],
            "Оплатите счёт до пятницы.\n".encode("koi8-r"),
        ),
        {"subject": "Счёт", "body_contains": ["Оплатите счёт до пятницы."]},
    )

    cases["22_gb2312_base64.eml"] = (
        msg(
            [
                *base("=?gb2312?B?" + base64.b64encode("你好".encode("gb2312")).decode() + "?=", mid="c22"),
                "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=gb2312",
                "Content-Transfer-Encoding: base64",
            ],
            b64("欢迎使用我们的服务。\n".encode("gb2312")),
        ),
        {"subject": "你好", "body_contains": ["欢迎使用我们的服务。"]},
    )

    cases["23_headers_only.eml"] = (
        msg([*base("Headers only", mid="c23")], b""),
        {"subject": "Headers only", "body": ""},
    )

    cases["24_reply_prefixes.eml"] = (
        msg(
            [
                *base(
                    "RE: AW: Re[2]: Fwd:  Invoice   42",
                    mid="c24",
                    extra=[
                        "In-Reply-To: <c02@example.org>",
                        "References: <c01@example.org> <c02@example.org>",
                        "Auto-Submitted: auto-replied",
                        "Reply-To: billing@example.org",
                    ],
                ),
                "Content-Type: text/plain; charset=utf-8",
            ],
            b"Replying in the thread.\n",
        ),
        {
            "subject": "RE: AW: Re[2]: Fwd:  Invoice   42",
            "normalized": "invoice 42",
            "in_reply_to": "<c02@example.org>",
            "references": ["<c01@example.org>", "<c02@example.org>"],
            "reply_to": ["billing@example.org"],
            "headers": {"Auto-Submitted": "auto-replied"},
            "body_contains": ["Replying in the thread."],
        },
    )

    cases["25_bare_message_id.eml"] = (
        msg(
            [
                "From: frank@example.com",
                f"To: {RCPT}",
                "Subject: Bare id",
                "Date: Tue, 24 Nov 2026 14:00:00 -0000",
                "Message-ID: bare-id-without-brackets@example.com",
            ],
            b"Id without angle brackets.\n",
        ),
        {
            "subject": "Bare id",
            "message_id": "<bare-id-without-brackets@example.com>",
            "body_contains": ["Id without angle brackets."],
        },
    )

    cases["26_dot_lines_and_long_line.eml"] = (
        msg(
            [*base("Dots and a long line", mid="c26"), "Content-Type: text/plain; charset=utf-8"],
            b".\n..two dots\n.starts with a dot\n" + b"x" * 1500 + b"\nend\n",
        ),
        {
            "subject": "Dots and a long line",
            "body_contains": ["..two dots\n.starts with a dot", "x" * 1500 + "\nend"],
        },
    )

    cases["27_text_attachment_inline_calendar.eml"] = (
        msg(
            [
                *base("Meeting invite", mid="c27"),
                "MIME-Version: 1.0",
                'Content-Type: multipart/mixed; boundary="C"',
            ],
            b"--C\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nInvite attached.\r\n"
            b"--C\r\nContent-Type: text/calendar; method=REQUEST; charset=utf-8\r\n\r\n"
            b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n--C--\r\n",
        ),
        {
            "subject": "Meeting invite",
            "body_contains": ["Invite attached."],
            "body_excludes": ["BEGIN:VCALENDAR"],
            "attachments": 1,
        },
    )
    cases["28_bounce_dsn.eml"] = (
        msg(
            [
                "From: Mail Delivery System <MAILER-DAEMON@example.org>",
                f"To: {RCPT}",
                "Subject: Undelivered Mail Returned to Sender",
                "Date: Tue, 24 Nov 2026 15:00:00 +0000",
                "Message-ID: <dsn-1@example.org>",
                "Auto-Submitted: auto-replied",
                "MIME-Version: 1.0",
                'Content-Type: multipart/report; report-type=delivery-status; boundary="D"',
            ],
            b"--D\r\nContent-Type: text/plain\r\n\r\nThis is the mail system. Your message could not be delivered.\r\n"
            b"--D\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
            b"Final-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
            b"--D\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: inbox@sandbox.robotomail.test\r\nSubject: hello\r\n"
            b"--D--\r\n",
        ),
        {
            "subject": "Undelivered Mail Returned to Sender",
            "from": "MAILER-DAEMON@example.org",
            "body_contains": ["Your message could not be delivered."],
            "body_excludes": ["Final-Recipient"],
            "attachments": 2,
            "filenames": ["delivery-status.txt", "rfc822-headers.txt"],
            "headers": {"Auto-Submitted": "auto-replied"},
        },
    )

    cases["29_format_flowed.eml"] = (
        msg(
            [
                *base("Flowed text", mid="c29"),
                "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=utf-8; format=flowed; delsp=no",
            ],
            b"This paragraph was wrapped by the sender's \nclient and must be joined \nagain.\n"
            b"> A quoted line that \n> also flows.\n\n-- \nSignature\n",
        ),
        {
            "subject": "Flowed text",
            "body_contains": [
                "This paragraph was wrapped by the sender's client and must be joined again.",
                "> A quoted line that also flows.",
                "-- \nSignature",
            ],
        },
    )
    html_1251 = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251"></head>'
        "<body><p>Здравствуйте! Ваш заказ отправлен.</p></body></html>\n"
    )
    cases["30_html_meta_charset.eml"] = (
        msg(
            [
                *base("Meta charset only", mid="c30"),
                "MIME-Version: 1.0",
                "Content-Type: text/html",
                "Content-Transfer-Encoding: 8bit",
            ],
            html_1251.encode("cp1251"),
        ),
        {
            "subject": "Meta charset only",
            "html": True,
            "body_contains": ["Здравствуйте! Ваш заказ отправлен."],
        },
    )

    cases["31_latin1_label_cp1252_bytes.eml"] = (
        msg(
            [
                *base("Smart quotes labelled latin-1", mid="c31"),
                "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=iso-8859-1",
                "Content-Transfer-Encoding: 8bit",
            ],
            "“Quoted” — and a euro sign: 20 €\n".encode("cp1252"),
        ),
        {"subject": "Smart quotes labelled latin-1", "body_contains": ["“Quoted” — and a euro sign: 20 €"]},
    )

    cases["32_outlook_korean_and_gbk.eml"] = (
        msg(
            [
                *base(
                    "=?ks_c_5601-1987?B?" + base64.b64encode("안녕하세요".encode("cp949")).decode() + "?=",
                    mid="c32",
                ),
                "MIME-Version: 1.0",
                'Content-Type: multipart/mixed; boundary="K"',
            ],
            b"--K\r\nContent-Type: text/plain; charset=ks_c_5601-1987\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + "회의는 내일입니다.\n".encode("cp949")
            + b"--K\r\nContent-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + "朱镕基 (GBK-only character labelled gb2312)\n".encode("gbk")
            + b"--K--\r\n",
        ),
        {
            "subject": "안녕하세요",
            "body_contains": ["회의는 내일입니다.", "朱镕基 (GBK-only character labelled gb2312)"],
        },
    )
    return cases


def main() -> None:
    expectations = {}
    for name, (raw, expected) in build().items():
        (HERE / name).write_bytes(raw)
        expectations[name] = expected
    (HERE / "cases.json").write_text(
        json.dumps(expectations, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()
