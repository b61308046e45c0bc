"""API keys: creation, lookup by bearer token, and the contract's scope rules.

Keys are stored as SHA-256 hashes; only the bootstrap key is also kept in clear (in the
database's meta table) so ``Sandbox(path).api_key`` works again after a restart.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from ._http import ApiError
from ._store import Store, dumps, loads, new_id, now_iso

__all__ = ["FULL_ACCESS_REQUIRED", "Principal", "authenticate", "create_key", "hash_key"]

FULL_ACCESS_REQUIRED = "This operation requires a full-access API key"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key id and, for a mailbox-scoped key, the mailboxes it may use."""

    key_id: str
    mailbox_ids: frozenset[str] | None  # None = full access

    @property
    def full_access(self) -> bool:
        return self.mailbox_ids is None

    def require_full_access(self) -> None:
        """Account-level operations answer 403 to a scoped key (contract)."""
        if self.mailbox_ids is not None:
            raise ApiError(403, FULL_ACCESS_REQUIRED)

    def can_see(self, mailbox_id: str | None) -> bool:
        return self.mailbox_ids is None or (mailbox_id is not None and mailbox_id in self.mailbox_ids)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(store: Store, *, name: str | None, mailbox_ids: list[str] | None) -> tuple[str, str, str]:
    """Insert a new key; return ``(id, key, prefix)``. The clear key is never stored."""
    key = "rm_" + secrets.token_urlsafe(32)
    prefix = key[:10]
    key_id = new_id()
    store.run(
        "INSERT INTO api_keys(id, name, prefix, key_hash, mailbox_ids, created_at) VALUES (?,?,?,?,?,?)",
        (key_id, name, prefix, hash_key(key), dumps(sorted(mailbox_ids)) if mailbox_ids else None, now_iso()),
    )
    return key_id, key, prefix


def authenticate(
    store: Store, authorization: str | None, cache: dict[str, Principal] | None = None
) -> Principal:
    """Resolve ``Authorization: Bearer <key>`` or raise the contract's 401.

    ``cache`` (token → principal) spares a hash and a query per request; whoever changes
    keys or scopes clears it.
    """
    if not authorization or not authorization.lower().startswith("bearer "):
        raise ApiError(401, "Missing API key: send Authorization: Bearer <key>")
    token = authorization[7:].strip()
    if cache is not None and token in cache:
        return cache[token]
    row = store.one("SELECT id, mailbox_ids, enabled FROM api_keys WHERE key_hash = ?", (hash_key(token),))
    if row is None or not row["enabled"]:
        raise ApiError(401, "Invalid API key")
    scoped = loads(row["mailbox_ids"])
    principal = Principal(key_id=row["id"], mailbox_ids=frozenset(scoped) if scoped else None)
    if cache is not None and len(cache) < 1000:
        cache[token] = principal
    return principal
