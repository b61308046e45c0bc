"""Database rows to the contract's camelCase JSON objects (and webhook/SSE snake_case data)."""

from __future__ import annotations

import sqlite3
from typing import Any

from ._store import loads

__all__ = [
    "MESSAGE_JSON_SQL",
    "apikey_json",
    "attachment_json",
    "domain_json",
    "event_attachment",
    "mailbox_json",
    "message_json",
    "suppression_json",
    "thread_json",
    "webhook_json",
]

MASK = "********"


def mailbox_json(row: sqlite3.Row, *, user_id: str, daily_limit: int, monthly_limit: int) -> dict[str, Any]:
    return {
        "id": row["id"],
        "userId": user_id,
        "domainId": row["domain_id"],
        "address": row["address"],
        "fullAddress": row["full_address"],
        "domain": row["domain"],  # sandbox addition (additive field): the mailbox's mail domain
        "displayName": row["display_name"],
        "dailySendCount": row["daily_send_count"],
        "dailySendLimit": daily_limit,
        "monthlySendCount": row["monthly_send_count"],
        "monthlySendLimit": monthly_limit,
        "status": row["status"],
        "pausedByBilling": False,
        "stalwartProvisioned": True,
        "suspendedAt": None,
        "suspendedReason": None,
        "suspensionIncidentId": None,
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def message_json(row: sqlite3.Row, attachments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row["id"],
        "mailboxId": row["mailbox_id"],
        "direction": row["direction"],
        "messageId": row["message_id"],
        "inReplyTo": row["in_reply_to"],
        "references": loads(row["refs"]) or [],  # sandbox addition: the References chain
        "threadId": row["thread_id"],
        "fromAddress": row["from_address"],
        "fromName": row["from_name"],  # sandbox addition
        "toAddresses": loads(row["to_addresses"]),
        "ccAddresses": loads(row["cc_addresses"]),
        "bccAddresses": loads(row["bcc_addresses"]),
        "subject": row["subject"],
        "bodyText": row["body_text"],
        "bodyHtml": row["body_html"],
        "headers": loads(row["headers"]) or {},
        "status": row["status"],
        "externalMessageId": None,
        "hasAttachments": bool(row["has_attachments"]),
        "attachmentsDropped": bool(row["attachments_dropped"]),
        "attachmentsDroppedReason": row["attachments_dropped_reason"],
        "eventDispatchedAt": row["event_dispatched_at"],
        "overLimit": False,
        "overLimitReason": None,
        "createdAt": row["created_at"],
    }
    if attachments is not None:
        out["attachments"] = attachments
    return out


def _flag(column: str) -> str:
    return f"json(CASE WHEN {column} THEN 'true' ELSE 'false' END)"


# The Message object built by SQLite itself: listing a 1,000-message thread this way is several
# times faster than decoding each row's JSON columns in Python and encoding the result again.
# Must stay field-for-field identical to message_json (a test compares them).
MESSAGE_JSON_SQL = (
    "json_object('id', id, 'mailboxId', mailbox_id, 'direction', direction, 'messageId', message_id,"
    " 'inReplyTo', in_reply_to, 'references', json(refs), 'threadId', thread_id, 'fromAddress', from_address,"
    " 'fromName', from_name, 'toAddresses', json(to_addresses), 'ccAddresses', json(cc_addresses),"
    " 'bccAddresses', json(bcc_addresses), 'subject', subject, 'bodyText', body_text, 'bodyHtml', body_html,"
    " 'headers', json(headers), 'status', status, 'externalMessageId', NULL,"
    f" 'hasAttachments', {_flag('has_attachments')}, 'attachmentsDropped', {_flag('attachments_dropped')},"
    " 'attachmentsDroppedReason', attachments_dropped_reason, 'eventDispatchedAt', event_dispatched_at,"
    " 'overLimit', json('false'), 'overLimitReason', NULL, 'createdAt', created_at)"
)


def thread_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "mailboxId": row["mailbox_id"],
        "subject": row["subject"],
        "messageCount": row["message_count"],
        "lastMessageAt": row["last_message_at"],
        "participants": loads(row["participants"]),
        "createdAt": row["created_at"],
    }


def attachment_json(row: sqlite3.Row, *, user_id: str, url: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row["id"],
        "messageId": row["message_id"],
        "userId": user_id,
        "filename": row["filename"],
        "contentType": row["content_type"],
        "sizeBytes": row["size_bytes"],
        "contentId": row["content_id"],
        "createdAt": row["created_at"],
    }
    if url is not None:
        out["url"] = url
    return out


def event_attachment(row: sqlite3.Row, url: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row["id"],
        "filename": row["filename"],
        "content_type": row["content_type"],
        "size_bytes": row["size_bytes"],
        "content_id": row["content_id"],
    }
    if url is not None:
        out["download_url"] = url
    return out


def domain_json(row: sqlite3.Row, *, user_id: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "userId": user_id,
        "domain": row["domain"],
        "status": row["status"],
        "mxVerified": bool(row["mx_verified"]),
        "spfVerified": bool(row["spf_verified"]),
        "dkimVerified": bool(row["dkim_verified"]),
        "dmarcVerified": bool(row["dmarc_verified"]),
        "dkimPublicKey": row["dkim_public_key"],
        "dkimSelector": row["dkim_selector"],
        "externalDomainId": None,
        "stalwartProvisioned": True,
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def webhook_json(
    row: sqlite3.Row, *, user_id: str, mask: bool = True, secret: bool = False
) -> dict[str, Any]:
    headers = loads(row["headers"])
    if headers is not None and mask:
        headers = {name: MASK for name in headers}
    out: dict[str, Any] = {
        "id": row["id"],
        "userId": user_id,
        "mailboxId": row["mailbox_id"],
        "url": row["url"],
        "events": loads(row["events"]),
        "headers": headers,
        "status": row["status"],
        "failureCount": row["failure_count"],
        "lastTriggeredAt": row["last_triggered_at"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }
    if secret:
        out["secret"] = row["secret"]
    return out


def delivery_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "event": row["event"],
        "eventId": str(row["event_id"]),  # sandbox addition: the SSE/event-log id
        "responseStatus": row["response_status"],
        "status": row["status"],
        "attempts": row["attempts"],
        "nextRetryAt": row["next_retry_at"],
        "lastError": row["last_error"],  # sandbox addition
        "createdAt": row["created_at"],
    }


def suppression_json(row: sqlite3.Row) -> dict[str, Any]:
    return {"id": row["id"], "email": row["email"], "reason": row["reason"], "createdAt": row["created_at"]}


def apikey_json(row: sqlite3.Row) -> dict[str, Any]:
    scoped = loads(row["mailbox_ids"])
    return {
        "id": row["id"],
        "name": row["name"],
        "prefix": row["prefix"],
        "createdAt": row["created_at"],
        "enabled": bool(row["enabled"]),
        "mailboxIds": scoped,  # sandbox addition: null for full access
    }
