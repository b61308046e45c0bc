"""Mail semantics: sending, local delivery, inbound storage, threading, outbox, bounces.

Mixed into :class:`~agentmail_tools.sandbox._service.SandboxService`; split out only to keep
each module readable.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .._errors import InvalidRequestError
from .._mime import ParsedAttachment, build_message, make_message_id, normalize_subject, parse_message
from .._validation import check_header_name, normalize_address
from ._http import ApiError, RawJSON
from ._search import index_message
from ._store import dumps, loads, new_id, now_iso, to_iso
from ._wire import MESSAGE_JSON_SQL, event_attachment, message_json

if TYPE_CHECKING:
    from ._auth import Principal
    from ._events import EventLog
    from ._limits import RateLimiter, SandboxLimits
    from ._store import Store

__all__ = ["MailOps"]

logger = logging.getLogger("agentmail_tools")

_MAX_REFERENCES = 30
_KEPT_HEADER_PREFIXES = ("x-custom-", "x-robotomail-")
_RATE_LIMITED = "Send rate limit exceeded — slow down"


def _merge(existing: list[str], new: Iterable[str]) -> list[str]:
    seen = set(existing)
    out = list(existing)
    for item in new:
        key = item.lower()
        if key and key not in seen:
            seen.add(key)
            out.append(key)
    return out


class MailOps:
    """Message, thread, inbound and outbox operations (see the module docstring)."""

    if TYPE_CHECKING:  # provided by SandboxService
        store: Store
        limits: SandboxLimits
        log: EventLog
        rates: RateLimiter
        smarthost: tuple[str, int] | None
        storage_used: int
        public_base_url: str
        _quota_cache: tuple[str, str, str | None] | None

        def _mailbox(self, principal: Principal, mailbox_id: str) -> sqlite3.Row: ...
        def _check_storage(self, extra: int) -> None: ...
        def _suppressed(self, addresses: list[str]) -> list[str]: ...
        def _suppress(self, conn: sqlite3.Connection, email: str, reason: str) -> None: ...
        def payment_required(self, code: str) -> dict[str, Any]: ...
        def signed_url(self, att_id: str, base_url: str, now: float | None = None) -> str: ...
        def attachment_out(self, row: sqlite3.Row, base_url: str) -> dict[str, Any]: ...
        def relay_later(self, outbox_id: str) -> None: ...

    # -- validation helpers ---------------------------------------------------------------

    def _recipients(self, body: dict[str, Any], field: str, *, required: bool) -> list[str]:
        value = body.get(field)
        if value is None:
            if required:
                raise ApiError(
                    400, f"{field} is required: one address or a list of 1-{self.limits.max_recipients}"
                )
            return []
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise ApiError(400, f"{field} must be a list of email addresses")
        if required and not items:
            raise ApiError(400, f"{field} needs at least one address")
        if len(items) > self.limits.max_recipients:
            raise ApiError(
                400, f"{field} has {len(items)} addresses; at most {self.limits.max_recipients} allowed"
            )
        out: list[str] = []
        for item in items:
            try:
                out.append(normalize_address(item, f"{field} address"))
            except InvalidRequestError as err:
                raise ApiError(400, str(err)) from err
        return out

    def _custom_headers(self, value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ApiError(400, "headers must be an object of header name to string value")
        kept: dict[str, str] = {}
        for name, val in value.items():
            if not isinstance(val, str):
                raise ApiError(400, f"header {name!r} must have a string value")
            try:
                check_header_name(name)
            except InvalidRequestError as err:
                raise ApiError(400, str(err)) from err
            if any(c in val for c in "\r\n\x00"):
                raise ApiError(400, f"header {name!r} must not contain CR, LF or NUL (header injection)")
            # Like the hosted service: only X-Custom-* and X-Robotomail-* survive.
            if name.lower().startswith(_KEPT_HEADER_PREFIXES):
                kept[name] = val
        return kept

    # -- threading -----------------------------------------------------------------------

    def _thread_for(
        self,
        conn: sqlite3.Connection,
        mailbox_id: str,
        *,
        subject: str,
        candidates: list[str],
        participants: list[str],
        created: str,
    ) -> str:
        """Robotomail threading: In-Reply-To/References, then normalised subject, else new."""
        thread_id: str | None = None
        for ref in candidates:
            row = conn.execute(
                "SELECT thread_id FROM messages WHERE mailbox_id = ? AND message_id = ? AND thread_id IS NOT NULL"
                " ORDER BY seq DESC LIMIT 1",
                (mailbox_id, ref),
            ).fetchone()
            if row is not None:
                thread_id = row["thread_id"]
                break
        norm = normalize_subject(subject)
        if thread_id is None and norm:
            row = conn.execute(
                "SELECT id FROM threads WHERE mailbox_id = ? AND norm_subject = ? ORDER BY last_message_at DESC,"
                " seq DESC LIMIT 1",
                (mailbox_id, norm),
            ).fetchone()
            if row is not None:
                thread_id = row["id"]
        if thread_id is None:
            thread_id = new_id()
            conn.execute(
                "INSERT INTO threads(id, mailbox_id, subject, norm_subject, message_count, last_message_at,"
                " participants, created_at) VALUES (?,?,?,?,1,?,?,?)",
                (thread_id, mailbox_id, subject, norm, created, dumps(_merge([], participants)), created),
            )
            return thread_id
        row = conn.execute("SELECT participants FROM threads WHERE id = ?", (thread_id,)).fetchone()
        merged = _merge(loads(row["participants"]) if row else [], participants)
        conn.execute(
            "UPDATE threads SET message_count = message_count + 1, last_message_at = MAX(last_message_at, ?),"
            " participants = ? WHERE id = ?",
            (created, dumps(merged), thread_id),
        )
        return thread_id

    def _insert_message(self, conn: sqlite3.Connection, **f: Any) -> str:
        msg_id = new_id()
        size = len(f["body_text"].encode()) + len((f.get("body_html") or "").encode())
        conn.execute(
            "INSERT INTO messages(id, mailbox_id, thread_id, direction, message_id, in_reply_to, refs,"
            " from_address, from_name, to_addresses, cc_addresses, bcc_addresses, subject, body_text, body_html,"
            " headers, status, has_attachments, attachments_dropped, attachments_dropped_reason,"
            " event_dispatched_at, content_hash, size_bytes, created_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                msg_id, f["mailbox_id"], f["thread_id"], f["direction"], f["message_id"], f.get("in_reply_to"),
                dumps(f.get("references") or []), f["from_address"], f.get("from_name"),
                dumps(f["to"]), dumps(f.get("cc") or []), dumps(f.get("bcc") or []), f["subject"],
                f["body_text"], f.get("body_html"), dumps(f.get("headers") or {}), f["status"],
                int(bool(f.get("has_attachments"))), int(bool(f.get("attachments_dropped"))),
                f.get("attachments_dropped_reason"), f.get("event_dispatched_at"), f.get("content_hash"),
                size, f["created_at"],
            ),
        )  # fmt: skip
        index_message(
            conn,
            message_id=msg_id,
            mailbox_id=f["mailbox_id"],
            subject=f["subject"],
            body=f["body_text"],
            sender=f"{f.get('from_name') or ''} {f['from_address']}",
        )
        self.storage_used += size
        return msg_id

    # -- reading -------------------------------------------------------------------------

    def _message_row(self, mailbox_id: str, message_id: str) -> sqlite3.Row:
        row = self.store.one(
            "SELECT * FROM messages WHERE id = ? AND mailbox_id = ?", (message_id, mailbox_id)
        )
        if row is None:
            raise ApiError(404, "Message not found")
        return row

    def _attachments_of(self, message_id: str, base_url: str) -> list[dict[str, Any]]:
        rows = self.store.all("SELECT * FROM attachments WHERE message_id = ? ORDER BY rowid", (message_id,))
        return [self.attachment_out(r, base_url) for r in rows]

    def list_messages(
        self,
        principal: Principal,
        mailbox_id: str,
        *,
        direction: str | None,
        thread_id: str | None,
        since: str | None,
        limit: str | None,
        offset: str | None,
    ) -> RawJSON:
        self._mailbox(principal, mailbox_id)
        sql = "SELECT * FROM messages WHERE mailbox_id = ?"
        params: list[Any] = [mailbox_id]
        if direction is not None:
            if direction not in ("INBOUND", "OUTBOUND"):
                raise ApiError(400, "direction must be INBOUND or OUTBOUND")
            sql += " AND direction = ?"
            params.append(direction)
        if thread_id is not None:
            sql += " AND thread_id = ?"
            params.append(thread_id)
        if since is not None:
            sql += " AND created_at >= ?"
            params.append(_parse_since(since))
        lim = _int_param(limit, "limit", default=50, low=1, high=100)
        off = _int_param(offset, "offset", default=0, low=0, high=None)
        sql += " ORDER BY created_at DESC, seq DESC LIMIT ? OFFSET ?"
        params += [lim, off]
        sql = sql.replace("SELECT *", f"SELECT {MESSAGE_JSON_SQL} AS j", 1)
        rows = self.store.all(f"SELECT COALESCE(json_group_array(json(j)), '[]') FROM ({sql})", params)
        return RawJSON('{"messages":' + str(rows[0][0]) + ',"metadata":{}}')

    def get_message(
        self, principal: Principal, mailbox_id: str, message_id: str, base_url: str
    ) -> dict[str, Any]:
        self._mailbox(principal, mailbox_id)
        row = self._message_row(mailbox_id, message_id)
        return {"message": message_json(row, self._attachments_of(row["id"], base_url))}

    def list_threads(self, principal: Principal, mailbox_id: str) -> dict[str, Any]:
        self._mailbox(principal, mailbox_id)
        rows = self.store.all(
            "SELECT * FROM threads WHERE mailbox_id = ? ORDER BY last_message_at DESC, seq DESC LIMIT 50",
            (mailbox_id,),
        )
        from ._wire import thread_json

        return {"threads": [thread_json(r) for r in rows], "metadata": {}}

    def get_thread(self, principal: Principal, mailbox_id: str, thread_id: str) -> RawJSON:
        from ._wire import thread_json

        self._mailbox(principal, mailbox_id)
        row = self.store.one("SELECT * FROM threads WHERE id = ? AND mailbox_id = ?", (thread_id, mailbox_id))
        if row is None:
            raise ApiError(404, "Thread not found")
        messages = self.store.all(
            f"SELECT COALESCE(json_group_array(json(j)), '[]') FROM (SELECT {MESSAGE_JSON_SQL} AS j FROM messages"
            " WHERE thread_id = ? ORDER BY created_at, seq)",
            (thread_id,),
        )
        head = json.dumps(thread_json(row), ensure_ascii=False, separators=(",", ":"))
        return RawJSON('{"thread":' + head[:-1] + ',"messages":' + str(messages[0][0]) + "}}")

    # -- sending -------------------------------------------------------------------------

    def send_message(self, principal: Principal, mailbox_id: str, body: Any) -> dict[str, Any]:
        mailbox = self._mailbox(principal, mailbox_id)
        if not isinstance(body, dict):
            raise ApiError(400, "Request body must be a JSON object")
        to = self._recipients(body, "to", required=True)
        cc = self._recipients(body, "cc", required=False)
        bcc = self._recipients(body, "bcc", required=False)
        subject = body.get("subject")
        if not isinstance(subject, str) or not subject.strip() or len(subject) > 998:
            raise ApiError(400, "subject is required: 1-998 characters")
        if any(c in subject for c in "\r\n\x00"):
            raise ApiError(400, "subject must not contain CR, LF or NUL (header injection)")
        body_text = body.get("bodyText")
        if not isinstance(body_text, str) or not body_text:
            raise ApiError(400, "bodyText is required and must not be empty")
        body_html = body.get("bodyHtml")
        if body_html is not None and not isinstance(body_html, str):
            raise ApiError(400, "bodyHtml must be a string")
        in_reply_to = body.get("inReplyTo")
        if in_reply_to is not None:
            if not isinstance(in_reply_to, str) or len(in_reply_to) > 998:
                raise ApiError(400, "inReplyTo must be a Message-ID string of at most 998 characters")
            if any(c in in_reply_to for c in "\r\n\x00"):
                raise ApiError(400, "inReplyTo must not contain CR, LF or NUL (header injection)")
            in_reply_to = in_reply_to.strip() or None
        headers = self._custom_headers(body.get("headers"))
        attachment_rows = self._send_attachments(body.get("attachments"))
        if mailbox["status"] != "ACTIVE":
            raise ApiError(400, f"Mailbox is {mailbox['status']}: only ACTIVE mailboxes can send")
        everyone = to + cc + bcc
        suppressed = self._suppressed(everyone)
        if suppressed:
            raise ApiError(
                400, f"Recipient is on the suppression list: {', '.join(suppressed)}", suppressed=suppressed
            )
        att_bytes = sum(int(r["size_bytes"]) for r in attachment_rows)
        if att_bytes > self.limits.max_send_attachment_bytes:
            raise ApiError(
                413,
                f"Attachments total {att_bytes} bytes; at most "
                f"{self.limits.max_send_attachment_bytes} bytes combined per message",
            )
        size = len(body_text.encode()) + len((body_html or "").encode())
        self._check_storage(size)
        created = now_iso()
        day, month = created[:10], created[:7]
        daily = mailbox["daily_send_count"] if mailbox["daily_send_day"] == day else 0
        monthly = mailbox["monthly_send_count"] if mailbox["monthly_send_month"] == month else 0
        if self.limits.daily_send_limit and daily >= self.limits.daily_send_limit:
            raise ApiError(429, "Daily send limit reached for this mailbox — try again tomorrow (UTC)")
        if self.limits.monthly_send_limit and monthly >= self.limits.monthly_send_limit:
            raise ApiError(
                402,
                "Monthly send limit reached for this mailbox",
                **self.payment_required("MONTHLY_SEND_LIMIT"),
            )
        if not self.rates.check(
            [
                (f"mailbox:{mailbox_id}", self.limits.mailbox_sends_per_minute),
                ("account", self.limits.account_sends_per_minute),
            ]
        ):
            raise ApiError(429, _RATE_LIMITED)

        rfc_id = make_message_id(mailbox["domain"])
        # One transaction for the message, its events and its deliveries: a crash leaves
        # either the whole send or nothing.
        with self.store.tx() as conn:
            return self._send_in_tx(
                conn,
                mailbox,
                rfc_id=rfc_id,
                to=to,
                cc=cc,
                bcc=bcc,
                subject=subject,
                body_text=body_text,
                body_html=body_html,
                in_reply_to=in_reply_to,
                headers=headers,
                attachment_rows=attachment_rows,
                created=created,
                daily=daily,
                monthly=monthly,
            )

    def _send_in_tx(
        self,
        conn: sqlite3.Connection,
        mailbox: sqlite3.Row,
        *,
        rfc_id: str,
        to: list[str],
        cc: list[str],
        bcc: list[str],
        subject: str,
        body_text: str,
        body_html: str | None,
        in_reply_to: str | None,
        headers: dict[str, str],
        attachment_rows: list[sqlite3.Row],
        created: str,
        daily: int,
        monthly: int,
    ) -> dict[str, Any]:
        mailbox_id = mailbox["id"]
        everyone = to + cc + bcc
        day, month = created[:10], created[:7]
        references: list[str] = []
        if in_reply_to:
            parent = conn.execute(
                "SELECT message_id, refs FROM messages WHERE mailbox_id = ? AND message_id = ? ORDER BY seq DESC"
                " LIMIT 1",
                (mailbox_id, in_reply_to),
            ).fetchone()
            references = (loads(parent["refs"]) if parent else []) + [in_reply_to]
            references = references[-_MAX_REFERENCES:]
        thread_id = self._thread_for(
            conn, mailbox_id, subject=subject,
            candidates=([in_reply_to] if in_reply_to else []) + list(reversed(references)),
            participants=[mailbox["full_address"], *everyone], created=created,
        )  # fmt: skip
        msg_id = self._insert_message(
            conn, mailbox_id=mailbox_id, thread_id=thread_id, direction="OUTBOUND", message_id=rfc_id,
            in_reply_to=in_reply_to, references=references, from_address=mailbox["full_address"],
            from_name=mailbox["display_name"], to=to, cc=cc, bcc=bcc, subject=subject, body_text=body_text,
            body_html=body_html, headers=headers, status="SENT", has_attachments=bool(attachment_rows),
            created_at=created, event_dispatched_at=created,
        )  # fmt: skip
        for att in attachment_rows:
            self._link_attachment(conn, att, msg_id)
        conn.execute(
            "UPDATE mailboxes SET daily_send_count = ?, daily_send_day = ?, monthly_send_count = ?,"
            " monthly_send_month = ? WHERE id = ?",
            (daily + 1, day, monthly + 1, month, mailbox_id),
        )
        row = conn.execute("SELECT * FROM messages WHERE id = ?", (msg_id,)).fetchone()
        self.log.append("message.sent", mailbox_id, self._status_data(row, mailbox))
        response = message_json(row)
        self._deliver_outbound(mailbox, row, everyone)
        return {"message": response}

    def _send_attachments(self, value: Any) -> list[sqlite3.Row]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ApiError(400, "attachments must be a list of attachment ids from POST /v1/attachments")
        if len(value) > self.limits.max_send_attachments:
            raise ApiError(400, f"at most {self.limits.max_send_attachments} attachments per message")
        rows = []
        for att_id in value:
            row = self.store.one("SELECT * FROM attachments WHERE id = ?", (att_id,))
            if row is None:
                raise ApiError(400, f"Unknown attachment {att_id}: upload it with POST /v1/attachments first")
            rows.append(row)
        return rows

    def _link_attachment(self, conn: sqlite3.Connection, att: sqlite3.Row, msg_id: str) -> None:
        if att["message_id"] is None:
            conn.execute("UPDATE attachments SET message_id = ? WHERE id = ?", (msg_id, att["id"]))
        else:  # re-sending an attachment that already belongs to a message: share the blob
            conn.execute(
                "INSERT INTO attachments(id, message_id, filename, content_type, size_bytes, content_id, inline,"
                " blob_key, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    new_id(),
                    msg_id,
                    att["filename"],
                    att["content_type"],
                    att["size_bytes"],
                    att["content_id"],
                    att["inline"],
                    att["blob_key"],
                    now_iso(),
                ),
            )

    def _status_data(self, row: sqlite3.Row, mailbox: sqlite3.Row, **extra: Any) -> dict[str, Any]:
        data = {
            "message_id": row["id"],
            "mailbox_id": row["mailbox_id"],
            "mailbox_address": mailbox["full_address"],
            "rfc_message_id": row["message_id"],
            "thread_id": row["thread_id"],
            "from": row["from_address"],
            "to": loads(row["to_addresses"]),
            "cc": loads(row["cc_addresses"]),
            "subject": row["subject"],
            "status": row["status"],
            "timestamp": now_iso(),
        }
        data.update(extra)
        return data

    def _deliver_outbound(self, mailbox: sqlite3.Row, row: sqlite3.Row, recipients: list[str]) -> None:
        """Local mailboxes get an INBOUND copy; bounce-marked fail; the rest go to the outbox."""
        local: list[sqlite3.Row] = []
        bounced: list[str] = []
        complained: list[str] = []
        external: list[str] = []
        for address in dict.fromkeys(recipients):
            mark = self.store.one("SELECT kind FROM bounces WHERE email = ?", (address,))
            target = self.store.one("SELECT * FROM mailboxes WHERE full_address = ?", (address,))
            if mark is not None and mark["kind"] == "bounce":
                bounced.append(address)
            elif target is not None:
                local.append(target)
                if mark is not None:
                    complained.append(address)
            else:
                external.append(address)
                if mark is not None:
                    complained.append(address)
        attachments = (
            self.store.all("SELECT * FROM attachments WHERE message_id = ?", (row["id"],)) if local else []
        )
        for target in local:
            self._store_inbound(
                target,
                message_id=row["message_id"], in_reply_to=row["in_reply_to"], references=loads(row["refs"]),
                from_address=row["from_address"], from_name=row["from_name"], to=loads(row["to_addresses"]),
                cc=loads(row["cc_addresses"]), subject=row["subject"], body_text=row["body_text"],
                body_html=row["body_html"], headers=loads(row["headers"]),
                attachments=[(a, None) for a in attachments], dropped_reason=None, content_hash=None,
            )  # fmt: skip
        if external:
            self._to_outbox(mailbox, row, external)
        with self.store.tx() as conn:
            status = "BOUNCED" if bounced else "DELIVERED"
            conn.execute("UPDATE messages SET status = ? WHERE id = ?", (status, row["id"]))
            fresh = conn.execute("SELECT * FROM messages WHERE id = ?", (row["id"],)).fetchone()
            if bounced:
                for address in bounced:
                    self._suppress(conn, address, "BOUNCE")
                self.log.append(
                    "message.bounced",
                    mailbox["id"],
                    self._status_data(
                        fresh,
                        mailbox,
                        recipients=bounced,
                        bounce_type="permanent",
                        diagnostic="550 5.1.1 mailbox unavailable (sandbox bounce mark)",
                    ),
                )
            if len(bounced) < len(dict.fromkeys(recipients)):
                self.log.append(
                    "message.delivered",
                    mailbox["id"],
                    self._status_data(
                        fresh, mailbox, recipients=[a for a in dict.fromkeys(recipients) if a not in bounced]
                    ),
                )
        for address in complained:
            self.complaint(row["id"], address)

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
        raw = build_message(
            from_address=row["from_address"], from_name=row["from_name"], to=loads(row["to_addresses"]),
            cc=loads(row["cc_addresses"]), subject=row["subject"], body_text=row["body_text"],
            body_html=row["body_html"], message_id=row["message_id"], in_reply_to=row["in_reply_to"],
            references=loads(row["refs"]), headers=loads(row["headers"]) or None, attachments=parts,
            date=datetime.fromisoformat(row["created_at"]),
        )  # fmt: skip
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


def _int_param(value: str | None, name: str, *, default: int, low: int, high: int | None) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError as err:
        raise ApiError(400, f"{name} must be an integer") from err
    if number < low or (high is not None and number > high):
        bound = f"{low}-{high}" if high is not None else f">= {low}"
        raise ApiError(400, f"{name} must be {bound}")
    return number


def _parse_since(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value.strip().replace(" ", "+"))
    except ValueError as err:
        raise ApiError(400, "since must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z") from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_iso(moment)
