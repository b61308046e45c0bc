"""HTTP vocabulary of the sandbox: the API error exception and JSON responses."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

__all__ = ["ApiError", "JSONResponse", "RawJSON", "endpoint_not_found", "error_body"]

_COMMON_ENDPOINTS = [
    "GET /v1/account",
    "GET /v1/mailboxes",
    "POST /v1/mailboxes",
    "GET /v1/mailboxes/{id}/messages",
    "POST /v1/mailboxes/{id}/messages",
    "GET /v1/mailboxes/{id}/threads",
    "GET /v1/events",
]


class ApiError(Exception):
    """An error answered as JSON ``{"error": message, **extra}`` with ``status``."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}


def error_body(message: str, **extra: Any) -> dict[str, Any]:
    return {"error": message, **extra}


def endpoint_not_found(method: str, path: str) -> dict[str, Any]:
    """The contract's structured 404 for unknown paths (never HTML)."""
    return {
        "error": "Not found",
        "code": "NOT_FOUND",
        "message": f"No endpoint {method} {path}. Check the path and method against the API reference.",
        "resolution": {
            "openapi": "https://api.robotomail.com/v1/openapi.json",
            "docs": "https://docs.robotomail.com",
            "endpoints": "https://docs.robotomail.com/api-reference",
            "commonEndpoints": _COMMON_ENDPOINTS,
        },
    }


class RawJSON:
    """A response body already serialised as JSON text (e.g. built by SQLite's json functions)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def value(self) -> Any:
        return json.loads(self.text)


class JSONResponse(Response):
    """Compact UTF-8 JSON (the stdlib encoder, non-ASCII kept as is)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        if isinstance(content, RawJSON):
            return content.text.encode("utf-8")
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
