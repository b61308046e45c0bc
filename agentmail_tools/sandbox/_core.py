"""What the service mixins share: attributes and cross-module methods, declared for type checkers.

:class:`~agentmail_tools.sandbox._service.SandboxService` combines the mixins and provides
everything declared here; this class only lets each mixin module be checked on its own.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._mime import ParsedAttachment
    from ._auth import Principal
    from ._events import EventLog
    from ._limits import RateLimiter, SandboxLimits
    from ._store import Store

__all__ = ["ServiceCore"]


class ServiceCore:
    """Declarations only (see the module docstring)."""

    if TYPE_CHECKING:  # provided by SandboxService and the mixins
        store: Store
        limits: SandboxLimits
        log: EventLog
        rates: RateLimiter
        smarthost: tuple[str, int] | None
        storage_used: int
        public_base_url: str
        _quota_cache: tuple[str, str, str | None] | None
        resolver: Any
        user_id: str
        default_domain: str

        def _mailbox(self, principal: Principal, mailbox_id: str) -> sqlite3.Row: ...
        def _check_storage(self, extra: int) -> None: ...
        def _suppressed(self, addresses: list[str]) -> list[str]: ...
        def _suppress(self, conn: sqlite3.Connection, email: str, reason: str) -> None: ...
        def payment_required(self, code: str) -> dict[str, Any]: ...
        def signed_url(self, att_id: str, base_url: str, now: float | None = None) -> str: ...
        def attachment_out(self, row: sqlite3.Row, base_url: str) -> dict[str, Any]: ...
        def relay_later(self, outbox_id: str) -> None: ...

        def _thread_for(
            self,
            conn: sqlite3.Connection,
            mailbox_id: str,
            *,
            subject: str,
            candidates: list[str],
            participants: list[str],
            created: str,
        ) -> str: ...
        def _insert_message(self, conn: sqlite3.Connection, **f: Any) -> str: ...
        def _link_attachment(self, conn: sqlite3.Connection, att: sqlite3.Row, msg_id: str) -> None: ...
        def _status_data(self, row: sqlite3.Row, mailbox: sqlite3.Row, **extra: Any) -> dict[str, Any]: ...
        def _recipients(self, body: dict[str, Any], field: str, *, required: bool) -> list[str]: ...
        def _to_outbox(self, mailbox: sqlite3.Row, row: sqlite3.Row, rcpts: list[str]) -> None: ...
        def outbox_raw(self, outbox_row: sqlite3.Row) -> bytes: ...
        def complaint(self, message_id: str, address: str | None = None) -> dict[str, Any]: ...
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
        ) -> dict[str, Any]: ...
