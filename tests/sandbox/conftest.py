"""Fixtures for the sandbox core tests: sandboxes, clients that check the contract, servers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from _sandbox_contract import AsyncContractTransport, ContractTransport, make_client  # noqa: F401

from agentmail_tools import AsyncMailClient, MailClient
from agentmail_tools.sandbox import Sandbox, SandboxLimits

# Fast timings for tests: retries in milliseconds, short heartbeats; everything else default.
TEST_LIMITS = SandboxLimits(webhook_retry_scale=0.0005, sse_heartbeat_seconds=5, webhook_timeout_seconds=5)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox(limits=TEST_LIMITS)
    yield sb
    sb.close()


@pytest.fixture(params=["in-process", pytest.param("http", marks=pytest.mark.integration)])
def contract_client(
    request: pytest.FixtureRequest, sandbox: Sandbox
) -> Iterator[tuple[MailClient, ContractTransport]]:
    """A MailClient on the sandbox in-process, and (integration) over a real loopback port."""
    if request.param == "http":
        server = sandbox.serve(smtp_port=None)
        transport = ContractTransport(httpx.HTTPTransport())
        base_url = server.base_url
    else:
        transport = ContractTransport(sandbox.transport())
        base_url = "http://localhost/v1"
    with MailClient(sandbox.api_key, base_url, transport=transport, max_retries=0) as client:
        yield client, transport
    assert transport.violations == [], "\n".join(transport.violations)


@pytest.fixture
def client(contract_client: tuple[MailClient, ContractTransport]) -> MailClient:
    """An in-process MailClient whose every JSON response is checked against the contract."""
    return contract_client[0]


@pytest.fixture
async def aclient(sandbox: Sandbox) -> object:
    transport = AsyncContractTransport(sandbox.async_transport())
    async with AsyncMailClient(
        sandbox.api_key, "http://localhost/v1", transport=transport, max_retries=0
    ) as c:
        yield c
    assert transport.violations == [], "\n".join(transport.violations)
