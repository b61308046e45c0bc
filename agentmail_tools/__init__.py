"""agentmail-tools: real email for AI agents.

The Robotomail client (:class:`MailClient`, :class:`AsyncMailClient`), its models and
errors, and webhook signature helpers. Subpackages add the embedded sandbox
(``agentmail_tools.sandbox``), the inbound pipeline (``.inbound``), send guards
(``.guards``) and LangChain/CrewAI tools (``.tools``).

``import agentmail_tools`` stays fast (no httpx, pydantic, LangChain, CrewAI or Chroma):
the client, models and streams load on first use of their names (PEP 562). Errors,
``verify_webhook`` and the shared vocabulary are plain stdlib and load at once, so a
webhook receiver can verify signatures without paying for the HTTP client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._errors import (
    AmbiguousSendError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    InvalidRequestError,
    MailConnectionError,
    MailError,
    MailTimeoutError,
    NotFoundError,
    PayloadTooLargeError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
)
from ._types import NOT_GIVEN, MessageSearch, NotGiven
from ._webhooks import sign_webhook, verify_webhook

if TYPE_CHECKING:
    from ._client import (
        AsyncMailClient,
        MailClient,
    )
    from ._models import (
        Account,
        ApiKey,
        Attachment,
        AttachmentUpload,
        CreatedApiKey,
        DnsRecord,
        DnsRecords,
        Domain,
        DomainVerification,
        DomainVerificationResult,
        DomainWithRecords,
        EventAttachment,
        EventEnvelope,
        ListMetadata,
        Mailbox,
        Message,
        MessagePage,
        MessageReceivedData,
        SearchHit,
        SearchResults,
        StreamEvent,
        Suppression,
        Thread,
        ThreadDetail,
        Webhook,
        WebhookDelivery,
    )
    from ._streaming import (
        AsyncEventStream,
        EventStream,
    )
    from ._tokens import count_tokens, truncate_to_tokens
    from .sandbox import Sandbox

__version__ = "0.1.0"

# name -> private module; loaded by __getattr__ on first access, then cached in globals().
_LAZY: dict[str, str] = {
    "Sandbox": "sandbox",
    "count_tokens": "_tokens",
    "truncate_to_tokens": "_tokens",
    "AsyncMailClient": "_client",
    "MailClient": "_client",
    "Account": "_models",
    "ApiKey": "_models",
    "Attachment": "_models",
    "AttachmentUpload": "_models",
    "CreatedApiKey": "_models",
    "DnsRecord": "_models",
    "DnsRecords": "_models",
    "Domain": "_models",
    "DomainVerification": "_models",
    "DomainVerificationResult": "_models",
    "DomainWithRecords": "_models",
    "EventAttachment": "_models",
    "EventEnvelope": "_models",
    "ListMetadata": "_models",
    "Mailbox": "_models",
    "Message": "_models",
    "MessagePage": "_models",
    "MessageReceivedData": "_models",
    "SearchHit": "_models",
    "SearchResults": "_models",
    "StreamEvent": "_models",
    "Suppression": "_models",
    "Thread": "_models",
    "ThreadDetail": "_models",
    "Webhook": "_models",
    "WebhookDelivery": "_models",
    "AsyncEventStream": "_streaming",
    "EventStream": "_streaming",
}

__all__ = [
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
    "Sandbox",
    "SearchHit",
    "SearchResults",
    "StreamEvent",
    "Suppression",
    "Thread",
    "ThreadDetail",
    "Webhook",
    "WebhookDelivery",
    "count_tokens",
    "sign_webhook",
    "truncate_to_tokens",
    "verify_webhook",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
