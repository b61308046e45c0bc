"""The sandbox's ASGI app: Starlette routes mapping the contract's paths onto the service.

Handlers stay thin: authenticate, parse, call :class:`._service.SandboxService`, wrap the
result. Every error, including unknown paths and unexpected failures, is JSON.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ._auth import Principal, authenticate
from ._events import parse_event_types, sse_frames
from ._http import ApiError, JSONResponse, endpoint_not_found
from ._service import SandboxService

__all__ = ["build_app"]

logger = logging.getLogger("agentmail_tools")

_MAX_JSON_BYTES = 40 * 1024 * 1024

Handler = Callable[[Request, Principal], Awaitable[Any]]


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/v1"


async def _json(request: Request, *, optional: bool = False) -> Any:
    raw = await request.body()
    if len(raw) > _MAX_JSON_BYTES:
        raise ApiError(413, "Request body too large")
    if not raw.strip():
        if optional:
            return None
        raise ApiError(400, "Request body must be JSON")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise ApiError(400, f"Request body is not valid JSON: {err}") from err


_MEDIA_TYPE_RE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(\s*;\s*[\x20-\x7e]*)?")


def _safe_type(content_type: str) -> str:
    """Stored types come from the outside world; only a well-formed one becomes a header."""
    return content_type if _MEDIA_TYPE_RE.fullmatch(content_type) else "application/octet-stream"


def _disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact UTF-8 name (RFC 6266 / 5987)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename) or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def build_app(service: SandboxService) -> Starlette:
    """Return the Starlette app serving ``service`` under ``/v1``."""

    def authed(handler: Handler, status: int = 200) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            principal = authenticate(service.store, request.headers.get("authorization"), service.principals)
            result = await handler(request, principal)
            if isinstance(result, Response):
                return result
            response = JSONResponse(result, status_code=status)
            quota, warning = service.inbound_quota()
            response.headers["X-Robotomail-Inbound-Quota"] = quota
            if warning:
                response.headers["X-Robotomail-Inbound-Warning"] = warning
            return response

        return endpoint

    def p(request: Request, name: str) -> str:
        value: str = request.path_params[name]
        return value

    # -- account, keys, mailboxes --------------------------------------------------------
    async def account(r: Request, who: Principal) -> Any:
        return service.account(who)

    async def list_keys(r: Request, who: Principal) -> Any:
        return service.list_keys(who)

    async def create_key(r: Request, who: Principal) -> Any:
        return service.create_api_key(who, await _json(r, optional=True))

    async def revoke_key(r: Request, who: Principal) -> Any:
        return service.revoke_key(who, p(r, "id"))

    async def list_mailboxes(r: Request, who: Principal) -> Any:
        return service.list_mailboxes(who)

    async def create_mailbox(r: Request, who: Principal) -> Any:
        who.require_full_access()
        return service.create_mailbox(who, await _json(r))

    async def get_mailbox(r: Request, who: Principal) -> Any:
        return service.get_mailbox(who, p(r, "id"))

    async def update_mailbox(r: Request, who: Principal) -> Any:
        return service.update_mailbox(who, p(r, "id"), await _json(r))

    async def delete_mailbox(r: Request, who: Principal) -> Any:
        return service.delete_mailbox(who, p(r, "id"))

    # -- messages, threads, search ---------------------------------------------------------
    async def list_messages(r: Request, who: Principal) -> Any:
        q = r.query_params
        return service.list_messages(
            who, p(r, "id"), direction=q.get("direction"), thread_id=q.get("threadId"), since=q.get("since"),
            limit=q.get("limit"), offset=q.get("offset"),
        )  # fmt: skip

    async def send_message(r: Request, who: Principal) -> Any:
        service._mailbox(who, p(r, "id"))  # 404 before reading the body
        return service.send_message(who, p(r, "id"), await _json(r))

    async def get_message(r: Request, who: Principal) -> Any:
        return service.get_message(who, p(r, "id"), p(r, "msg_id"), _base_url(r))

    async def list_threads(r: Request, who: Principal) -> Any:
        return service.list_threads(who, p(r, "id"))

    async def get_thread(r: Request, who: Principal) -> Any:
        return service.get_thread(who, p(r, "id"), p(r, "tid"))

    async def search(r: Request, who: Principal) -> Any:
        q = r.query_params
        return service.search(who, p(r, "id"), q.get("q"), q.get("limit"), q.get("offset"))

    # -- attachments -----------------------------------------------------------------------
    async def upload(r: Request, who: Principal) -> Any:
        who.require_full_access()
        ctype = r.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            raise ApiError(400, "Upload as multipart/form-data with one field named 'file'")
        limit = service.limits.max_upload_bytes
        declared = r.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
            raise ApiError(413, f"Attachment too large: at most {limit} bytes")
        try:
            form = await r.form(max_files=1, max_fields=10, max_part_size=limit + 1)
        except HTTPException as err:
            raise ApiError(400, f"Malformed multipart body: {err.detail}") from err
        except Exception as err:  # multipart parser errors: the client sent a broken body
            raise ApiError(400, f"Malformed multipart body: {err}") from err
        try:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise ApiError(400, "Missing the multipart field 'file'")
            data = await upload.read()
            return service.upload_attachment(
                who, upload.filename or "attachment", upload.content_type or "application/octet-stream", data
            )
        finally:
            await form.close()

    async def get_attachment(r: Request, who: Principal) -> Any:
        return service.get_attachment(who, p(r, "id"), _base_url(r))

    async def delete_attachment(r: Request, who: Principal) -> Any:
        return service.delete_attachment(who, p(r, "id"))

    async def download(request: Request) -> Response:
        q = request.query_params
        row, data = service.download(request.path_params["id"], q.get("expires"), q.get("signature"))
        return Response(
            data,
            media_type=_safe_type(str(row["content_type"])),
            headers={"Content-Disposition": _disposition(str(row["filename"])), "Cache-Control": "private"},
        )

    # -- domains, webhooks, suppressions ---------------------------------------------------
    async def list_domains(r: Request, who: Principal) -> Any:
        return service.list_domains(who)

    async def create_domain(r: Request, who: Principal) -> Any:
        who.require_full_access()
        return service.create_domain(who, await _json(r))

    async def get_domain(r: Request, who: Principal) -> Any:
        return service.get_domain(who, p(r, "id"))

    async def delete_domain(r: Request, who: Principal) -> Any:
        return service.delete_domain(who, p(r, "id"))

    async def verify_domain(r: Request, who: Principal) -> Any:
        return service.verify_domain(who, p(r, "id"))

    async def list_webhooks(r: Request, who: Principal) -> Any:
        return service.list_webhooks(who)

    async def create_webhook(r: Request, who: Principal) -> Any:
        return service.create_webhook(who, await _json(r))

    async def get_webhook(r: Request, who: Principal) -> Any:
        return service.get_webhook(who, p(r, "id"))

    async def update_webhook(r: Request, who: Principal) -> Any:
        return service.update_webhook(who, p(r, "id"), await _json(r))

    async def delete_webhook(r: Request, who: Principal) -> Any:
        return service.delete_webhook(who, p(r, "id"))

    async def deliveries(r: Request, who: Principal) -> Any:
        return service.list_deliveries(who, p(r, "id"))

    async def list_suppressions(r: Request, who: Principal) -> Any:
        return service.list_suppressions(who)

    async def create_suppression(r: Request, who: Principal) -> Any:
        who.require_full_access()
        return service.create_suppression(who, await _json(r))

    async def delete_suppression(r: Request, who: Principal) -> Any:
        return service.delete_suppression(who, p(r, "id"))

    # -- events (SSE) ----------------------------------------------------------------------
    async def events(r: Request, who: Principal) -> Any:
        q = r.query_params
        mailbox_id = q.get("mailboxId")
        if mailbox_id:
            service._mailbox(who, mailbox_id)
            mailbox_ids: list[str] | None = [mailbox_id]
        else:
            mailbox_ids = None if who.mailbox_ids is None else sorted(who.mailbox_ids)
        types = parse_event_types(q.get("events"))
        if types is not None:
            service._check_events(types)
        last = r.headers.get("last-event-id") or q.get("lastEventId")
        if last is not None and last.strip():
            if not last.strip().isdigit():
                raise ApiError(400, "Last-Event-ID must be an event id from this stream")
            after = int(last.strip())
        else:
            after = service.log.last_id()
        service.check_stream_slot()
        limits = service.limits
        frames = sse_frames(
            service.log, after=after, mailbox_ids=mailbox_ids, events=types,
            heartbeat=limits.sse_heartbeat_seconds, reconnect_after=limits.sse_reconnect_seconds,
            stopping=r.scope.get("sandbox.stopping"),
            poll=1.0 if service.store.path is not None else None,
        )  # fmt: skip
        return StreamingResponse(
            frames,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    # -- sandbox extensions ----------------------------------------------------------------
    async def inbound(r: Request, who: Principal) -> Any:
        who.require_full_access()
        ctype = r.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "application/json":
            return service.inject(await _json(r), None)
        raw = await r.body()
        if not raw.strip():
            raise ApiError(400, "Send raw MIME (Content-Type: message/rfc822) or JSON")
        if len(raw) > service.limits.smtp_max_message_bytes:
            raise ApiError(413, "Message too large")
        return service.inject(None, raw)

    async def outbox(r: Request, who: Principal) -> Any:
        who.require_full_access()
        return {"messages": service.outbox(include_raw=r.query_params.get("raw") in ("1", "true"))}

    async def clear_outbox(r: Request, who: Principal) -> Any:
        who.require_full_access()
        return {"deleted": service.clear_outbox()}

    async def list_bounces(r: Request, who: Principal) -> Any:
        who.require_full_access()
        return {"addresses": service.marked_addresses()}

    async def mark_bounce(r: Request, who: Principal) -> Any:
        who.require_full_access()
        body = await _json(r)
        if not isinstance(body, dict):
            raise ApiError(400, 'Request body must be {"email": ..., "kind": "bounce"|"complaint"}')
        return {"address": service.mark_address(body.get("email"), body.get("kind", "bounce"))}

    async def unmark_bounce(r: Request, who: Principal) -> Any:
        who.require_full_access()
        if not service.unmark_address(p(r, "email")):
            raise ApiError(404, "Address is not marked")
        return {"deleted": True}

    async def complain(r: Request, who: Principal) -> Any:
        who.require_full_access()
        body = await _json(r, optional=True)
        address = body.get("email") if isinstance(body, dict) else None
        return {"message": service.complaint(p(r, "msg_id"), address)}

    async def reset(r: Request, who: Principal) -> Any:
        who.require_full_access()
        service.reset()
        return {"reset": True}

    routes = [
        Route("/v1/account", authed(account), methods=["GET"]),
        Route("/v1/api-keys", authed(list_keys), methods=["GET"]),
        Route("/v1/api-keys", authed(create_key, 201), methods=["POST"]),
        Route("/v1/api-keys/{id}", authed(revoke_key), methods=["DELETE"]),
        Route("/v1/mailboxes", authed(list_mailboxes), methods=["GET"]),
        Route("/v1/mailboxes", authed(create_mailbox, 201), methods=["POST"]),
        Route("/v1/mailboxes/{id}", authed(get_mailbox), methods=["GET"]),
        Route("/v1/mailboxes/{id}", authed(update_mailbox), methods=["PATCH"]),
        Route("/v1/mailboxes/{id}", authed(delete_mailbox), methods=["DELETE"]),
        Route("/v1/mailboxes/{id}/messages", authed(list_messages), methods=["GET"]),
        Route("/v1/mailboxes/{id}/messages", authed(send_message, 201), methods=["POST"]),
        Route("/v1/mailboxes/{id}/messages/{msg_id}", authed(get_message), methods=["GET"]),
        Route("/v1/mailboxes/{id}/threads", authed(list_threads), methods=["GET"]),
        Route("/v1/mailboxes/{id}/threads/{tid}", authed(get_thread), methods=["GET"]),
        Route("/v1/mailboxes/{id}/search", authed(search), methods=["GET"]),
        Route("/v1/attachments", authed(upload, 201), methods=["POST"]),
        Route("/v1/attachments/{id}", authed(get_attachment), methods=["GET"]),
        Route("/v1/attachments/{id}", authed(delete_attachment), methods=["DELETE"]),
        Route("/v1/domains", authed(list_domains), methods=["GET"]),
        Route("/v1/domains", authed(create_domain, 201), methods=["POST"]),
        Route("/v1/domains/{id}", authed(get_domain), methods=["GET"]),
        Route("/v1/domains/{id}", authed(delete_domain), methods=["DELETE"]),
        Route("/v1/domains/{id}/verify", authed(verify_domain), methods=["POST"]),
        Route("/v1/webhooks", authed(list_webhooks), methods=["GET"]),
        Route("/v1/webhooks", authed(create_webhook, 201), methods=["POST"]),
        Route("/v1/webhooks/{id}", authed(get_webhook), methods=["GET"]),
        Route("/v1/webhooks/{id}", authed(update_webhook), methods=["PATCH"]),
        Route("/v1/webhooks/{id}", authed(delete_webhook), methods=["DELETE"]),
        Route("/v1/webhooks/{id}/deliveries", authed(deliveries), methods=["GET"]),
        Route("/v1/events", authed(events), methods=["GET"]),
        Route("/v1/suppressions", authed(list_suppressions), methods=["GET"]),
        Route("/v1/suppressions", authed(create_suppression, 201), methods=["POST"]),
        Route("/v1/suppressions/{id}", authed(delete_suppression), methods=["DELETE"]),
        Route("/v1/sandbox/inbound", authed(inbound, 201), methods=["POST"]),
        Route("/v1/sandbox/outbox", authed(outbox), methods=["GET"]),
        Route("/v1/sandbox/outbox", authed(clear_outbox), methods=["DELETE"]),
        Route("/v1/sandbox/bounces", authed(list_bounces), methods=["GET"]),
        Route("/v1/sandbox/bounces", authed(mark_bounce, 201), methods=["POST"]),
        Route("/v1/sandbox/bounces/{email}", authed(unmark_bounce), methods=["DELETE"]),
        Route("/v1/sandbox/messages/{msg_id}/complaint", authed(complain, 201), methods=["POST"]),
        Route("/v1/sandbox/reset", authed(reset), methods=["POST"]),
        Route("/v1/sandbox/attachments/{id}/download", download, methods=["GET"]),
    ]

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return JSONResponse(exc.body(), status_code=exc.status)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return JSONResponse(endpoint_not_found(request.method, request.url.path), status_code=404)
        if exc.status_code == 405:
            return JSONResponse(
                {"error": f"Method {request.method} not allowed on {request.url.path}"},
                status_code=405,
                headers=dict(exc.headers or {}),
            )
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    async def server_error(request: Request, exc: Exception) -> Response:
        logger.exception("sandbox: unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(
            {"error": "Internal sandbox error", "detail": type(exc).__name__}, status_code=500
        )

    return Starlette(
        routes=routes,
        exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: server_error},
    )
