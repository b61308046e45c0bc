"""Fixtures for guard tests on the in-process sandbox, with sync and async twins.

Each guard test runs twice: ``mode="sync"`` drives a :class:`MailGuard` over a
``MailClient``; ``mode="async"`` drives an :class:`AsyncMailGuard` over an
``AsyncMailClient`` on a private event loop. The scenario body is shared through
:class:`GuardDriver`, whose methods are plain calls in both modes.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from agentmail_tools import AsyncMailClient, MailClient
from agentmail_tools.guards import AsyncMailGuard, GuardPolicy, MailGuard
from agentmail_tools.sandbox import Sandbox, SandboxLimits

BASE_URL = "http://localhost/v1"  # the sandbox's in-process base URL


class Clock:
    """A settable clock for the guards (starts at real time: the server's timestamps are real)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _is_send(request: httpx.Request) -> bool:
    return request.method == "POST" and request.url.path.endswith("/messages")


def _without_headers(request: httpx.Request) -> httpx.Request:
    body = json.loads(request.content)
    body.pop("headers", None)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    return httpx.Request(request.method, request.url, headers=headers, json=body)


class Trap:
    """Which sends fail, and how: ``"after"`` the server got them, or ``"before"``."""

    def __init__(self) -> None:
        self.mode: str | None = None
        self.times = 0
        self.sprung = 0
        self.strip_headers = False  # imitate a backend that drops custom headers
        self.entered = threading.Event()  # "hold": the send is waiting at the gate
        self.gate = threading.Event()  # "hold": set to let it through

    def arm(self, mode: str, times: int = 1) -> None:
        self.mode, self.times = mode, times

    def take(self, request: httpx.Request) -> str | None:
        if self.mode is None or self.times <= 0 or not _is_send(request):
            return None
        self.times -= 1
        self.sprung += 1
        return self.mode


class FlakyTransport(httpx.BaseTransport):
    """Lets a send reach the in-process server, then drops the connection (or drops it first)."""

    def __init__(self, inner: httpx.BaseTransport, trap: Trap) -> None:
        self.inner, self.trap = inner, trap

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.trap.strip_headers and _is_send(request):
            request = _without_headers(request)
        mode = self.trap.take(request)
        if mode == "before":
            raise httpx.ReadError("connection reset by peer", request=request)
        if mode == "500-before":
            return httpx.Response(500, json={"error": "upstream failed"}, request=request)
        if mode == "hold":
            self.trap.entered.set()
            assert self.trap.gate.wait(10), "the test never opened the gate"
        response = self.inner.handle_request(request)
        if mode == "500-after":
            response.read()
            response.close()
            return httpx.Response(502, json={"error": "bad gateway"}, request=request)
        if mode == "after":
            response.read()
            response.close()
            raise httpx.ReadError("connection reset by peer", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


class AsyncFlakyTransport(httpx.AsyncBaseTransport):
    """The async twin of :class:`FlakyTransport`."""

    def __init__(self, inner: httpx.AsyncBaseTransport, trap: Trap) -> None:
        self.inner, self.trap = inner, trap

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.trap.strip_headers and _is_send(request):
            await request.aread()
            request = _without_headers(request)
        mode = self.trap.take(request)
        if mode == "before":
            raise httpx.ReadError("connection reset by peer", request=request)
        if mode == "hold":
            self.trap.entered.set()
            deadline = time.monotonic() + 10
            while not self.trap.gate.is_set():
                assert time.monotonic() < deadline, "the test never opened the gate"
                await asyncio.sleep(0.002)
        if mode == "500-before":
            return httpx.Response(500, json={"error": "upstream failed"}, request=request)
        response = await self.inner.handle_async_request(request)
        if mode == "500-after":
            await response.aread()
            await response.aclose()
            return httpx.Response(502, json={"error": "bad gateway"}, request=request)
        if mode == "after":
            await response.aread()
            await response.aclose()
            raise httpx.ReadError("connection reset by peer", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class Crash(BaseException):
    """Stands for the process dying (not an Exception: nothing may catch it)."""


class CrashAfterSend:
    """Wraps a client's ``messages`` so the send reaches the server, then the 'process dies'."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.messages = self
        self.armed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client if name != "messages" else self, name)

    def send(self, *args: Any, **kwargs: Any) -> Any:
        result = self._client.messages.send(*args, **kwargs)
        if inspect.isawaitable(result):

            async def _crash() -> Any:
                value = await result
                if self.armed:
                    raise Crash
                return value

            return _crash()
        if self.armed:
            raise Crash
        return result

    def list(self, *args: Any, **kwargs: Any) -> Any:
        return self._client.messages.list(*args, **kwargs)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self._client.messages.get(*args, **kwargs)


@dataclass
class GuardDriver:
    """Plain-call facade over a sync or async guard."""

    guard: Any
    run: Callable[[Any], Any]

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.run(getattr(self.guard, name)(*args, **kwargs))

    def send(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("send", *args, **kwargs)

    def reply(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("reply", *args, **kwargs)

    def should_answer(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("should_answer", *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.guard, name)


@dataclass
class World:
    """A sandbox with an agent and a customer mailbox, and a way to build guards."""

    mode: str
    sandbox: Sandbox
    admin: MailClient
    agent: Any
    customer: Any
    clock: Clock
    trap: Trap
    run: Callable[[Any], Any]
    _client: Any = None
    _guards: list[Any] = field(default_factory=list)

    @property
    def client(self) -> Any:
        """The guard's client (sync or async), whose sends go through the trap."""
        if self._client is None:
            if self.mode == "sync":
                self._client = MailClient(
                    self.sandbox.api_key,
                    BASE_URL,
                    transport=FlakyTransport(self.sandbox.transport(), self.trap),
                )
            else:
                self._client = AsyncMailClient(
                    self.sandbox.api_key,
                    BASE_URL,
                    transport=AsyncFlakyTransport(self.sandbox.async_transport(), self.trap),
                )
        return self._client

    def guard(
        self, policy: GuardPolicy | None = None, *, state_path: Any = None, client: Any = None
    ) -> GuardDriver:
        cls = MailGuard if self.mode == "sync" else AsyncMailGuard
        guard = cls(client or self.client, policy=policy, state_path=state_path, clock=self.clock)
        self._guards.append(guard)
        return GuardDriver(guard, self.run)

    def inbound(self, **fields: Any) -> Any:
        """Deliver mail from outside to the agent; returns it as the client sees it."""
        body = {
            "from": "dana@example.com",
            "to": self.agent.full_address,
            "subject": "Order 1042",
            "bodyText": "Hi",
        }
        body.update(fields)
        stored = self.sandbox.inject(body)
        return self.admin.messages.get(self.agent.id, stored[0]["id"])

    def from_customer(self, subject: str = "Help with my order", **fields: Any) -> Any:
        """A person outside (dana@example.com) writes to the agent; returns the agent's inbound copy."""
        return self.inbound(subject=subject, bodyText="Please help", **fields)

    def from_mailbox(self, subject: str = "Help with my order") -> Any:
        """Another mailbox of the same account writes to the agent; returns the agent's inbound copy."""
        sent = self.admin.messages.send(
            self.customer.id, to=self.agent.full_address, subject=subject, body_text="Please help"
        )
        inbound = self.admin.messages.list(self.agent.id, direction="INBOUND").messages
        return next(m for m in inbound if m.message_id == sent.message_id)

    def outbound(self, mailbox_id: str | None = None) -> list[Any]:
        return self.admin.messages.list(mailbox_id or self.agent.id, direction="OUTBOUND").messages

    def close(self) -> None:
        for guard in self._guards:
            guard.close()
        if self._client is not None:
            self.run(self._client.close())


@pytest.fixture
def sandbox_limits() -> SandboxLimits | None:
    """Override with ``@pytest.mark.parametrize("sandbox_limits", [SandboxLimits(...)])``."""
    return None


@pytest.fixture(params=["sync", "async"])
def world(request: pytest.FixtureRequest, sandbox_limits: SandboxLimits | None) -> Iterator[World]:
    mode = request.param
    sandbox = Sandbox(limits=sandbox_limits)
    loop = asyncio.new_event_loop() if mode == "async" else None

    def run(value: Any) -> Any:
        if inspect.isawaitable(value):
            assert loop is not None
            return loop.run_until_complete(value)
        return value

    admin = sandbox.client()
    agent = admin.mailboxes.create("agent")
    customer = admin.mailboxes.create("customer")
    w = World(mode, sandbox, admin, agent, customer, Clock(), Trap(), run)
    try:
        yield w
    finally:
        w.close()
        admin.close()
        if loop is not None:
            loop.close()
        sandbox.close()
