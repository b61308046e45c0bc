"""Test support for the client: a contract-checking fake API on httpx.MockTransport, and
contract-shaped objects.

Every JSON response the fake serves is validated against the operation's response schema
in ``robotomail-openapi.json`` and every JSON request body against its request schema, so
the fixtures cannot drift from the contract and the client cannot send a body the API
would refuse.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jsonschema

# A copy of shared/contracts/robotomail-openapi.json kept in the repo, so a fresh clone tests offline.
SPEC_PATH = Path(__file__).resolve().parent / "contract" / "robotomail-openapi.json"
SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text())
BASE = "https://api.robotomail.com/v1"


def schema_validator(ref_or_schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A 2020-12 validator for a schema that may $ref into the spec's components."""
    schema = dict(ref_or_schema)
    schema["components"] = SPEC["components"]
    return jsonschema.Draft202012Validator(schema)


def component(name: str) -> jsonschema.protocols.Validator:
    return schema_validator({"$ref": f"#/components/schemas/{name}"})


def _resolve(obj: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in obj:
        parts = obj["$ref"].removeprefix("#/").split("/")
        node: Any = SPEC
        for part in parts:
            node = node[part]
        obj = node
    return obj


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
    return re.compile(f"^{pattern}$")


_OPERATIONS = [
    (method.upper(), template, _template_regex(template), op)
    for template, item in SPEC["paths"].items()
    for method, op in item.items()
    if method in ("get", "post", "patch", "delete", "put")
]


def find_operation(method: str, raw_path: str) -> tuple[str, dict[str, Any]] | None:
    for op_method, template, regex, op in _OPERATIONS:
        if op_method == method and regex.match(raw_path):
            return template, op
    return None


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    stream: list[bytes] | None = None
    error: Exception | None = None
    check_contract: bool = True


class _ChunkStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body delivered in the given chunks (sync and async)."""

    def __init__(self, chunks: list[bytes], error: Exception | None = None) -> None:
        self._chunks = chunks
        self._error = error

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks
        if self._error is not None:
            raise self._error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk
        if self._error is not None:
            raise self._error


class FakeAPI:
    """Routes requests to queued replies and checks both directions against the contract.

    ``add(method, path_regex_or_template, ...)`` queues replies; the last reply for a
    route repeats. Unrouted requests fail the test loudly.
    """

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._routes: list[tuple[str, re.Pattern[str], list[Reply]]] = []
        self.stream_errors: dict[int, Exception] = {}

    def add(self, method: str, path: str, *replies: Reply | int, **reply: Any) -> FakeAPI:
        queue = [r if isinstance(r, Reply) else Reply(status=r, **reply) for r in replies] or [Reply(**reply)]
        regex = _template_regex(path) if "{" in path else re.compile("^" + re.escape(path) + "$")
        self._routes.append((method.upper(), regex, queue))
        return self

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def handler(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        raw_path = request.url.raw_path.decode("ascii").split("?")[0]
        api_path = re.sub(r"^.*?/v1(?=/|$)", "", raw_path)
        for method, regex, queue in self._routes:
            if method == request.method and (
                regex.match(api_path) or regex.match(str(request.url).split("?")[0])
            ):
                reply = queue.pop(0) if len(queue) > 1 else queue[0]
                break
        else:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        if reply.error is not None and reply.stream is None:
            raise reply.error
        found = find_operation(request.method, api_path)
        if found is not None and reply.check_contract:
            self._check_request(request, found[1])
        if reply.stream is not None:
            return httpx.Response(
                reply.status,
                headers={"content-type": "text/event-stream", **reply.headers},
                stream=_ChunkStream(reply.stream, reply.error),
            )
        if reply.content is not None:
            return httpx.Response(reply.status, headers=reply.headers, content=reply.content)
        if found is not None and reply.check_contract and reply.json is not None:
            self._check_response(found, reply)
        return httpx.Response(reply.status, headers=reply.headers, json=reply.json)

    @staticmethod
    def _check_request(request: httpx.Request, op: dict[str, Any]) -> None:
        body_spec = op.get("requestBody")
        ctype = request.headers.get("content-type", "")
        if body_spec is None:
            assert not request.content, f"{request.method} {request.url} must have no body"
            return
        if ctype.startswith("application/json"):
            schema = body_spec["content"]["application/json"]["schema"]
            errors = list(schema_validator(schema).iter_errors(json.loads(request.content)))
            assert not errors, f"request body breaks the contract: {[e.message for e in errors]}"

    @staticmethod
    def _check_response(found: tuple[str, dict[str, Any]], reply: Reply) -> None:
        template, op = found
        declared = op["responses"].get(str(reply.status))
        if declared is None:
            if reply.status >= 500:
                return  # 5xx are undeclared in the contract; their body is ErrorBody by convention
            raise AssertionError(f"{template} does not declare status {reply.status}")
        content = _resolve(declared).get("content", {}).get("application/json")
        if content is None:
            return
        errors = list(schema_validator(content["schema"]).iter_errors(reply.json))
        assert not errors, (
            f"fixture for {template} {reply.status} breaks the contract: {[e.message for e in errors]}"
        )


async def resolve(value: Any) -> Any:
    """Await coroutines (async client), pass values through (sync client)."""
    if inspect.isawaitable(value):
        return await value
    return value


async def collect(iterable: Any) -> list[Any]:
    """List an iterator or an async iterator."""
    if hasattr(iterable, "__aiter__"):
        return [item async for item in iterable]
    return list(iterable)


def no_sleep(client: Any, record: list[float]) -> None:
    """Replace the client's sleep with a recorder (sync or async as the client needs)."""
    if inspect.iscoroutinefunction(client._sleep):

        async def fake(delay: float) -> None:
            record.append(delay)

        client._sleep = fake
    else:
        client._sleep = record.append


# --------------------------------------------------------------------------- contract objects

TS = "2026-03-01T12:00:00.000Z"


def mailbox(**over: Any) -> dict[str, Any]:
    obj = {
        "id": "mb_1",
        "userId": "usr_1",
        "domainId": None,
        "address": "support",
        "fullAddress": "support@robotomail.co",
        "displayName": "Support",
        "dailySendCount": 3,
        "dailySendLimit": 100,
        "monthlySendCount": 40,
        "monthlySendLimit": 0,
        "status": "ACTIVE",
        "pausedByBilling": False,
        "stalwartProvisioned": True,
        "suspendedAt": None,
        "suspendedReason": None,
        "suspensionIncidentId": None,
        "createdAt": TS,
        "updatedAt": TS,
    }
    obj.update(over)
    return obj


def attachment(**over: Any) -> dict[str, Any]:
    obj = {
        "id": "att_1",
        "messageId": "msg_1",
        "userId": "usr_1",
        "filename": "invoice.pdf",
        "contentType": "application/pdf",
        "sizeBytes": 1234,
        "contentId": None,
        "createdAt": TS,
    }
    obj.update(over)
    return obj


def message(**over: Any) -> dict[str, Any]:
    obj = {
        "id": "msg_1",
        "mailboxId": "mb_1",
        "direction": "INBOUND",
        "messageId": "<abc@example.com>",
        "inReplyTo": None,
        "threadId": "thr_1",
        "fromAddress": "ann@example.com",
        "toAddresses": ["support@robotomail.co"],
        "ccAddresses": [],
        "bccAddresses": [],
        "subject": "Where is my order?",
        "bodyText": "Hello, order 42 has not arrived.",
        "bodyHtml": None,
        "headers": {"x-custom-a": "1"},
        "status": "RECEIVED",
        "externalMessageId": None,
        "hasAttachments": False,
        "attachmentsDropped": False,
        "attachmentsDroppedReason": None,
        "eventDispatchedAt": TS,
        "overLimit": False,
        "overLimitReason": None,
        "createdAt": TS,
    }
    obj.update(over)
    return obj


def thread(**over: Any) -> dict[str, Any]:
    obj = {
        "id": "thr_1",
        "mailboxId": "mb_1",
        "subject": "Where is my order?",
        "messageCount": 2,
        "lastMessageAt": TS,
        "participants": ["ann@example.com", "support@robotomail.co"],
        "createdAt": TS,
    }
    obj.update(over)
    return obj


def domain(**over: Any) -> dict[str, Any]:
    obj = {
        "id": "dom_1",
        "userId": "usr_1",
        "domain": "mail.example.com",
        "status": "PENDING_VERIFICATION",
        "mxVerified": False,
        "spfVerified": False,
        "dkimVerified": False,
        "dmarcVerified": False,
        "dkimPublicKey": "MIIBIjANBg",
        "dkimSelector": "rm1",
        "createdAt": TS,
        "updatedAt": TS,
    }
    obj.update(over)
    return obj


def dns_records() -> dict[str, Any]:
    return {
        "mx": {"type": "MX", "host": "mail.example.com", "value": "mx.robotomail.com", "priority": 10},
        "sendMx": {
            "type": "MX",
            "host": "send.mail.example.com",
            "value": "feedback.robotomail.com",
            "priority": 10,
        },
        "spf": {"type": "TXT", "host": "mail.example.com", "value": "v=spf1 include:robotomail.com ~all"},
        "dkim": [
            {"type": "TXT", "host": "rm1._domainkey.mail.example.com", "value": "v=DKIM1; k=rsa; p=MIIB"}
        ],
        "dmarc": {"type": "TXT", "host": "_dmarc.mail.example.com", "value": "v=DMARC1; p=none"},
    }


def webhook(**over: Any) -> dict[str, Any]:
    obj = {
        "id": "wh_1",
        "userId": "usr_1",
        "mailboxId": None,
        "url": "https://agent.example.com/hooks/mail",
        "events": ["message.received"],
        "headers": None,
        "status": "ACTIVE",
        "failureCount": 0,
        "lastTriggeredAt": None,
        "createdAt": TS,
        "updatedAt": TS,
    }
    obj.update(over)
    return obj


def delivery(**over: Any) -> dict[str, Any]:
    obj = {
        "id": "dlv_1",
        "event": "message.received",
        "responseStatus": 200,
        "status": "DELIVERED",
        "attempts": 1,
        "nextRetryAt": None,
        "createdAt": TS,
    }
    obj.update(over)
    return obj


def suppression(**over: Any) -> dict[str, Any]:
    obj = {"id": "sup_1", "email": "bounce@example.com", "reason": "MANUAL", "createdAt": TS}
    obj.update(over)
    return obj


def account(**over: Any) -> dict[str, Any]:
    obj = {
        "id": "usr_1",
        "email": "owner@example.com",
        "emailVerified": True,
        "slug": "acme",
        "plan": "FREE",
        "suspended": False,
        "storageUsedBytes": 10,
        "storageLimitBytes": 1000,
        "mailboxCount": 1,
        "activeMailboxCount": 1,
        "sentToday": 0,
        "sentThisMonth": 4,
        "receivedToday": 1,
        "bouncedToday": 0,
        "monthlyInboundCount": 12,
        "monthlyInboundLimit": 1000,
    }
    obj.update(over)
    return obj


def received_data(**over: Any) -> dict[str, Any]:
    obj = {
        "message_id": "msg_1",
        "mailbox_id": "mb_1",
        "mailbox_address": "support@robotomail.co",
        "from": "ann@example.com",
        "to": ["support@robotomail.co"],
        "cc": [],
        "subject": "Where is my order?",
        "body_text": "Hello",
        "body_html": None,
        "thread_id": "thr_1",
        "in_reply_to": None,
        "headers": {},
        "attachments": [
            {
                "id": "att_1",
                "filename": "a.txt",
                "content_type": "text/plain",
                "size_bytes": 3,
                "content_id": None,
                "download_url": "https://files.example/att_1",
            }
        ],
        "received_at": TS,
    }
    obj.update(over)
    return obj


MakeClient = Callable[..., Any]
