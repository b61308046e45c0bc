"""Fixtures for the client tests: every test that takes ``make_client`` runs sync and async."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from _client_support import FakeAPI, no_sleep

from agentmail_tools import AsyncMailClient, MailClient


@pytest.fixture
def fake() -> FakeAPI:
    return FakeAPI()


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_client(kind: str, fake: FakeAPI) -> AsyncIterator[Callable[..., Any]]:
    """Build a MailClient or AsyncMailClient on the fake API; sleeps are recorded in ``.slept``."""
    made: list[Any] = []

    def factory(**kwargs: Any) -> Any:
        kwargs.setdefault("api_key", "rm_test_key")
        kwargs.setdefault("transport", fake.transport)
        cls = MailClient if kind == "sync" else AsyncMailClient
        client = cls(**kwargs)
        client.slept = []
        no_sleep(client, client.slept)
        made.append(client)
        return client

    yield factory
    for client in made:
        if isinstance(client, AsyncMailClient):
            await client.close()
        else:
            client.close()
