"""I/O-free heart of the send guards, shared by :class:`MailGuard` and :class:`AsyncMailGuard`.

The two guards only fetch facts (mailbox, thread, suppression list, outbound messages)
and send; every decision is made here, on data, so sync and async behave identically.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import BadRequestError, InvalidRequestError, RateLimitError
from ._errors import (
    GuardRefusal,
    LoopDetected,
    MailboxNotActive,
    RateLimited,
    ReplyCapReached,
    SendInFlight,
    SuppressedRecipient,
)
from ._loops import LoopVerdict, get_header, loop_verdict
from ._policy import IDEMPOTENCY_HEADER, GuardPolicy
from ._rules import PreparedSend, check_recipients, check_suppressed, prepare_send, reply_subject
from ._state import GuardState, SendRecord

if TYPE_CHECKING:
    from .._models import Mailbox, Message, MessageReceivedData, Suppression, ThreadDetail

__all__ = ["GuardCore", "ReplyPlan", "mailbox_address", "participants_of", "thread_send"]

logger = logging.getLogger("agentmail_tools")

# How far before an intent's creation the reconciliation looks (clock skew with the server).
_RECONCILE_SKEW = timedelta(minutes=10)


@dataclass
class _Cached:
    value: Any
    fetched_at: float


@dataclass(frozen=True)
class ReplyPlan:
    """The arguments of a reply derived from the message being answered."""

    to: list[str]
    cc: list[str]
    subject: str
    in_reply_to: str
    thread_id: str | None
    participants: frozenset[str]


def _addr(value: str) -> str:
    return parseaddr(value)[1].strip().lower() if "<" in value else value.strip().lower()


def _norm_body(text: str | None) -> str:
    return (text or "").replace("\r\n", "\n").strip()


def mailbox_address(mailbox: Mailbox) -> str:
    """The full address of a mailbox, lowercased."""
    return (mailbox.full_address or mailbox.address or "").lower()


class GuardCore:
    """State, caches and decisions of a guard; no network I/O."""

    def __init__(
        self,
        policy: GuardPolicy | None,
        state_path: str | Path | None,
        clock: Callable[[], float] | None,
    ) -> None:
        self.policy = policy or GuardPolicy()
        self.state = GuardState(state_path)
        self.clock: Callable[[], float] = clock or time.time
        pruned = self.state.prune(now=self.clock(), keep_seconds=self.policy.idempotency_ttl_seconds)
        if pruned:
            logger.debug("send guards: forgot %d idempotency keys older than the TTL", pruned)
        self._suppressions: _Cached | None = None
        self._suppressions_warned = False
        self._mailboxes: dict[str, _Cached] = {}
        self._own: _Cached | None = None

    # -- preparation ---------------------------------------------------------------

    def prepare(self, mailbox_id: str, **kwargs: Any) -> PreparedSend:
        """Stateless checks; a random key when the caller gave none (exactly-once within the call)."""
        return prepare_send(self.policy, mailbox_id, default_key=f"send-{uuid.uuid4().hex}", **kwargs)

    @staticmethod
    def check_reply_mailbox(mailbox_id: str, message: Message) -> None:
        """A reply must leave from the mailbox that received the message (or it lands in another thread)."""
        if message.mailbox_id and message.mailbox_id != mailbox_id:
            msg = (
                f"message {message.id} belongs to mailbox {message.mailbox_id}, not {mailbox_id}; "
                "reply from the mailbox that received it"
            )
            raise InvalidRequestError(msg)

    def plan_reply(self, message: Message, *, reply_all: bool, own: Iterable[str]) -> ReplyPlan:
        """Recipients, subject and threading of a reply to ``message``.

        The reply goes to the sender's address (``From``), not to a ``Reply-To`` the
        sender chose: an agent must not be steered to a third party by a header.
        """
        if not message.message_id:
            msg = "the message has no Message-ID, so a reply cannot be threaded; use send() with thread_id"
            raise InvalidRequestError(msg)
        own_set = {a.lower() for a in own}
        sender = _addr(message.from_address or "")
        to = [message.from_address]
        cc: list[str] = []
        if reply_all:
            seen = {sender, *own_set}
            for raw in [*message.to_addresses, *message.cc_addresses]:
                address = _addr(raw)
                if address and address not in seen:
                    seen.add(address)
                    cc.append(raw)
        participants = frozenset(
            a
            for a in (_addr(x) for x in [message.from_address, *message.to_addresses, *message.cc_addresses])
            if a
        )
        return ReplyPlan(
            to=to,
            cc=cc,
            subject=reply_subject(message.subject),
            in_reply_to=message.message_id,
            thread_id=message.thread_id,
            participants=participants,
        )

    # -- caches ----------------------------------------------------------------------

    def _fresh(self, cached: _Cached | None, ttl: float) -> bool:
        return cached is not None and self.clock() - cached.fetched_at < ttl

    def cached_mailbox(self, mailbox_id: str) -> Mailbox | None:
        """The mailbox if fetched within the TTL."""
        cached = self._mailboxes.get(mailbox_id)
        return (
            cached.value
            if cached is not None and self._fresh(cached, self.policy.mailbox_ttl_seconds)
            else None
        )

    def store_mailbox(self, mailbox: Mailbox) -> None:
        """Remember a fetched mailbox."""
        self._mailboxes[mailbox.id] = _Cached(mailbox, self.clock())

    def check_mailbox(self, mailbox: Mailbox) -> None:
        """Refuse sends from a mailbox that is not ACTIVE."""
        if self.policy.check_mailbox_status and (mailbox.status or "ACTIVE").upper() != "ACTIVE":
            msg = (
                f"Mailbox {mailbox_address(mailbox) or mailbox.id} is {mailbox.status}, so it cannot send; "
                "a person must reactivate it first."
            )
            raise MailboxNotActive(msg, details={"mailbox_id": mailbox.id, "status": mailbox.status})

    def suppressions_need_refresh(self) -> bool:
        """True when the account suppression list should be fetched again."""
        return not self._fresh(self._suppressions, self.policy.suppression_ttl_seconds)

    def store_suppressions(self, items: Iterable[Suppression] | None, error: Exception | None = None) -> None:
        """Cache the account list, or note why it could not be read (server-side suppression still applies)."""
        if items is not None:
            self._suppressions = _Cached(frozenset(s.email.lower() for s in items if s.email), self.clock())
            return
        if not self._suppressions_warned:
            logger.warning(
                "send guards: could not read the account suppression list (%s); relying on local entries "
                "and on the server's own suppression check",
                error,
            )
            self._suppressions_warned = True
        stale = self._suppressions.value if self._suppressions is not None else frozenset()
        self._suppressions = _Cached(stale, self.clock())

    def suppressed(self) -> frozenset[str]:
        """Account list (cached) plus local entries (policy and persisted)."""
        account = self._suppressions.value if self._suppressions is not None else frozenset()
        return frozenset(account) | self.policy.suppressed_addresses | self.state.suppressed()

    def own_need_refresh(self) -> bool:
        """True when the list of our own mailbox addresses should be fetched again."""
        return not self._fresh(self._own, self.policy.mailbox_ttl_seconds)

    def store_own(self, mailboxes: Iterable[Mailbox] | None) -> None:
        """Cache the account's mailbox addresses (None: keep what we had)."""
        if mailboxes is None:
            value = self._own.value if self._own is not None else frozenset()
        else:
            value = frozenset(a for a in (mailbox_address(m) for m in mailboxes) if a)
        self._own = _Cached(value, self.clock())

    def own_addresses(self) -> frozenset[str]:
        """Every address known to be ours."""
        known = self._own.value if self._own is not None else frozenset()
        cached = {mailbox_address(c.value) for c in self._mailboxes.values()}
        return frozenset(known) | frozenset(a for a in cached if a) | self.policy.own_addresses

    # -- rules -----------------------------------------------------------------------

    def check_policy(self, send: PreparedSend, participants: frozenset[str] | None) -> None:
        """Suppression, then the recipient policy."""
        check_suppressed(send.recipients, self.suppressed())
        check_recipients(self.policy, send, participants)

    def reserve(self, send: PreparedSend) -> None:
        """Spend one rate token and a reply slot, or refuse with when to retry."""
        p = self.policy
        result = self.state.reserve(
            send.mailbox_id,
            send.thread_id,
            send.key,
            now=self.clock(),
            rate_per_second=p.rate_per_minute / 60.0,
            burst=p.burst_size,
            max_replies=p.max_replies_per_thread,
            window=p.reply_window_seconds,
        )
        if result.granted:
            return
        if result.rule == "reply_cap":
            minutes = p.reply_window_seconds / 60
            msg = (
                f"The agent already sent {result.count} messages in this thread in the last {minutes:g} minutes "
                f"(limit {p.max_replies_per_thread}); stop replying and let a person take over."
            )
            raise ReplyCapReached(msg, retry_after=result.retry_after, details={"thread_id": send.thread_id})
        msg = (
            f"This mailbox may send {p.rate_per_minute:g} messages a minute and the budget is used up; "
            "wait and try again."
        )
        raise RateLimited(msg, retry_after=result.retry_after, details={"mailbox_id": send.mailbox_id})

    def verdict(self, message: Message | MessageReceivedData, *, with_cap: bool = True) -> LoopVerdict:
        """Loop verdict for an inbound message (or ``message.received`` event data), with the thread's reply cap."""
        from .._models import MessageReceivedData

        if isinstance(message, MessageReceivedData):
            from_address, direction = message.from_, "INBOUND"
        else:
            from_address, direction = message.from_address, message.direction
        verdict = loop_verdict(
            self.policy,
            headers=message.headers,
            from_address=from_address,
            direction=direction,
            own_addresses=self.own_addresses(),
        )
        if not verdict.answer or not with_cap or not message.thread_id:
            return verdict
        p = self.policy
        count, frees_at = self.state.reply_count(
            message.mailbox_id, message.thread_id, now=self.clock(), window=p.reply_window_seconds
        )
        if count >= p.max_replies_per_thread:
            return LoopVerdict(
                False,
                f"The agent already replied {count} times in this thread within the window "
                f"(limit {p.max_replies_per_thread}); leave it to a person.",
                "reply_cap",
                "reply_cap",
                {"retry_after": None if frees_at is None else max(0.0, frees_at - self.clock())},
            )
        return verdict

    @staticmethod
    def refuse_loop(verdict: LoopVerdict) -> None:
        """Raise the refusal matching a negative verdict."""
        if verdict.answer:
            return
        cls = ReplyCapReached if verdict.code == "reply_cap" else LoopDetected
        raise cls(verdict.reason, details={"rule": verdict.rule})

    # -- exactly-once ----------------------------------------------------------------

    def begin(self, send: PreparedSend) -> SendRecord | None:
        """Record the intent; returns the existing record if the key is known."""
        return self.state.begin_send(
            send.key, send.mailbox_id, send.thread_id, send.fingerprint(), now=self.clock()
        )

    def stored_message(self, record: SendRecord) -> Message:
        """The server's message stored for a completed key."""
        from .._models import Message

        if record.message is None:  # pragma: no cover - complete_send always stores it
            msg = f"idempotency record {record.key} has no stored message"
            raise RuntimeError(msg)
        return Message.model_validate(record.message)

    def note_repeat(self, send: PreparedSend, record: SendRecord) -> None:
        """Log a key re-used for different content (the original is kept, nothing is sent)."""
        if record.fingerprint != send.fingerprint():
            logger.info(
                "send guards: idempotency key %s was already used for a different message; "
                "returning the original and sending nothing",
                send.key,
            )

    def complete(self, send: PreparedSend, message: Message) -> Message:
        """Store the sent message under its key and count it in its thread."""
        now = self.clock()
        self.state.complete_send(
            send.key, message.model_dump(mode="json", by_alias=True), message.thread_id, now=now
        )
        if message.thread_id and message.thread_id != send.thread_id:
            self.state.record_reply(send.mailbox_id, message.thread_id, send.key, now=now)
        return message

    def reconcile_since(self, record: SendRecord | None) -> datetime:
        """Lower bound of ``createdAt`` for the outbound scan."""
        created = record.created_at if record is not None else self.clock()
        return datetime.fromtimestamp(created, UTC) - _RECONCILE_SKEW

    @staticmethod
    def match(
        messages: Iterable[Message], send: PreparedSend, since: datetime
    ) -> tuple[Message | None, Message | None]:
        """Find ``send`` among outbound messages: ``(exact, lookalike)``.

        ``exact`` carries the idempotency key header. ``lookalike`` carries no key header
        at all but the same recipients, subject, body and ``In-Reply-To``, created after
        the intent: the fallback for a backend that does not echo custom headers, where
        treating an identical message as ours errs on the side of not sending twice.
        """
        lookalike: Message | None = None
        want_to = {a.lower() for a in send.to}
        want_body = _norm_body(send.body_text)
        for message in messages:
            key = get_header(message.headers, IDEMPOTENCY_HEADER)
            if key == send.key:
                return message, None
            if (
                key is None
                and lookalike is None
                and {_addr(a) for a in message.to_addresses} == want_to
                and message.subject == send.subject
                and _norm_body(message.body_text) == want_body
                and (send.in_reply_to is None or message.in_reply_to == send.in_reply_to)
                and (message.created_at is None or message.created_at >= since)
            ):
                lookalike = message
        return None, lookalike

    def in_flight(self, send: PreparedSend, record: SendRecord) -> None:
        """After a fruitless reconciliation: refuse if the last attempt may still land, else take it over."""
        now = self.clock()
        grace = self.policy.ambiguous_grace_seconds
        wait = record.claimed_at + grace - now
        if wait > 0 or not self.state.reclaim_send(send.key, now=now, stale_before=now - grace):
            msg = (
                f"An earlier attempt with idempotency key {send.key} may still be delivered; "
                "call again with the same key later and it will be sent at most once."
            )
            raise SendInFlight(msg, retry_after=max(wait, 1.0), details={"key": send.key})

    def map_send_error(self, send: PreparedSend, err: Exception) -> GuardRefusal | None:
        """Turn the server's own guard answers (429, suppressed, inactive) into refusals."""
        if isinstance(err, RateLimitError):
            msg = "The server's send rate limit for this mailbox was hit; wait and try again."
            return RateLimited(msg, retry_after=err.retry_after if err.retry_after is not None else 60.0)
        if isinstance(err, BadRequestError):
            text = f"{err.error or ''} {err}".lower()
            if "suppress" in text:
                msg = (
                    f"The server refused a suppressed recipient ({err.error}); remove it from the recipients."
                )
                return SuppressedRecipient(msg, details={"recipients": send.recipients})
            if "active" in text and "mailbox" in text:
                msg = f"The server says the mailbox cannot send ({err.error}); a person must reactivate it."
                return MailboxNotActive(msg, details={"mailbox_id": send.mailbox_id})
        return None

    def ambiguous_message(self, send: PreparedSend) -> str:
        """Guidance for a send whose outcome could not be established."""
        return (
            f"The send may or may not have gone out and it was not found among the outbound messages yet. "
            f"Call again with idempotency_key={send.key!r} after "
            f"{self.policy.ambiguous_grace_seconds:g} s: it will be sent at most once."
        )

    def close(self) -> None:
        """Close the state database."""
        self.state.close()


def participants_of(thread: ThreadDetail) -> frozenset[str]:
    """Lowercased addresses of everyone in a thread (its participants and every message's people)."""
    raw: list[str] = list(thread.participants)
    for message in thread.messages:
        raw.extend([message.from_address, *message.to_addresses, *message.cc_addresses])
    return frozenset(a for a in (_addr(x) for x in raw if x) if a)


def thread_send(send: PreparedSend, thread: ThreadDetail) -> tuple[PreparedSend, frozenset[str]]:
    """Tie a send to ``thread`` and return it with the thread's participants.

    The API has no thread parameter: the server threads a send by ``In-Reply-To`` (then
    by subject). So a send given only ``thread_id`` answers the thread's latest message,
    and an ``in_reply_to`` outside the thread is refused; otherwise the recipient policy
    and the reply cap would be judged on one thread while the mail lands in another.
    """
    ids = [m.message_id for m in thread.messages if m.message_id]
    if send.in_reply_to is None:
        if ids:
            send = replace(send, in_reply_to=ids[-1])
    elif ids and send.in_reply_to not in ids:
        msg = (
            f"in_reply_to {send.in_reply_to!r} is not a message of thread {thread.id}; "
            "pass a Message-ID from that thread, or only thread_id"
        )
        raise InvalidRequestError(msg)
    return send, participants_of(thread)
