"""Inbound storage (SMTP, injection, local delivery), the outbox, bounces and complaints.

Mixed into :class:`~agentmail_tools.sandbox._service.SandboxService`.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from datetime import datetime
from typing import Any

from .._errors import InvalidRequestError
from .._mime import ParsedAttachment, build_message, make_message_id, parse_message
from .._validation import normalize_address
from ._core import ServiceCore
from ._http import ApiError
from ._store import dumps, loads, new_id, now_iso, to_iso
from ._wire import event_attachment, message_json

__all__ = ["DeliveryOps"]

logger = logging.getLogger("agentmail_tools")


class DeliveryOps(ServiceCore):
    """Inbound storage, outbox, bounce and complaint operations."""

    def _to_outbox(self, mailbox: sqlite3.Row, row: sqlite3.Row, rcpts: list[str]) -> None:
        # The MIME source is rendered lazily (on first read or relay): building it with the
        # stdlib email package costs more than the rest of a send put together.
        outbox_id = new_id()
        self.store.run(
            "INSERT INTO outbox(id, message_id, mailbox_id, rfc_message_id, mail_from, rcpt_tos, subject, raw,"
            " relay_status, created_at) VALUES (?,?,?,?,?,?,?,NULL,?,?)",
            (outbox_id, row["id"], mailbox["id"], row["message_id"], row["from_address"], dumps(rcpts),
             row["subject"], "PENDING" if self.smarthost else "HELD", now_iso()),
        )  # fmt: skip
        if self.smarthost:
            self.relay_later(outbox_id)

    def outbox_raw(self, outbox_row: sqlite3.Row) -> bytes:
        """The outbox entry's RFC 5322 source, rendered from its message on first use."""
        if outbox_row["raw"] is not None:
            return bytes(outbox_row["raw"])
        row = self.store.one("SELECT * FROM messages WHERE id = ?", (outbox_row["message_id"],))
        if row is None:
            return b""
        attachments = self.store.all(
            "SELECT * FROM attachments WHERE message_id = ? ORDER BY rowid", (row["id"],)
        )
        parts = [
            ParsedAttachment(filename=a["filename"], content_type=a["content_type"],
                             data=self.store.get_blob(a["blob_key"]) or b"", content_id=a["content_id"],
                             inline=bool(a["inline"]))
            for a in attachments
        ]  # fmt: skip
        try:
            raw = build_message(
                from_address=row["from_address"], from_name=row["from_name"], to=loads(row["to_addresses"]),
                cc=loads(row["cc_addresses"]), subject=row["subject"], body_text=row["body_text"],
                body_html=row["body_html"], message_id=row["message_id"], in_reply_to=row["in_reply_to"],
                references=loads(row["refs"]), headers=loads(row["headers"]) or None, attachments=parts,
                date=datetime.fromisoformat(row["created_at"]),
            )  # fmt: skip
        except Exception:  # never let one unrenderable message break the outbox listing
            logger.exception("could not render outbox message %s as MIME", outbox_row["id"])
            return b""
        self.store.run("UPDATE outbox SET raw = ? WHERE id = ?", (raw, outbox_row["id"]))
        return raw

    def outbox(self, *, include_raw: bool = False) -> list[dict[str, Any]]:
        rows = self.store.all("SELECT * FROM outbox ORDER BY seq")
        out = []
        for r in rows:
            msg = self.store.one(
                "SELECT to_addresses, cc_addresses, bcc_addresses FROM messages WHERE id = ?",
                (r["message_id"],),
            )
            item: dict[str, Any] = {
                "id": r["id"],
                "messageId": r["message_id"],
                "mailboxId": r["mailbox_id"],
                "rfcMessageId": r["rfc_message_id"],
                "from": r["mail_from"],
                "to": loads(msg["to_addresses"]) if msg else [],
                "cc": loads(msg["cc_addresses"]) if msg else [],
                "bcc": loads(msg["bcc_addresses"]) if msg else [],
                "recipients": loads(r["rcpt_tos"]),
                "subject": r["subject"],
                "relayStatus": r["relay_status"],
                "relayError": r["relay_error"],
                "createdAt": r["created_at"],
            }
            if include_raw:
                item["raw"] = self.outbox_raw(r).decode("utf-8", "replace")
            out.append(item)
        return out

    # -- inbound -------------------------------------------------------------------------

    def accept_recipient(self, address: str) -> bool:
        """SMTP RCPT check: only addresses of existing sandbox mailboxes are accepted."""
        try:
            normal = normalize_address(address).lower()
        except InvalidRequestError:
            return False
        return self.store.one("SELECT 1 FROM mailboxes WHERE full_address = ?", (normal,)) is not None

    def deliver_raw(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> list[dict[str, Any]]:
        """Store one raw MIME message for each sandbox recipient; returns the stored messages."""
        parsed = parse_message(
            raw,
            max_attachments=self.limits.inbound_max_attachments,
            max_attachment_bytes=self.limits.inbound_max_attachment_bytes,
        )
        if parsed.defects:
            logger.info("inbound message has defects: %s", "; ".join(parsed.defects[:5]))
        digest = hashlib.sha256(raw).hexdigest()
        # Whatever the parser let through, only valid UTF-8 reaches the database and the JSON.
        parsed.subject = _clean(parsed.subject) or ""
        parsed.body_text = _clean(parsed.body_text) or ""
        parsed.body_html = _clean(parsed.body_html)
        parsed.from_name = _clean(parsed.from_name)
        parsed.headers = {_clean(k) or "": _clean(v) or "" for k, v in parsed.headers.items()}
        for part in parsed.attachments:
            part.filename = _clean(part.filename) or "attachment"
            part.content_type = _clean(part.content_type) or "application/octet-stream"
        stored: list[dict[str, Any]] = []
        targets: list[sqlite3.Row] = []
        for rcpt in dict.fromkeys(rcpt_tos):
            try:
                normal = normalize_address(rcpt).lower()
            except InvalidRequestError:
                continue
            row = self.store.one("SELECT * FROM mailboxes WHERE full_address = ?", (normal,))
            if row is not None and row["id"] not in {t["id"] for t in targets}:
                targets.append(row)
        date = parsed.date
        for mailbox in targets:
            stored.append(self._store_inbound(
                mailbox,
                message_id=parsed.message_id, in_reply_to=parsed.in_reply_to, references=parsed.references,
                from_address=parsed.from_address or _bare(mail_from) or "unknown@sandbox.invalid",
                from_name=parsed.from_name, to=parsed.to, cc=parsed.cc, subject=parsed.subject,
                body_text=parsed.body_text, body_html=parsed.body_html, headers=parsed.headers,
                attachments=[(None, a) for a in parsed.attachments],
                dropped_reason=parsed.attachments_dropped_reason if parsed.attachments_dropped else None,
                content_hash=digest, date=date,
            ))  # fmt: skip
        return stored

    def _store_inbound(
        self,
        mailbox: sqlite3.Row,
        *,
        message_id: str | None,
        in_reply_to: str | None,
        references: list[str],
        from_address: str,
        from_name: str | None,
        to: list[str],
        cc: list[str],
        subject: str,
        body_text: str,
        body_html: str | None,
        headers: dict[str, str],
        attachments: list[tuple[sqlite3.Row | None, ParsedAttachment | None]],
        dropped_reason: str | None,
        content_hash: str | None,
        date: datetime | None = None,
    ) -> dict[str, Any]:
        mailbox_id = mailbox["id"]
        if message_id and content_hash:
            # The same bytes delivered twice (an SMTP client retrying after a lost 250) is one
            # message; a different message reusing a Message-ID is stored as its own message.
            dup = self.store.one(
                "SELECT * FROM messages WHERE mailbox_id = ? AND message_id = ? AND content_hash = ?"
                " AND direction = 'INBOUND'",
                (mailbox_id, message_id, content_hash),
            )
            if dup is not None:
                return message_json(dup)
        rfc_id = message_id or make_message_id(mailbox["domain"])
        created = now_iso()
        new_blobs = [(new_id(), p) for _, p in attachments if p is not None]
        total = sum(len(p.data) for _, p in new_blobs)
        self._check_storage(total + len(body_text.encode()))
        for key, part in new_blobs:
            self.store.put_blob(key, part.data)
        with self.store.tx() as conn:
            candidates = ([in_reply_to] if in_reply_to else []) + list(reversed(references or []))
            thread_id = self._thread_for(
                conn, mailbox_id, subject=subject, candidates=candidates,
                participants=[from_address, *to, *cc], created=created,
            )  # fmt: skip
            msg_id = self._insert_message(
                conn, mailbox_id=mailbox_id, thread_id=thread_id, direction="INBOUND", message_id=rfc_id,
                in_reply_to=in_reply_to, references=references, from_address=from_address, from_name=from_name,
                to=to, cc=cc, bcc=[], subject=subject, body_text=body_text, body_html=body_html,
                headers=headers, status="RECEIVED", has_attachments=bool(attachments),
                attachments_dropped=dropped_reason is not None, attachments_dropped_reason=dropped_reason,
                content_hash=content_hash, created_at=created, event_dispatched_at=created,
            )  # fmt: skip
            for existing, _ in attachments:
                if existing is not None:
                    self._link_attachment(conn, existing, msg_id)
            for key, part in new_blobs:
                conn.execute(
                    "INSERT INTO attachments(id, message_id, filename, content_type, size_bytes, content_id,"
                    " inline, blob_key, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                    (key, msg_id, part.filename, part.content_type, len(part.data), part.content_id,
                     int(part.inline), key, created),
                )  # fmt: skip
                self.storage_used += len(part.data)
            row = conn.execute("SELECT * FROM messages WHERE id = ?", (msg_id,)).fetchone()
            att_rows = conn.execute(
                "SELECT * FROM attachments WHERE message_id = ? ORDER BY rowid", (msg_id,)
            ).fetchall()
            data: dict[str, Any] = {
                "message_id": msg_id,
                "mailbox_id": mailbox_id,
                "mailbox_address": mailbox["full_address"],
                "rfc_message_id": rfc_id,
                "from": from_address,
                "from_name": from_name,
                "to": to,
                "cc": cc,
                "subject": subject,
                "body_text": body_text,
                "body_html": body_html,
                "thread_id": thread_id,
                "in_reply_to": in_reply_to,
                "references": references,
                "headers": headers,
                "attachments": [event_attachment(a, self.signed_url(a["id"], self.public_base_url))
                                for a in att_rows],
                "received_at": created,
                "date": to_iso(date) if date is not None else None,
            }  # fmt: skip
            if dropped_reason is not None:
                data["attachments_dropped"] = True
                data["attachments_dropped_reason"] = dropped_reason
            self.log.append("message.received", mailbox_id, data)
        self._quota_cache = None
        return message_json(row)

    def inject(self, body: Any, raw: bytes | None) -> dict[str, Any]:
        """``POST /v1/sandbox/inbound``: raw MIME bytes, or JSON fields built into MIME."""
        if raw is not None:
            parsed_rcpts = None
            rcpts: list[str] = []
            parsed = parse_message(raw, max_attachments=10_000, max_attachment_bytes=1 << 62)
            parsed_rcpts = parsed.to + parsed.cc
            rcpts = [a for a in parsed_rcpts if self.accept_recipient(a)]
            mail_from = parsed.from_address
        else:
            if not isinstance(body, dict):
                raise ApiError(
                    400, "Send raw MIME (message/rfc822) or a JSON object with from, to, subject, bodyText"
                )
            from_address = self._recipients({"from": body.get("from")}, "from", required=True)[0]
            to = self._recipients(body, "to", required=True)
            cc = self._recipients(body, "cc", required=False)
            subject = body.get("subject", "")
            text = body.get("bodyText", "")
            html = body.get("bodyHtml")
            if (
                not isinstance(subject, str)
                or not isinstance(text, str)
                or (html is not None and not isinstance(html, str))
            ):
                raise ApiError(400, "subject, bodyText and bodyHtml must be strings")
            refs = body.get("references") or []
            if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
                raise ApiError(400, "references must be a list of Message-IDs")
            extra_headers = body.get("headers") or {}
            if not isinstance(extra_headers, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in extra_headers.items()
            ):
                raise ApiError(400, "headers must be an object of strings")
            try:
                raw = build_message(
                    from_address=from_address, from_name=body.get("fromName"), to=to, cc=cc, subject=subject,
                    body_text=text, body_html=html, message_id=body.get("messageId"),
                    in_reply_to=body.get("inReplyTo"), references=refs, headers=extra_headers,
                )  # fmt: skip
            except (InvalidRequestError, ValueError, TypeError) as err:
                raise ApiError(400, f"Cannot build the message: {err}") from err
            rcpts = [a for a in to + cc if self.accept_recipient(a)]
            mail_from = from_address
        if not rcpts:
            raise ApiError(400, "No recipient is a sandbox mailbox: address the message to one of them")
        return {"messages": self.deliver_raw(mail_from, rcpts, raw)}

    # -- bounces and complaints ----------------------------------------------------------

    def mark_address(self, email: Any, kind: str = "bounce") -> dict[str, Any]:
        if kind not in ("bounce", "complaint"):
            raise ApiError(400, "kind must be bounce or complaint")
        try:
            address = normalize_address(email, "email").lower()
        except InvalidRequestError as err:
            raise ApiError(400, str(err)) from err
        created = now_iso()
        self.store.run(
            "INSERT INTO bounces(email, kind, created_at) VALUES (?,?,?) ON CONFLICT(email) DO UPDATE SET"
            " kind = excluded.kind",
            (address, kind, created),
        )
        return {"email": address, "kind": kind, "createdAt": created}

    def unmark_address(self, email: str) -> bool:
        cur = self.store.run("DELETE FROM bounces WHERE email = ?", (email.strip().lower(),))
        return cur.rowcount > 0

    def marked_addresses(self) -> list[dict[str, Any]]:
        return [
            {"email": r["email"], "kind": r["kind"], "createdAt": r["created_at"]}
            for r in self.store.all("SELECT * FROM bounces ORDER BY created_at, email")
        ]

    def complaint(self, message_id: str, address: str | None = None) -> dict[str, Any]:
        """A recipient reported a sent message as spam: COMPLAINED, suppression, event."""
        row = self.store.one("SELECT * FROM messages WHERE id = ? AND direction = 'OUTBOUND'", (message_id,))
        if row is None:
            raise ApiError(404, "Outbound message not found")
        mailbox = self.store.one("SELECT * FROM mailboxes WHERE id = ?", (row["mailbox_id"],))
        if mailbox is None:
            raise ApiError(404, "Mailbox not found")
        who = address or (loads(row["to_addresses"]) or [None])[0]
        with self.store.tx() as conn:
            conn.execute("UPDATE messages SET status = 'COMPLAINED' WHERE id = ?", (message_id,))
            if who:
                self._suppress(conn, who, "COMPLAINT")
            fresh = conn.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
            self.log.append(
                "message.complaint",
                row["mailbox_id"],
                self._status_data(fresh, mailbox, recipients=[who] if who else [], complaint_type="abuse"),
            )
        return message_json(fresh)


def _clean(value: str | None) -> str | None:
    """Make text storable as UTF-8: bytes smuggled as lone surrogates become U+FFFD."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        try:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:
            return value.encode("utf-8", "replace").decode("utf-8")


def _bare(address: str) -> str | None:
    try:
        return normalize_address(address)
    except InvalidRequestError:
        return None
