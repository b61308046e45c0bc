"""Pin each package's public surface: a change to ``__all__`` must be deliberate."""

from __future__ import annotations

import subprocess
import sys

import agentmail_tools

AGENTMAIL_TOOLS_ALL = [
    "APIStatusError",
    "Account",
    "AmbiguousSendError",
    "ApiKey",
    "AsyncEventStream",
    "AsyncMailClient",
    "Attachment",
    "AttachmentUpload",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "CreatedApiKey",
    "DnsRecord",
    "DnsRecords",
    "Domain",
    "DomainVerification",
    "DomainVerificationResult",
    "DomainWithRecords",
    "EventAttachment",
    "EventEnvelope",
    "EventStream",
    "InternalServerError",
    "InvalidRequestError",
    "ListMetadata",
    "MailClient",
    "MailConnectionError",
    "MailError",
    "MailTimeoutError",
    "Mailbox",
    "Message",
    "MessagePage",
    "MessageReceivedData",
    "MessageSearch",
    "NOT_GIVEN",
    "NotFoundError",
    "NotGiven",
    "PayloadTooLargeError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "SearchHit",
    "SearchResults",
    "StreamEvent",
    "Suppression",
    "Thread",
    "ThreadDetail",
    "Webhook",
    "WebhookDelivery",
    "sign_webhook",
    "verify_webhook",
]


def test_agentmail_tools_all_is_pinned_and_sorted() -> None:
    assert agentmail_tools.__all__ == AGENTMAIL_TOOLS_ALL
    assert agentmail_tools.__all__ == sorted(agentmail_tools.__all__)


def test_every_exported_name_resolves() -> None:
    for name in agentmail_tools.__all__:
        value = getattr(agentmail_tools, name)
        assert value is not None
        module = getattr(value, "__module__", "agentmail_tools._types")
        assert module.startswith("agentmail_tools"), (name, module)
    assert set(agentmail_tools.__all__) <= set(dir(agentmail_tools))


def test_unknown_attribute_raises_attribute_error() -> None:
    try:
        agentmail_tools.NoSuchThing  # noqa: B018
    except AttributeError as err:
        assert "NoSuchThing" in str(err)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def _loaded_after(statement: str, modules: list[str]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has loaded after running ``statement``."""
    code = f"import sys\n{statement}\nprint(','.join(m for m in {modules!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [m for m in result.stdout.strip().split(",") if m]


HEAVY = ["crewai", "chromadb", "langchain", "langchain_core", "starlette", "uvicorn", "aiosmtpd"]


def test_import_is_light() -> None:
    """``import agentmail_tools`` loads no framework, server or even the HTTP stack (timing: bench/)."""
    assert _loaded_after("import agentmail_tools", [*HEAVY, "httpx", "pydantic"]) == []
    # the client itself needs httpx and pydantic, still nothing heavy
    assert _loaded_after("from agentmail_tools import MailClient, Message", HEAVY) == []
