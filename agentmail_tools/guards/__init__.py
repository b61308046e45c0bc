"""Send guards, exactly-once sends and the decision log.

Every send an agent makes (through the tools or the crews) goes through a
:class:`MailGuard` / :class:`AsyncMailGuard`, whatever the model asks: suppression,
per-mailbox rate limit, recipient policy, loop prevention, reply cap, header
injection and size limits, each refusal a typed :class:`GuardRefusal`. Sends carry an
idempotency key (:func:`idempotency_key`) and are reconciled after ambiguous failures,
so an event is answered at most once. :class:`DecisionLog` records what was decided.
"""

from ._aguard import AsyncMailGuard
from ._decisions import OUTCOMES, Decision, DecisionLog
from ._errors import (
    GuardRefusal,
    HeaderInjection,
    LoopDetected,
    MailboxNotActive,
    MessageTooLarge,
    NewConversationNotAllowed,
    RateLimited,
    RecipientNotAllowed,
    ReplyCapReached,
    SendInFlight,
    SuppressedRecipient,
)
from ._guard import MailGuard
from ._loops import LoopVerdict, loop_verdict
from ._policy import AUTO_SUBMITTED_HEADER, IDEMPOTENCY_HEADER, GuardPolicy
from ._rules import idempotency_key
from ._state import SendRecord

__all__ = [
    "AUTO_SUBMITTED_HEADER",
    "IDEMPOTENCY_HEADER",
    "OUTCOMES",
    "AsyncMailGuard",
    "Decision",
    "DecisionLog",
    "GuardPolicy",
    "GuardRefusal",
    "HeaderInjection",
    "LoopDetected",
    "LoopVerdict",
    "MailGuard",
    "MailboxNotActive",
    "MessageTooLarge",
    "NewConversationNotAllowed",
    "RateLimited",
    "RecipientNotAllowed",
    "ReplyCapReached",
    "SendInFlight",
    "SendRecord",
    "SuppressedRecipient",
    "idempotency_key",
    "loop_verdict",
]
