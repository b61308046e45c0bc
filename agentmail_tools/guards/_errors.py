"""Typed refusals raised by the send guards.

Every refusal carries a machine ``code``, a ``reason`` written for whoever has to act
on it (a model choosing its next tool call, or a person reading a log) and, when
waiting would help, ``retry_after`` in seconds::

    MailError
    └── GuardRefusal                 .code .reason .retry_after .details
        ├── SuppressedRecipient      code "suppressed"
        ├── RateLimited              code "rate_limited"
        ├── RecipientNotAllowed      code "recipient_not_allowed"
        │   └── NewConversationNotAllowed   code "new_conversation_not_allowed"
        ├── LoopDetected             code "loop"
        │   └── ReplyCapReached      code "reply_cap"
        ├── HeaderInjection          code "header_injection"
        ├── MessageTooLarge          code "too_large"
        ├── MailboxNotActive         code "mailbox_not_active"
        └── SendInFlight             code "in_flight"

A refusal always means nothing was sent by this call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from .._errors import MailError

__all__ = [
    "GuardRefusal",
    "HeaderInjection",
    "LoopDetected",
    "MailboxNotActive",
    "MessageTooLarge",
    "NewConversationNotAllowed",
    "RateLimited",
    "RecipientNotAllowed",
    "ReplyCapReached",
    "SendInFlight",
    "SuppressedRecipient",
]


class GuardRefusal(MailError):
    """A send refused by a guard rule before anything reached the server.

    Attributes:
        code: Stable machine-readable rule name (see the module docstring).
        reason: One sentence saying what was refused and what to do instead.
        retry_after: Seconds after which the same send may succeed, or ``None`` when
            waiting will not help.
        details: Extra structured context (offending addresses, limits, ...).
    """

    default_code: ClassVar[str] = "refused"

    def __init__(
        self,
        reason: str,
        *,
        code: str | None = None,
        retry_after: float | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(reason)
        self.code: str = code or self.default_code
        self.reason: str = reason
        self.retry_after: float | None = None if retry_after is None else max(0.0, float(retry_after))
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        if self.retry_after is not None:
            return f"{self.reason} (retry after {self.retry_after:.1f} s)"
        return self.reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r}, retry_after={self.retry_after!r})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary, e.g. for a decision log entry or a tool's artifact."""
        return {
            "code": self.code,
            "reason": self.reason,
            "retry_after": self.retry_after,
            "details": self.details,
        }


class SuppressedRecipient(GuardRefusal):
    """A recipient is on the account's or the local suppression list."""

    default_code = "suppressed"


class RateLimited(GuardRefusal):
    """The mailbox's send budget is spent for now; ``retry_after`` says when it refills."""

    default_code = "rate_limited"


class RecipientNotAllowed(GuardRefusal):
    """A recipient is neither a participant of the thread nor on an allow-list."""

    default_code = "recipient_not_allowed"


class NewConversationNotAllowed(RecipientNotAllowed):
    """The policy does not let the agent start new conversations."""

    default_code = "new_conversation_not_allowed"


class LoopDetected(GuardRefusal):
    """Answering would risk a mail loop (auto-generated, bulk or own mail)."""

    default_code = "loop"


class ReplyCapReached(LoopDetected):
    """The agent already replied the maximum number of times in this thread's window."""

    default_code = "reply_cap"


class HeaderInjection(GuardRefusal):
    """A header-bound value carries CR/LF/NUL or a header name is not allowed."""

    default_code = "header_injection"


class MessageTooLarge(GuardRefusal):
    """The message exceeds a size limit of the policy (body, subject, recipients, ...)."""

    default_code = "too_large"


class MailboxNotActive(GuardRefusal):
    """The sending mailbox is paused or suspended."""

    default_code = "mailbox_not_active"


class SendInFlight(GuardRefusal):
    """An earlier attempt with the same idempotency key may still land; retry later."""

    default_code = "in_flight"
