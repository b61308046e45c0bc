"""The sandbox's operations, independent of HTTP: what each route does, as plain methods.

Handlers in :mod:`._app` only parse requests and call these; the Python API
(:class:`~agentmail_tools.sandbox.Sandbox`) and the SMTP listener call them too.
Every method returns contract-shaped JSON data or raises :class:`._http.ApiError`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._errors import InvalidRequestError
from . import _domains
from ._admin import AdminOps
from ._auth import Principal, create_key
from ._delivery import DeliveryOps
from ._events import EventHub, EventLog
from ._http import ApiError
from ._limits import RateLimiter, SandboxLimits
from ._mail import MailOps
from ._search import search_mailbox, unindex_mailbox
from ._store import Store, dumps, loads, new_id, now_iso
from ._wire import (
    apikey_json,
    attachment_json,
    mailbox_json,
)

__all__ = ["DEFAULT_DOMAIN", "SandboxService"]

logger = logging.getLogger("agentmail_tools")

# RFC 2606 reserves .test: these addresses can never leak to a real mail system.
DEFAULT_DOMAIN = "sandbox.robotomail.test"
IN_PROCESS_BASE_URL = "http://localhost/v1"
_ADDRESS_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


class SandboxService(MailOps, DeliveryOps, AdminOps):
    """State and operations of one sandbox account."""

    def __init__(
        self,
        store: Store,
        limits: SandboxLimits,
        *,
        resolver: Any = None,
        smarthost: str | tuple[str, int] | None = None,
        default_domain: str = DEFAULT_DOMAIN,
    ) -> None:
        self.store = store
        self.limits = limits
        self.hub = EventHub()
        self.log = EventLog(store, self.hub)
        self.rates = RateLimiter()
        self.resolver = resolver if resolver is not None else _domains.OfflineResolver()
        self.smarthost = _parse_smarthost(smarthost)
        self.default_domain = default_domain
        self.public_base_url = IN_PROCESS_BASE_URL
        self._quota_cache: tuple[str, str, str | None] | None = None
        self.principals: dict[str, Principal] = {}  # bearer token → principal; cleared on key changes
        self._relay_pool: ThreadPoolExecutor | None = None
        with store.tx():
            self.user_id = self._meta_default("user_id", new_id)
            self.url_secret = self._meta_default("url_secret", lambda: secrets.token_hex(32))
            bootstrap = store.get_meta("bootstrap_key")
            if bootstrap is None:
                _, bootstrap, _ = create_key(store, name="bootstrap", mailbox_ids=None)
                store.set_meta("bootstrap_key", bootstrap)
        self.bootstrap_key = bootstrap
        row = store.one(
            "SELECT (SELECT COALESCE(SUM(size_bytes),0) FROM messages) +"
            " (SELECT COALESCE(SUM(size_bytes),0) FROM attachments) AS used"
        )
        self.storage_used = int(row["used"]) if row else 0

    def _meta_default(self, key: str, make: Any) -> str:
        value = self.store.get_meta(key)
        if value is None:
            value = str(make())
            self.store.set_meta(key, value)
        return value

    # -- shared checks -------------------------------------------------------------------

    def _check_storage(self, extra: int) -> None:
        limit = self.limits.storage_limit_bytes
        if limit and self.storage_used + extra > limit:
            raise ApiError(413, f"Storage quota exceeded: {self.storage_used} of {limit} bytes used")

    def payment_required(self, code: str) -> dict[str, Any]:
        return {
            "payment_required": True,
            "code": code,
            "upgrade": {
                "browserUrl": "https://robotomail.com/billing",
                "apiEndpoint": {"method": "POST", "path": "/v1/billing/upgrade"},
                "hint": "The sandbox imitates plan caps; raise them with SandboxLimits.",
            },
        }

    def _suppressed(self, addresses: list[str]) -> list[str]:
        if not addresses:
            return []
        lowered = sorted({a.lower() for a in addresses})
        rows = self.store.all(
            f"SELECT email FROM suppressions WHERE email IN ({','.join('?' * len(lowered))})", lowered
        )
        found = {r["email"] for r in rows}
        return [a for a in lowered if a in found]

    def _suppress(self, conn: sqlite3.Connection, email: str, reason: str) -> None:
        conn.execute(
            "INSERT OR IGNORE INTO suppressions(id, email, reason, created_at) VALUES (?,?,?,?)",
            (new_id(), email.lower(), reason, now_iso()),
        )

    def _mailbox(self, principal: Principal, mailbox_id: str) -> sqlite3.Row:
        """The mailbox, or 404 (also when a scoped key may not see it: the contract hides it)."""
        row = self.store.one("SELECT * FROM mailboxes WHERE id = ?", (mailbox_id,))
        if row is None or not principal.can_see(mailbox_id):
            raise ApiError(404, "Mailbox not found")
        return row

    def _mailbox_out(self, row: sqlite3.Row) -> dict[str, Any]:
        return mailbox_json(
            row,
            user_id=self.user_id,
            daily_limit=self.limits.daily_send_limit,
            monthly_limit=self.limits.monthly_send_limit,
        )

    def inbound_quota(self) -> tuple[str, str | None]:
        """``X-Robotomail-Inbound-Quota`` and ``-Warning`` values, cached until inbound mail changes."""
        month = now_iso()[:7]
        cached = self._quota_cache
        if cached is not None and cached[0] == month:
            return cached[1], cached[2]
        row = self.store.one(
            "SELECT COUNT(*) AS n FROM messages WHERE direction = 'INBOUND' AND substr(created_at, 1, 7) = ?",
            (month,),
        )
        count = int(row["n"]) if row else 0
        limit = self.limits.monthly_inbound_limit
        warning = None
        if limit:
            share = count / limit
            warning = (
                "reached"
                if share >= 1
                else "near"
                if share >= 0.9
                else "approaching"
                if share >= 0.75
                else None
            )
        value = f"{count}/{limit or 'unlimited'}"
        self._quota_cache = (month, value, warning)
        return value, warning

    # -- account and keys ----------------------------------------------------------------

    def account(self, principal: Principal) -> dict[str, Any]:
        principal.require_full_access()
        today, month = now_iso()[:10], now_iso()[:7]

        def count(sql: str, *params: Any) -> int:
            row = self.store.one(sql, params)
            return int(row[0]) if row else 0

        inbound_month = count(
            "SELECT COUNT(*) FROM messages WHERE direction='INBOUND' AND substr(created_at,1,7)=?", month
        )
        limit = self.limits.monthly_inbound_limit
        return {
            "account": {
                "id": self.user_id,
                "email": f"developer@{self.default_domain}",
                "emailVerified": True,
                "slug": "sandbox",
                "plan": "sandbox",
                "billingPeriod": "monthly",
                "suspended": False,
                "suspendedReason": None,
                "suspendedAt": None,
                "storageUsedBytes": self.storage_used,
                "storageLimitBytes": self.limits.storage_limit_bytes or 0,
                "mailboxCount": count("SELECT COUNT(*) FROM mailboxes"),
                "activeMailboxCount": count("SELECT COUNT(*) FROM mailboxes WHERE status='ACTIVE'"),
                "sentToday": count(
                    "SELECT COUNT(*) FROM messages WHERE direction='OUTBOUND' AND substr(created_at,1,10)=?",
                    today,
                ),
                "sentThisMonth": count(
                    "SELECT COUNT(*) FROM messages WHERE direction='OUTBOUND' AND substr(created_at,1,7)=?",
                    month,
                ),
                "receivedToday": count(
                    "SELECT COUNT(*) FROM messages WHERE direction='INBOUND' AND substr(created_at,1,10)=?",
                    today,
                ),
                "bouncedToday": count(
                    "SELECT COUNT(*) FROM messages WHERE status='BOUNCED' AND substr(created_at,1,10)=?",
                    today,
                ),
                "monthlyInboundCount": inbound_month,
                "monthlyInboundLimit": limit,
                "monthlyInboundPercentage": int(100 * inbound_month / limit) if limit else 0,
                "overLimitMessageCount": 0,
                "billingLinked": False,
                "trial": None,
            }
        }

    def list_keys(self, principal: Principal) -> dict[str, Any]:
        principal.require_full_access()
        rows = self.store.all("SELECT * FROM api_keys ORDER BY created_at, rowid")
        return {"keys": [apikey_json(r) for r in rows]}

    def create_api_key(self, principal: Principal, body: Any) -> dict[str, Any]:
        principal.require_full_access()
        body = body if body is not None else {}
        if not isinstance(body, dict):
            raise ApiError(400, "Request body must be a JSON object")
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 255):
            raise ApiError(400, "name must be a string of at most 255 characters")
        mailbox_ids = body.get("mailboxIds")
        if mailbox_ids is not None:
            if not isinstance(mailbox_ids, list) or not all(isinstance(m, str) for m in mailbox_ids):
                raise ApiError(400, "mailboxIds must be a list of mailbox ids")
            for mid in mailbox_ids:
                if self.store.one("SELECT 1 FROM mailboxes WHERE id = ?", (mid,)) is None:
                    raise ApiError(400, f"Unknown mailbox {mid}")
        key_id, key, prefix = create_key(self.store, name=name, mailbox_ids=mailbox_ids or None)
        return {"key": key, "prefix": prefix, "scoped": bool(mailbox_ids), "id": key_id}

    def revoke_key(self, principal: Principal, key_id: str) -> dict[str, Any]:
        principal.require_full_access()
        with self.store.tx() as conn:
            row = conn.execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
            if row is None:
                raise ApiError(404, "API key not found")
            if row["mailbox_ids"] is None:
                full = conn.execute(
                    "SELECT COUNT(*) FROM api_keys WHERE mailbox_ids IS NULL AND enabled=1"
                ).fetchone()
                if int(full[0]) <= 1:
                    raise ApiError(
                        400, "Cannot revoke the only full-access API key: create another one first"
                    )
            conn.execute("DELETE FROM api_keys WHERE id = ?", (key_id,))
        self.principals.clear()
        return {"revoked": True}

    # -- mailboxes -----------------------------------------------------------------------

    def list_mailboxes(self, principal: Principal) -> dict[str, Any]:
        rows = self.store.all("SELECT * FROM mailboxes ORDER BY created_at, rowid")
        month = now_iso()[:7]
        out = []
        for r in rows:
            if not principal.can_see(r["id"]):
                continue
            item = self._mailbox_out(r)
            n = self.store.one(
                "SELECT COUNT(*) FROM messages WHERE mailbox_id=? AND direction='INBOUND' AND substr(created_at,1,7)=?",
                (r["id"], month),
            )
            item["receivedThisMonth"] = int(n[0]) if n else 0
            out.append(item)
        return {"mailboxes": out}

    def create_mailbox(self, principal: Principal, body: Any) -> dict[str, Any]:
        principal.require_full_access()
        if not isinstance(body, dict):
            raise ApiError(400, "Request body must be a JSON object with an address")
        address = body.get("address")
        if not isinstance(address, str) or _ADDRESS_RE.fullmatch(address) is None:
            raise ApiError(400, "address must be 1-64 characters of letters, digits, '.', '_' or '-'")
        if address.startswith(".") or address.endswith(".") or ".." in address:
            raise ApiError(400, "address must not start or end with '.' or contain '..'")
        display = body.get("displayName")
        if display is not None and (not isinstance(display, str) or len(display) > 255):
            raise ApiError(400, "displayName must be a string of at most 255 characters")
        if isinstance(display, str) and any(c in display for c in "\r\n\x00"):
            raise ApiError(400, "displayName must not contain CR, LF or NUL")
        domain_id = body.get("domainId")
        domain = self.default_domain
        if domain_id is not None:
            if not isinstance(domain_id, str):
                raise ApiError(400, "domainId must be a string")
            drow = self.store.one("SELECT * FROM domains WHERE id = ?", (domain_id,))
            if drow is None:
                raise ApiError(400, "Unknown domainId")
            if drow["status"] != "VERIFIED":
                raise ApiError(
                    400, f"Domain {drow['domain']} is not verified: publish its DNS records and verify"
                )
            domain = drow["domain"]
        limit = self.limits.max_mailboxes
        if limit is not None:
            n = self.store.one("SELECT COUNT(*) FROM mailboxes")
            if n is not None and int(n[0]) >= limit:
                raise ApiError(403, f"Plan limit reached: at most {limit} mailboxes")
        local = address.lower()
        full = f"{local}@{domain}"
        created = now_iso()
        mailbox_id = new_id()
        try:
            self.store.run(
                "INSERT INTO mailboxes(id, domain_id, address, domain, full_address, display_name, status,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?, 'ACTIVE', ?, ?)",
                (mailbox_id, domain_id, local, domain, full, display, created, created),
            )
        except sqlite3.IntegrityError as err:
            raise ApiError(409, f"Address {full} is already taken") from err
        row = self.store.one("SELECT * FROM mailboxes WHERE id = ?", (mailbox_id,))
        assert row is not None
        return {"mailbox": self._mailbox_out(row)}

    def get_mailbox(self, principal: Principal, mailbox_id: str) -> dict[str, Any]:
        return {"mailbox": self._mailbox_out(self._mailbox(principal, mailbox_id))}

    def update_mailbox(self, principal: Principal, mailbox_id: str, body: Any) -> dict[str, Any]:
        self._mailbox(principal, mailbox_id)
        if not isinstance(body, dict):
            raise ApiError(400, "Request body must be a JSON object")
        sets: list[str] = []
        params: list[Any] = []
        if "displayName" in body:
            display = body["displayName"]
            if display is not None and (not isinstance(display, str) or len(display) > 255):
                raise ApiError(400, "displayName must be a string of at most 255 characters")
            if isinstance(display, str) and any(c in display for c in "\r\n\x00"):
                raise ApiError(400, "displayName must not contain CR, LF or NUL")
            sets.append("display_name = ?")
            params.append(display)
        if "status" in body:
            if body["status"] not in ("ACTIVE", "PAUSED"):
                raise ApiError(400, "status must be ACTIVE or PAUSED")
            sets.append("status = ?")
            params.append(body["status"])
        if sets:
            sets.append("updated_at = ?")
            params += [now_iso(), mailbox_id]
            self.store.run(f"UPDATE mailboxes SET {', '.join(sets)} WHERE id = ?", params)
        return self.get_mailbox(principal, mailbox_id)

    def delete_mailbox(self, principal: Principal, mailbox_id: str) -> dict[str, Any]:
        principal.require_full_access()
        self._mailbox(principal, mailbox_id)
        blobs: list[str] = []
        # Outbox entries outlive their message: render their MIME before the message goes.
        for pending in self.store.all(
            "SELECT * FROM outbox WHERE mailbox_id = ? AND raw IS NULL", (mailbox_id,)
        ):
            self.outbox_raw(pending)
        with self.store.tx() as conn:
            atts = conn.execute(
                "SELECT a.id, a.blob_key, a.size_bytes FROM attachments a JOIN messages m ON m.id = a.message_id"
                " WHERE m.mailbox_id = ?",
                (mailbox_id,),
            ).fetchall()
            freed = sum(int(a["size_bytes"]) for a in atts)
            freed += int(
                conn.execute(
                    "SELECT COALESCE(SUM(size_bytes),0) FROM messages WHERE mailbox_id=?", (mailbox_id,)
                ).fetchone()[0]
            )
            for a in atts:
                conn.execute("DELETE FROM attachments WHERE id = ?", (a["id"],))
                blobs.append(a["blob_key"])
            conn.execute("DELETE FROM messages WHERE mailbox_id = ?", (mailbox_id,))
            conn.execute("DELETE FROM threads WHERE mailbox_id = ?", (mailbox_id,))
            unindex_mailbox(conn, mailbox_id)
            conn.execute("DELETE FROM mailboxes WHERE id = ?", (mailbox_id,))
            for row in conn.execute(
                "SELECT id, mailbox_ids FROM api_keys WHERE mailbox_ids IS NOT NULL"
            ).fetchall():
                remaining = [m for m in loads(row["mailbox_ids"]) if m != mailbox_id]
                if remaining:
                    conn.execute(
                        "UPDATE api_keys SET mailbox_ids=? WHERE id=?", (dumps(remaining), row["id"])
                    )
                else:  # a key scoped to nothing must not silently become full access
                    conn.execute("UPDATE api_keys SET enabled=0 WHERE id=?", (row["id"],))
        self.storage_used -= freed
        self._quota_cache = None
        self.principals.clear()
        for key in blobs:
            if self.store.one("SELECT 1 FROM attachments WHERE blob_key = ?", (key,)) is None:
                self.store.delete_blob(key)
        return {"deleted": True}

    # -- attachments ---------------------------------------------------------------------

    def upload_attachment(
        self, principal: Principal, filename: str, content_type: str, data: bytes
    ) -> dict[str, Any]:
        principal.require_full_access()
        if len(data) > self.limits.max_upload_bytes:
            raise ApiError(
                413, f"Attachment is {len(data)} bytes; at most {self.limits.max_upload_bytes} allowed"
            )
        self._check_storage(len(data))
        filename = (filename or "attachment").replace("\r", "").replace("\n", "").replace("\x00", "")[:255]
        att_id = new_id()
        self.store.put_blob(att_id, data)
        with self.store.lock:
            self.storage_used += len(data)
        self.store.run(
            "INSERT INTO attachments(id, message_id, filename, content_type, size_bytes, content_id, inline,"
            " blob_key, created_at) VALUES (?, NULL, ?, ?, ?, NULL, 0, ?, ?)",
            (
                att_id,
                filename or "attachment",
                content_type or "application/octet-stream",
                len(data),
                att_id,
                now_iso(),
            ),
        )
        return {"id": att_id, "filename": filename or "attachment", "sizeBytes": len(data)}

    def _attachment_row(self, principal: Principal, att_id: str) -> sqlite3.Row:
        row = self.store.one(
            "SELECT a.*, m.mailbox_id FROM attachments a LEFT JOIN messages m ON m.id = a.message_id WHERE a.id = ?",
            (att_id,),
        )
        if row is None or (row["message_id"] is not None and not principal.can_see(row["mailbox_id"])):
            raise ApiError(404, "Attachment not found")
        return row

    def signed_url(self, att_id: str, base_url: str, now: float | None = None) -> str:
        expires = int((now or time.time()) + self.limits.attachment_url_ttl_seconds)
        sig = self._sign(att_id, expires)
        return (
            f"{base_url.rstrip('/')}/sandbox/attachments/{att_id}/download?expires={expires}&signature={sig}"
        )

    def _sign(self, att_id: str, expires: int) -> str:
        return hmac.new(self.url_secret.encode(), f"{att_id}:{expires}".encode(), hashlib.sha256).hexdigest()

    def attachment_out(self, row: sqlite3.Row, base_url: str) -> dict[str, Any]:
        return attachment_json(row, user_id=self.user_id, url=self.signed_url(row["id"], base_url))

    def get_attachment(self, principal: Principal, att_id: str, base_url: str) -> dict[str, Any]:
        return self.attachment_out(self._attachment_row(principal, att_id), base_url)

    def delete_attachment(self, principal: Principal, att_id: str) -> dict[str, Any]:
        row = self._attachment_row(principal, att_id)
        with self.store.lock:
            self.store.run("DELETE FROM attachments WHERE id = ?", (att_id,))
            self.storage_used -= int(row["size_bytes"])
        if self.store.one("SELECT 1 FROM attachments WHERE blob_key = ?", (row["blob_key"],)) is None:
            self.store.delete_blob(row["blob_key"])
        return {"deleted": True}

    def download(self, att_id: str, expires: str | None, signature: str | None) -> tuple[sqlite3.Row, bytes]:
        """Serve a signed URL: no API key, but a valid unexpired signature (else 403)."""
        try:
            exp = int(expires or "")
        except ValueError as err:
            raise ApiError(403, "Invalid or expired download link: fetch the attachment again") from err
        if not signature or not hmac.compare_digest(self._sign(att_id, exp), signature) or exp < time.time():
            raise ApiError(403, "Invalid or expired download link: fetch the attachment again")
        row = self.store.one("SELECT * FROM attachments WHERE id = ?", (att_id,))
        data = None if row is None else self.store.get_blob(row["blob_key"])
        if row is None or data is None:
            raise ApiError(404, "Attachment not found")
        return row, data

    # -- search, streams, relay, reset ----------------------------------------------------

    def search(
        self, principal: Principal, mailbox_id: str, q: str | None, limit: str | None, offset: str | None
    ) -> dict[str, Any]:
        from ._mail import _int_param

        self._mailbox(principal, mailbox_id)
        if q is None or not q.strip():
            raise ApiError(400, "q is required: the words to search for")
        lim = _int_param(limit, "limit", default=20, low=1, high=100)
        off = _int_param(offset, "offset", default=0, low=0, high=None)
        return search_mailbox(self.store, mailbox_id, q, limit=lim, offset=off)

    def check_stream_slot(self) -> None:
        """429 when the account already has ``max_event_streams`` open SSE streams."""
        if self.hub.subscribers >= self.limits.max_event_streams:
            raise ApiError(429, f"Too many event streams: at most {self.limits.max_event_streams} at once")

    def relay_later(self, outbox_id: str) -> None:
        if self._relay_pool is None:
            self._relay_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-relay")
        self._relay_pool.submit(self._relay, outbox_id)

    def _relay(self, outbox_id: str) -> None:
        from ._smtp import SMTPRelayError, relay

        row = self.store.one("SELECT * FROM outbox WHERE id = ?", (outbox_id,))
        if row is None or self.smarthost is None:
            return
        host, port = self.smarthost
        rcpts: list[str] = loads(row["rcpt_tos"])
        raw = self.outbox_raw(row)
        if not raw:
            self.store.run(
                "UPDATE outbox SET relay_status='FAILED', relay_error=? WHERE id=?",
                ("the message could not be rendered as MIME (see the log)", outbox_id),
            )
            return
        try:
            relay(raw, mail_from=row["mail_from"], rcpt_tos=rcpts, host=host, port=port)
        except SMTPRelayError as err:
            logger.warning("smarthost relay of %s failed: %s", outbox_id, err)
            self.store.run(
                "UPDATE outbox SET relay_status=?, relay_error=? WHERE id=?",
                ("PARTIAL" if err.delivered else "FAILED", str(err)[:1000], outbox_id),
            )
            # A permanent (5xx) refusal is a bounce, as the hosted service reports it.
            hard = {r: f"{code} {text}" for r, (code, text) in err.refused.items() if 500 <= code < 600}
            if not hard and err.permanent and not err.delivered:
                hard = {r: str(err) for r in rcpts}
            if hard:
                self._bounce_relayed(row["message_id"], hard)
        except Exception as err:  # unreachable smarthost etc.: recorded on the outbox row
            logger.warning("smarthost relay of %s failed: %s", outbox_id, err)
            self.store.run(
                "UPDATE outbox SET relay_status='FAILED', relay_error=? WHERE id=?",
                (str(err)[:1000], outbox_id),
            )
        else:
            self.store.run(
                "UPDATE outbox SET relay_status='RELAYED', relay_error=NULL WHERE id=?", (outbox_id,)
            )

    def _bounce_relayed(self, message_id: str, refused: dict[str, str]) -> None:
        with self.store.tx() as conn:
            row = conn.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                return
            mailbox = conn.execute("SELECT * FROM mailboxes WHERE id = ?", (row["mailbox_id"],)).fetchone()
            conn.execute("UPDATE messages SET status = 'BOUNCED' WHERE id = ?", (message_id,))
            for address in refused:
                self._suppress(conn, address, "BOUNCE")
            fresh = conn.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
            if mailbox is not None:
                self.log.append(
                    "message.bounced",
                    row["mailbox_id"],
                    self._status_data(
                        fresh,
                        mailbox,
                        recipients=sorted(refused),
                        bounce_type="permanent",
                        diagnostic="; ".join(f"{r}: {d}" for r, d in sorted(refused.items()))[:1000],
                    ),
                )

    def clear_outbox(self) -> int:
        return self.store.run("DELETE FROM outbox").rowcount

    def reset(self) -> None:
        """Delete all mail, mailboxes, webhooks, events, domains; keep the account and its keys."""
        with self.store.tx() as conn:
            for table in (
                "messages",
                "threads",
                "attachments",
                "blobs",
                "webhooks",
                "deliveries",
                "events",
                "suppressions",
                "bounces",
                "outbox",
                "mailboxes",
                "domains",
                "messages_fts",
            ):
                conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            conn.execute("DELETE FROM api_keys WHERE mailbox_ids IS NOT NULL")
        if self.store.path is not None:
            for blob in (self.store.path / "blobs").glob("*"):
                blob.unlink(missing_ok=True)
        self.storage_used = 0
        self._quota_cache = None
        self.principals.clear()
        self.rates.reset()

    def close(self) -> None:
        self.hub.close()
        if self._relay_pool is not None:
            self._relay_pool.shutdown(wait=True, cancel_futures=False)
            self._relay_pool = None


def _parse_smarthost(value: str | tuple[str, int] | None) -> tuple[str, int] | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        return value[0], int(value[1])
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        msg = f"smarthost must be 'host:port' or (host, port), got {value!r}"
        raise InvalidRequestError(msg)
    return host.strip("[]"), int(port)
