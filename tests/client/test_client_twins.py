"""The async client mirrors the sync one: same namespaces, same methods, same parameters."""

from __future__ import annotations

import inspect

import pytest

from agentmail_tools import AsyncMailClient, MailClient

NAMESPACES = [
    "account",
    "api_keys",
    "mailboxes",
    "messages",
    "threads",
    "attachments",
    "domains",
    "webhooks",
    "events",
    "suppressions",
]
NOT_COROUTINES = {("messages", "iter"), ("events", "stream")}  # async iterator / async context manager


def _public_methods(obj: object) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(getattr(obj, name))
        for name in dir(obj)
        if not name.startswith("_") and callable(getattr(obj, name))
    }


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_async_namespace_mirrors_sync(namespace: str) -> None:
    sync = getattr(MailClient("rm_x"), namespace)
    asyn = getattr(AsyncMailClient("rm_x"), namespace)
    sync_methods, async_methods = _public_methods(sync), _public_methods(asyn)
    assert sync_methods.keys() == async_methods.keys()
    assert sync_methods, namespace
    for name, signature in sync_methods.items():
        other = async_methods[name]
        assert list(signature.parameters) == list(other.parameters), name
        for pname, param in signature.parameters.items():
            assert param.kind == other.parameters[pname].kind, (name, pname)
            assert param.default == other.parameters[pname].default, (name, pname)
        is_coroutine = inspect.iscoroutinefunction(getattr(asyn, name))
        assert is_coroutine == ((namespace, name) not in NOT_COROUTINES), (namespace, name)


def test_architecture_surface() -> None:
    """The methods docs/architecture.md promises exist (other parts code against them)."""
    expected = {
        "account": {"get"},
        "api_keys": {"list", "create", "delete"},
        "mailboxes": {"list", "create", "get", "update", "delete"},
        "messages": {"send", "list", "iter", "get", "search"},
        "threads": {"list", "get"},
        "attachments": {"upload", "get", "download", "delete"},
        "domains": {"list", "create", "get", "delete", "verify"},
        "webhooks": {"list", "create", "get", "update", "delete", "deliveries"},
        "events": {"stream"},
        "suppressions": {"list", "create", "delete"},
    }
    client = MailClient("rm_x")
    for namespace, methods in expected.items():
        assert set(_public_methods(getattr(client, namespace))) == methods, namespace
