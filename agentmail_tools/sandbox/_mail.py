"""Mail semantics: sending, reading, threading and local delivery of outbound mail.

Mixed into :class:`~agentmail_tools.sandbox._service.SandboxService`; split out only to keep
each module readable.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .._errors import InvalidRequestError
from .._mime import make_message_id, normalize_subject
from .._validation import check_header_name, normalize_address
from ._core import ServiceCore
from ._http import ApiError, RawJSON
from ._search import index_message
from ._store import dumps, loads, new_id, now_iso, to_iso
from ._wire import MESSAGE_JSON_SQL, message_json

if TYPE_CHECKING:
    from ._auth import Principal

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


class MailOps(ServiceCore):
    """Sending, reading, threading and local delivery (see the module docstring)."""

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
        attachment_rows = self._send_attachments(principal, body.get("attachments"))
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
        # Counted in SQL, not from the values read earlier: concurrent sends must not lose counts.
        conn.execute(
            "UPDATE mailboxes SET"
            " daily_send_count = CASE WHEN daily_send_day = ? THEN daily_send_count + 1 ELSE 1 END,"
            " daily_send_day = ?,"
            " monthly_send_count = CASE WHEN monthly_send_month = ? THEN monthly_send_count + 1 ELSE 1 END,"
            " monthly_send_month = ? WHERE id = ?",
            (day, day, month, month, mailbox_id),
        )
        row = conn.execute("SELECT * FROM messages WHERE id = ?", (msg_id,)).fetchone()
        self.log.append("message.sent", mailbox_id, self._status_data(row, mailbox))
        response = message_json(row)
        self._deliver_outbound(mailbox, row, everyone)
        return {"message": response}

    def _send_attachments(self, principal: Principal, value: Any) -> list[sqlite3.Row]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ApiError(400, "attachments must be a list of attachment ids from POST /v1/attachments")
        if len(value) > self.limits.max_send_attachments:
            raise ApiError(400, f"at most {self.limits.max_send_attachments} attachments per message")
        rows = []
        for att_id in value:
            row = self.store.one(
                "SELECT a.*, m.mailbox_id FROM attachments a LEFT JOIN messages m ON m.id = a.message_id"
                " WHERE a.id = ?",
                (att_id,),
            )
            # A scoped key must not re-send (and so read) another mailbox's attachment.
            if row is None or (row["message_id"] is not None and not principal.can_see(row["mailbox_id"])):
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
