"""Account-level resources: custom domains, webhooks and suppressions.

Mixed into :class:`~agentmail_tools.sandbox._service.SandboxService`.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import sqlite3
from typing import Any
from urllib.parse import urlsplit

from .._errors import InvalidRequestError
from .._validation import normalize_address
from . import _domains
from ._auth import Principal
from ._core import ServiceCore
from ._events import EVENT_TYPES
from ._http import ApiError
from ._store import dumps, loads, new_id, now_iso
from ._wire import delivery_json, domain_json, suppression_json, webhook_json

__all__ = ["AdminOps"]

_DOMAIN_NAME_RE = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_LOOPBACK_HOSTS = {"localhost"}


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_HOSTS or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class AdminOps(ServiceCore):
    """Domains, webhooks and suppressions."""

    # -- domains -------------------------------------------------------------------------

    def _domain_row(self, principal: Principal, domain_id: str) -> sqlite3.Row:
        principal.require_full_access()
        row = self.store.one("SELECT * FROM domains WHERE id = ?", (domain_id,))
        if row is None:
            raise ApiError(404, "Domain not found")
        return row

    def list_domains(self, principal: Principal) -> dict[str, Any]:
        principal.require_full_access()
        rows = self.store.all("SELECT * FROM domains ORDER BY created_at, rowid")
        return {"domains": [domain_json(r, user_id=self.user_id) for r in rows]}

    def create_domain(self, principal: Principal, body: Any) -> dict[str, Any]:
        principal.require_full_access()
        name = body.get("domain") if isinstance(body, dict) else None
        if not isinstance(name, str):
            raise ApiError(400, 'domain is required, e.g. {"domain": "mail.example.com"}')
        name = name.strip().rstrip(".").lower()
        if _DOMAIN_NAME_RE.fullmatch(name) is None:
            raise ApiError(400, f"{name!r} is not a valid domain name")
        if name == self.default_domain:
            raise ApiError(409, "That is the sandbox's own domain")
        private_pem, public_b64 = _domains.generate_dkim_keypair()
        records = _domains.dns_records_for(name, public_b64, selector="robotomail")
        created = now_iso()
        domain_id = new_id()
        try:
            self.store.run(
                "INSERT INTO domains(id, domain, status, dkim_public_key, dkim_private_key, dkim_selector,"
                " dns_records, created_at, updated_at) VALUES (?,?, 'PENDING_VERIFICATION', ?,?,?,?,?,?)",
                (domain_id, name, public_b64, private_pem, "robotomail", dumps(records), created, created),
            )
        except sqlite3.IntegrityError as err:
            raise ApiError(409, f"Domain {name} is already added") from err
        row = self._domain_row(principal, domain_id)
        return {"domain": domain_json(row, user_id=self.user_id), "dnsRecords": records}

    def get_domain(self, principal: Principal, domain_id: str) -> dict[str, Any]:
        row = self._domain_row(principal, domain_id)
        return {"domain": domain_json(row, user_id=self.user_id), "dnsRecords": loads(row["dns_records"])}

    def delete_domain(self, principal: Principal, domain_id: str) -> dict[str, Any]:
        row = self._domain_row(principal, domain_id)
        if self.store.one("SELECT 1 FROM mailboxes WHERE domain_id = ?", (row["id"],)) is not None:
            raise ApiError(409, "Domain has mailboxes: delete them first")
        self.store.run("DELETE FROM domains WHERE id = ?", (domain_id,))
        return {"deleted": True}

    def verify_domain(self, principal: Principal, domain_id: str) -> dict[str, Any]:
        row = self._domain_row(principal, domain_id)
        result = _domains.verify_domain(row["domain"], loads(row["dns_records"]), self.resolver)
        checks = {k: bool(result.get(k)) for k in ("mx", "spf", "dkim", "dmarc")}
        all_ok = all(checks.values())
        if all_ok:
            status = "VERIFIED"
        elif checks["mx"] and checks["spf"] and checks["dkim"]:
            status = "DNS_VERIFIED"
        else:
            status = "PENDING_VERIFICATION"
        self.store.run(
            "UPDATE domains SET status=?, mx_verified=?, spf_verified=?, dkim_verified=?, dmarc_verified=?,"
            " updated_at=? WHERE id=?",
            (status, *(int(checks[k]) for k in ("mx", "spf", "dkim", "dmarc")), now_iso(), domain_id),
        )
        verification: dict[str, Any] = {**checks, "allVerified": all_ok}
        for key, value in result.items():  # keep the resolver's reasons (additive fields)
            if key not in verification and key not in ("domain",):
                verification[key] = value
        row = self._domain_row(principal, domain_id)
        return {"domain": domain_json(row, user_id=self.user_id), "verification": verification}

    # -- webhooks ------------------------------------------------------------------------

    def _webhook_row(self, principal: Principal, webhook_id: str) -> sqlite3.Row:
        row = self.store.one("SELECT * FROM webhooks WHERE id = ?", (webhook_id,))
        if row is None or (not principal.full_access and not principal.can_see(row["mailbox_id"])):
            raise ApiError(404, "Webhook not found")
        return row

    @staticmethod
    def _check_webhook_url(url: Any) -> str:
        if not isinstance(url, str) or len(url) > 2048:
            raise ApiError(400, "url must be an http(s) URL")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ApiError(400, "url must be an absolute http(s) URL")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ApiError(
                400,
                "url must use https (the sandbox also accepts http on loopback: 127.0.0.1, ::1, localhost)",
            )
        return url

    @staticmethod
    def _check_events(events: Any) -> list[str]:
        if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
            raise ApiError(400, f"events must be a non-empty list of: {', '.join(EVENT_TYPES)}")
        unknown = [e for e in events if e not in EVENT_TYPES]
        if unknown:
            raise ApiError(400, f"Unknown event type(s) {', '.join(unknown)}; use: {', '.join(EVENT_TYPES)}")
        return list(dict.fromkeys(events))

    @staticmethod
    def _check_headers(headers: Any) -> dict[str, str] | None:
        if headers is None:
            return None
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and not any(c in k + v for c in "\r\n\x00")
            for k, v in headers.items()
        ):
            raise ApiError(400, "headers must be an object of header names to string values (no CR/LF)")
        return headers

    def list_webhooks(self, principal: Principal) -> dict[str, Any]:
        rows = self.store.all("SELECT * FROM webhooks ORDER BY created_at, rowid")
        return {
            "webhooks": [
                webhook_json(r, user_id=self.user_id)
                for r in rows
                if principal.full_access or principal.can_see(r["mailbox_id"])
            ]
        }

    def create_webhook(self, principal: Principal, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "Request body must be a JSON object with url and events")
        url = self._check_webhook_url(body.get("url"))
        events = self._check_events(body.get("events"))
        headers = self._check_headers(body.get("headers"))
        mailbox_id = body.get("mailboxId")
        if mailbox_id is not None:
            if not isinstance(mailbox_id, str):
                raise ApiError(400, "mailboxId must be a string")
            self._mailbox(principal, mailbox_id)
        else:
            principal.require_full_access()
        created = now_iso()
        webhook_id = new_id()
        secret = "whsec_" + secrets.token_hex(24)
        self.store.run(
            "INSERT INTO webhooks(id, mailbox_id, url, events, headers, secret, status, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?, 'ACTIVE', ?, ?)",
            (
                webhook_id,
                mailbox_id,
                url,
                dumps(events),
                dumps(headers) if headers is not None else None,
                secret,
                created,
                created,
            ),
        )
        row = self._webhook_row(principal, webhook_id)
        return {"webhook": webhook_json(row, user_id=self.user_id, mask=False, secret=True)}

    def get_webhook(self, principal: Principal, webhook_id: str) -> dict[str, Any]:
        return {"webhook": webhook_json(self._webhook_row(principal, webhook_id), user_id=self.user_id)}

    def update_webhook(self, principal: Principal, webhook_id: str, body: Any) -> dict[str, Any]:
        self._webhook_row(principal, webhook_id)
        if not isinstance(body, dict):
            raise ApiError(400, "Request body must be a JSON object")
        sets: list[str] = []
        params: list[Any] = []
        if "url" in body:
            sets.append("url = ?")
            params.append(self._check_webhook_url(body["url"]))
        if "events" in body:
            sets.append("events = ?")
            params.append(dumps(self._check_events(body["events"])))
        if "headers" in body:
            headers = self._check_headers(body["headers"])
            sets.append("headers = ?")
            params.append(dumps(headers) if headers is not None else None)
        if "status" in body:
            if body["status"] not in ("ACTIVE", "PAUSED"):
                raise ApiError(400, "status must be ACTIVE or PAUSED")
            sets.append("status = ?")
            params.append(body["status"])
            if body["status"] == "ACTIVE":
                sets.append("failure_count = 0")  # re-activating a FAILED webhook starts afresh
        if sets:
            sets.append("updated_at = ?")
            params += [now_iso(), webhook_id]
            self.store.run(f"UPDATE webhooks SET {', '.join(sets)} WHERE id = ?", params)
        if body.get("status") == "ACTIVE" and self.log.on_delivery is not None:
            self.log.on_delivery()
        return self.get_webhook(principal, webhook_id)

    def delete_webhook(self, principal: Principal, webhook_id: str) -> dict[str, Any]:
        self._webhook_row(principal, webhook_id)
        with self.store.tx() as conn:
            conn.execute("DELETE FROM deliveries WHERE webhook_id = ?", (webhook_id,))
            conn.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,))
        return {"deleted": True}

    def list_deliveries(self, principal: Principal, webhook_id: str) -> dict[str, Any]:
        self._webhook_row(principal, webhook_id)
        rows = self.store.all(
            "SELECT * FROM deliveries WHERE webhook_id = ? ORDER BY seq DESC LIMIT 20", (webhook_id,)
        )
        return {"deliveries": [delivery_json(r) for r in rows]}

    # -- suppressions --------------------------------------------------------------------

    def list_suppressions(self, principal: Principal) -> dict[str, Any]:
        principal.require_full_access()
        rows = self.store.all("SELECT * FROM suppressions ORDER BY created_at, rowid")
        return {"suppressions": [suppression_json(r) for r in rows]}

    def create_suppression(self, principal: Principal, body: Any) -> dict[str, Any]:
        principal.require_full_access()
        if not isinstance(body, dict):
            raise ApiError(400, "Request body must be a JSON object with an email")
        try:
            email = normalize_address(body.get("email"), "email").lower()
        except InvalidRequestError as err:
            raise ApiError(400, str(err)) from err
        reason = body.get("reason", "MANUAL")
        if reason not in ("BOUNCE", "COMPLAINT", "MANUAL"):
            raise ApiError(400, "reason must be BOUNCE, COMPLAINT or MANUAL")
        sup_id = new_id()
        try:
            self.store.run(
                "INSERT INTO suppressions(id, email, reason, created_at) VALUES (?,?,?,?)",
                (sup_id, email, reason, now_iso()),
            )
        except sqlite3.IntegrityError as err:
            raise ApiError(409, f"{email} is already suppressed") from err
        row = self.store.one("SELECT * FROM suppressions WHERE id = ?", (sup_id,))
        assert row is not None
        return {"suppression": suppression_json(row)}

    def delete_suppression(self, principal: Principal, sup_id: str) -> dict[str, Any]:
        principal.require_full_access()
        cur = self.store.run("DELETE FROM suppressions WHERE id = ?", (sup_id,))
        if cur.rowcount == 0:
            raise ApiError(404, "Suppression not found")
        return {"deleted": True}
