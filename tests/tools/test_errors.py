"""Every library error maps to a MailToolError (a ToolException) the model can act on."""

from __future__ import annotations

import pytest
from langchain_core.tools import ToolException

from agentmail_tools import (
    AmbiguousSendError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    InvalidRequestError,
    MailConnectionError,
    MailTimeoutError,
    NotFoundError,
    PayloadTooLargeError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
)
from agentmail_tools.guards import (
    HeaderInjection,
    LoopDetected,
    MailboxNotActive,
    MessageTooLarge,
    NewConversationNotAllowed,
    RateLimited,
    RecipientNotAllowed,
    ReplyCapReached,
    SuppressedRecipient,
)
from agentmail_tools.tools._operations import MailToolError, to_tool_error


def _status(cls: type, status: int, error: str, **kw: object) -> Exception:
    return cls(error, status_code=status, error=error, **kw)  # type: ignore[no-any-return]


CASES = [
    (SuppressedRecipient("ann@example.com is suppressed"), "suppressed", "Not sent (suppressed)"),
    (RateLimited("Too many sends", retry_after=12.0), "rate_limited", "retry after 12 seconds"),
    (RecipientNotAllowed("x@evil.test is not allowed"), "recipient_not_allowed", "Nothing was sent"),
    (NewConversationNotAllowed("no new threads"), "new_conversation_not_allowed", "no new threads"),
    (LoopDetected("auto-reply loop"), "loop", "auto-reply loop"),
    (ReplyCapReached("3 replies already"), "reply_cap", "3 replies already"),
    (HeaderInjection("CR/LF in subject"), "header_injection", "CR/LF"),
    (MessageTooLarge("body too large"), "too_large", "body too large"),
    (MailboxNotActive("mailbox paused"), "mailbox_not_active", "mailbox paused"),
    (AmbiguousSendError("reset"), "ambiguous_send", "Do not send it again blindly"),
    (MailTimeoutError("timed out"), "connection", "try again in a minute"),
    (MailConnectionError("refused"), "connection", "Nothing was changed"),
    (InvalidRequestError("to: bad address 'x'"), "invalid", "Invalid input: to: bad address"),
    (
        _status(RateLimitError, 429, "Send rate limit exceeded", retry_after=3.0),
        "rate_limited",
        "retry after 3 seconds",
    ),
    (_status(RateLimitError, 429, "Send rate limit exceeded"), "rate_limited", "retry in a minute"),
    (_status(NotFoundError, 404, "Thread not found"), "not_found", "Not found: Thread not found"),
    (_status(PayloadTooLargeError, 413, "Storage quota exceeded"), "too_large", "Storage quota exceeded"),
    (_status(BadRequestError, 400, "Recipient ann@x.com is suppressed"), "bad_request", "suppression list"),
    (_status(BadRequestError, 400, "Mailbox is not ACTIVE"), "bad_request", "Mailbox is not ACTIVE"),
    (_status(ConflictError, 409, "Address taken"), "conflict", "Choose another"),
    (_status(AuthenticationError, 401, "Invalid API key"), "not_permitted", "ask a person"),
    (_status(PermissionDeniedError, 403, "Full-access key required"), "not_permitted", "Full-access"),
    (_status(PaymentRequiredError, 402, "Plan limit"), "not_permitted", "Plan limit"),
    (_status(InternalServerError, 503, "Unavailable"), "server_error", "503"),
]


@pytest.mark.parametrize(
    ("error", "code", "text"), CASES, ids=[type(c[0]).__name__ + "-" + c[1] for c in CASES]
)
def test_to_tool_error(error: Exception, code: str, text: str) -> None:
    mapped = to_tool_error(error)
    assert isinstance(mapped, ToolException) and isinstance(mapped, MailToolError)
    assert mapped.code == code
    assert text in str(mapped)


def test_retry_after_is_carried() -> None:
    assert to_tool_error(RateLimited("slow down", retry_after=7.5)).retry_after == 7.5


def test_unexpected_errors_are_not_swallowed() -> None:
    with pytest.raises(TypeError):
        to_tool_error(KeyError("bug"))
