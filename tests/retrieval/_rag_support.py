"""Helpers shared by the retrieval tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def make_message(
    id: str,
    body: str,
    *,
    mailbox_id: str = "mb-a",
    thread_id: str | None = "th-1",
    subject: str = "Question",
    sender: str = "dana@example.com",
    direction: str = "INBOUND",
    minutes: int = 0,
) -> dict[str, Any]:
    """A message as the REST API returns it (camelCase)."""
    return {
        "id": id,
        "mailboxId": mailbox_id,
        "threadId": thread_id,
        "messageId": f"<{id}@example.com>",
        "direction": direction,
        "fromAddress": sender,
        "subject": subject,
        "bodyText": body,
        "createdAt": (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"),
    }
