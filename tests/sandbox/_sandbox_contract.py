"""Validate sandbox responses against the shared OpenAPI contract (jsonschema, $refs resolved).

``ContractTransport`` wraps any httpx transport and checks every JSON response body against
the schema the contract declares for that operation and status, so every test that drives the
sandbox through a ``MailClient`` also checks the wire shapes. Violations are collected and
raised at the end of the test by the fixtures (an assertion inside the transport would be
swallowed by the client's error mapping).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

CONTRACT = Path("/work/shared/contracts/robotomail-openapi.json")
if not CONTRACT.exists():  # the repository copy, when the shared folder is not mounted
    CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "contracts" / "robotomail-openapi.json"

_URI = "urn:robotomail-openapi"

# Sandbox-only routes: their shapes are ours, checked here so they do not drift either.
SEARCH_SCHEMA = {
    "type": "object",
    "required": ["hits", "total"],
    "properties": {
        "total": {"type": "integer", "minimum": 0},
        "hits": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["messageId", "threadId", "score", "snippet", "subject", "from", "createdAt"],
                "properties": {
                    "messageId": {"type": "string"},
                    "threadId": {"type": ["string", "null"]},
                    "score": {"type": "number"},
                    "snippet": {"type": "string"},
                    "subject": {"type": "string"},
                    "from": {"type": "string"},
                    "createdAt": {"type": "string"},
                },
            },
        },
    },
}


@cache
def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(CONTRACT.read_text(encoding="utf-8"))
    return spec


@cache
def _registry() -> Registry:
    return Registry().with_resource(_URI, Resource.from_contents(_spec(), default_specification=_draft()))


def _draft() -> Any:
    from referencing.jsonschema import DRAFT202012

    return DRAFT202012


@cache
def _routes() -> list[tuple[re.Pattern[str], str]]:
    out = []
    for template in _spec()["paths"]:
        pattern = "^/v1" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        out.append((re.compile(pattern), template))
    # Literal segments must win over parameters (e.g. /messages/{id} vs a literal path).
    out.sort(key=lambda item: item[1].count("{"))
    return out


def schema_for(method: str, path: str, status: int) -> dict[str, Any] | None:
    """The contract schema for a response, or None for undocumented/sandbox-only routes."""
    if re.fullmatch(r"/v1/mailboxes/[^/]+/search", path):
        return SEARCH_SCHEMA if status < 400 else {"$ref": f"{_URI}#/components/schemas/ErrorBody"}
    for pattern, template in _routes():
        if pattern.match(path):
            op = _spec()["paths"][template].get(method.lower())
            if op is None:
                return {"$ref": f"{_URI}#/components/schemas/ErrorBody"}
            response = op["responses"].get(str(status))
            if response is None:
                if status >= 400:
                    return {"$ref": f"{_URI}#/components/schemas/ErrorBody"}
                msg = f"{method} {template} answered {status}, which the contract does not list"
                raise AssertionError(msg)
            if "$ref" in response:
                name = response["$ref"].rsplit("/", 1)[-1]
                response = _spec()["components"]["responses"][name]
            content = response.get("content", {})
            if "application/json" not in content:
                return {"$ref": f"{_URI}#/components/schemas/ErrorBody"} if status >= 400 else None
            schema = content["application/json"]["schema"]
            return _rebase(schema)
    if path.startswith("/v1/sandbox/"):
        return {"$ref": f"{_URI}#/components/schemas/ErrorBody"} if status >= 400 else None
    if status == 404:
        return {"$ref": f"{_URI}#/components/schemas/EndpointNotFound"}
    return {"$ref": f"{_URI}#/components/schemas/ErrorBody"} if status >= 400 else None


def _rebase(schema: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(schema).replace('"#/components/', f'"{_URI}#/components/')
    rebased: dict[str, Any] = json.loads(text)
    return rebased


def validate(method: str, path: str, status: int, body: Any) -> list[str]:
    """Return the list of contract violations (empty when the body conforms)."""
    schema = schema_for(method, path, status)
    if schema is None:
        return []
    validator = Draft202012Validator(schema, registry=_registry())
    return [
        f"{method} {path} {status}: {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(body)
    ]


class ContractTransport(httpx.BaseTransport):
    """Wraps a transport; records every contract violation in ``self.violations``."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.violations: list[str] = []
        self.checked = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        ctype = response.headers.get("content-type", "")
        if not ctype.startswith("application/json"):
            if response.status_code >= 400:
                response.read()
                self.violations.append(
                    f"{request.method} {request.url.path} {response.status_code}: not JSON"
                )
            return response
        content = response.read()
        try:
            body = json.loads(content)
        except ValueError:
            self.violations.append(f"{request.method} {request.url.path}: invalid JSON body")
        else:
            self.checked += 1
            self.violations += validate(request.method, request.url.path, response.status_code, body)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=content,
            request=request,
            extensions=response.extensions,
        )

    def close(self) -> None:
        self.inner.close()


class AsyncContractTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.violations: list[str] = []
        self.checked = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if not response.headers.get("content-type", "").startswith("application/json"):
            return response
        content = await response.aread()
        self.checked += 1
        self.violations += validate(
            request.method, request.url.path, response.status_code, json.loads(content)
        )
        return httpx.Response(
            response.status_code, headers=response.headers, content=content, request=request
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


def make_client(sandbox: Any, key: str) -> tuple[Any, ContractTransport]:
    """An in-process MailClient with ``key`` whose responses are contract-checked."""
    from agentmail_tools import MailClient

    transport = ContractTransport(sandbox.transport())
    return MailClient(key, "http://localhost/v1", transport=transport, max_retries=0), transport
