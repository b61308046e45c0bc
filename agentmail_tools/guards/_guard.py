"""MailGuard: every agent send goes through here (the synchronous guard)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._errors import (
    AmbiguousSendError,
    APIStatusError,
    InternalServerError,
    MailConnectionError,
    MailError,
    MailTimeoutError,
)
from ._core import GuardCore, thread_send
from ._loops import LoopVerdict
from ._policy import GuardPolicy
from ._rules import PreparedSend
from ._state import SendRecord

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._client import MailClient
    from .._models import Message, MessageReceivedData

__all__ = ["MailGuard"]

logger = logging.getLogger("agentmail_tools")


class MailGuard:
    """Send guards and exactly-once sending for one client (synchronous).

    Every send runs, in order: header-injection and size checks, the mailbox's status,
    the suppression list (account list cached with a TTL, plus local entries), the
    recipient policy, then atomically the thread's reply cap and the mailbox's token
    bucket. Each refusal is a :class:`~agentmail_tools.guards.GuardRefusal` whose
    ``reason`` says what to do. The message then carries
    ``X-Robotomail-Auto-Submitted: auto-replied`` (the API keeps only ``X-Robotomail-*``
    and ``X-Custom-*`` headers, so RFC 3834's ``Auto-Submitted`` travels under that
    prefix) and ``X-Robotomail-Idempotency-Key``. The intent is recorded before the
    request; after an ambiguous failure or a crash the thread's outbound messages are
    searched for the key before anything is sent again, and a repeated key returns the
    original message.

    Args:
        client: A :class:`~agentmail_tools.MailClient` (hosted API or sandbox).
        policy: The rules; the default allows replies to thread participants only.
        state_path: SQLite file for rate buckets, reply counters and idempotency records
            (shared safely by several processes); ``None`` keeps them in memory.
        clock: Seconds since the epoch; injectable for tests.

    Example::

        from agentmail_tools.guards import GuardPolicy, MailGuard, idempotency_key
        from agentmail_tools.sandbox import Sandbox

        with Sandbox() as sandbox, sandbox.client() as client:
            box = client.mailboxes.create("support")
            [stored] = sandbox.inject({"from": "dana@example.com", "to": box.full_address,
                                       "subject": "Where is my order?", "bodyText": "Hi"})
            inbound = client.messages.get(box.id, stored["id"])
            with MailGuard(client, policy=GuardPolicy(), state_path="guards.db") as guard:
                if guard.should_answer(inbound).answer:
                    guard.reply(box.id, inbound, body_text="It ships today.",
                                idempotency_key=idempotency_key("evt_1", "reply"))

    The async twin is :class:`~agentmail_tools.guards.AsyncMailGuard`.
    """

    def __init__(
        self,
        client: MailClient,
        *,
        policy: GuardPolicy | None = None,
        state_path: str | Path | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.client = client
        self._core = GuardCore(policy, state_path, clock)

    @property
    def policy(self) -> GuardPolicy:
        """The policy in force."""
        return self._core.policy

    # -- public API ------------------------------------------------------------------

    def send(
        self,
        mailbox_id: str,
        *,
        to: str | Iterable[str],
        subject: str,
        body_text: str,
        cc: str | Iterable[str] | None = None,
        bcc: str | Iterable[str] | None = None,
        body_html: str | None = None,
        in_reply_to: str | None = None,
        headers: Mapping[str, str] | None = None,
        attachments: Iterable[str] | None = None,
        thread_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Message:
        """Send a message if every rule allows it, exactly once per idempotency key.

        A send with neither ``thread_id`` nor ``in_reply_to`` starts a new conversation,
        which the policy must allow. With ``thread_id`` the thread's participants are
        allowed recipients and the send answers the thread's latest message unless
        ``in_reply_to`` names another message of that thread (the API threads by
        ``In-Reply-To``, it has no thread parameter).

        Returns:
            The sent :class:`~agentmail_tools.Message`, or the original one when
            ``idempotency_key`` was already sent.

        Raises:
            GuardRefusal: a rule refused the send (nothing was sent).
            AmbiguousSendError: the outcome could not be established; call again later
                with the same ``idempotency_key`` and it will be sent at most once.
            MailError: any other client error (nothing was sent).
        """
        send = self._core.prepare(
            mailbox_id,
            to=to,
            subject=subject,
            body_text=body_text,
            cc=cc,
            bcc=bcc,
            body_html=body_html,
            in_reply_to=in_reply_to,
            headers=headers,
            attachments=attachments,
            thread_id=thread_id,
            idempotency_key=idempotency_key,
        )
        participants: frozenset[str] | None = None
        if thread_id is not None:
            send, participants = thread_send(send, self.client.threads.get(mailbox_id, thread_id))
        return self._guarded_send(send, participants)

    def reply(
        self,
        mailbox_id: str,
        message: Message,
        *,
        body_text: str,
        body_html: str | None = None,
        reply_all: bool = False,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        attachments: Iterable[str] | None = None,
    ) -> Message:
        """Answer ``message`` in its thread (``Re:`` subject, ``In-Reply-To`` its Message-ID).

        Refuses with :class:`~agentmail_tools.guards.LoopDetected` when the message must
        not be answered automatically (see :meth:`should_answer`).
        """
        self._core.check_reply_mailbox(mailbox_id, message)
        self._refresh_own(mailbox_id)
        verdict = self._core.verdict(message, with_cap=False)
        self._core.refuse_loop(verdict)
        plan = self._core.plan_reply(message, reply_all=reply_all, own=self._core.own_addresses())
        send = self._core.prepare(
            mailbox_id,
            to=plan.to,
            cc=plan.cc,
            subject=plan.subject,
            body_text=body_text,
            body_html=body_html,
            in_reply_to=plan.in_reply_to,
            headers=headers,
            attachments=attachments,
            thread_id=plan.thread_id,
            idempotency_key=idempotency_key,
        )
        return self._guarded_send(send, plan.participants)

    def should_answer(self, message: Message | MessageReceivedData) -> LoopVerdict:
        """Whether an inbound message may be answered automatically, and why (not).

        Checks RFC 3834 ``Auto-Submitted`` (and our ``X-Robotomail-Auto-Submitted``),
        ``Precedence: bulk|list|junk``, ``List-Id``/``List-Unsubscribe``, machine senders
        (mailer-daemon, postmaster, no-reply, bounces), our own mailboxes, and whether the
        thread's reply cap is already reached.

        Accepts a :class:`~agentmail_tools.Message` or the ``data`` of a
        ``message.received`` event (:class:`~agentmail_tools.MessageReceivedData`).
        """
        self._refresh_own(message.mailbox_id)
        return self._core.verdict(message)

    def suppress(self, address: str, reason: str | None = None) -> None:
        """Add a local suppression entry (persisted with the guard state)."""
        from .._validation import normalize_address

        self._core.state.suppress(normalize_address(address), reason, now=self._core.clock())

    def unsuppress(self, address: str) -> bool:
        """Remove a local suppression entry; True if it existed."""
        from .._validation import normalize_address

        return self._core.state.unsuppress(normalize_address(address))

    def pending(self) -> list[SendRecord]:
        """Sends whose outcome is not yet known (intent recorded, no confirmation)."""
        return self._core.state.pending_sends()

    def close(self) -> None:
        """Close the guard's state database (the client is left open)."""
        self._core.close()

    def __enter__(self) -> MailGuard:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- facts -----------------------------------------------------------------------

    def _refresh_own(self, mailbox_id: str | None) -> None:
        core = self._core
        if not core.policy.account_mailboxes_are_own:
            # Only the receiving mailbox is "us": fetch it once so its address is known.
            if mailbox_id and core.cached_mailbox(mailbox_id) is None:
                try:
                    core.store_mailbox(self.client.mailboxes.get(mailbox_id))
                except MailError as err:
                    logger.warning("send guards: could not read mailbox %s (%s)", mailbox_id, err)
            return
        if not core.own_need_refresh():
            return
        try:
            core.store_own(self.client.mailboxes.list())
        except MailError as err:
            logger.warning("send guards: could not list mailboxes (%s); using known addresses", err)
            core.store_own(None)

    def _check_facts(self, send: PreparedSend, participants: frozenset[str] | None) -> None:
        core = self._core
        if core.policy.check_mailbox_status:
            mailbox = core.cached_mailbox(send.mailbox_id)
            if mailbox is None:
                mailbox = self.client.mailboxes.get(send.mailbox_id)
                core.store_mailbox(mailbox)
            core.check_mailbox(mailbox)
        if core.suppressions_need_refresh():
            try:
                core.store_suppressions(self.client.suppressions.list())
            except (APIStatusError, MailConnectionError) as err:
                core.store_suppressions(None, err)
        core.check_policy(send, participants)

    # -- exactly-once ----------------------------------------------------------------

    def _guarded_send(self, send: PreparedSend, participants: frozenset[str] | None) -> Message:
        core = self._core
        record = core.state.get_send(send.key)
        if record is not None and record.state == "sent":
            core.note_repeat(send, record)
            return core.stored_message(record)
        if record is None:
            self._check_facts(send, participants)
            core.reserve(send)
            record = core.begin(send)
            if record is None:
                return self._attempt(send, None)
            if record.state == "sent":
                return core.stored_message(record)
        return self._resume(send, record, participants)

    def _resume(self, send: PreparedSend, record: SendRecord, participants: frozenset[str] | None) -> Message:
        core = self._core
        found = self._reconcile(send, record)
        if found is not None:
            return core.complete(send, found)
        core.in_flight(send, record)
        # The earlier attempt is stale and did not land: send it now (its rate token and
        # reply slot were spent at the first attempt), still subject to the policy.
        self._check_facts(send, participants)
        return self._attempt(send, record)

    def _attempt(self, send: PreparedSend, record: SendRecord | None) -> Message:
        core = self._core
        try:
            message = self.client.messages.send(send.mailbox_id, **send.send_kwargs())
        except (AmbiguousSendError, MailTimeoutError) as err:
            try:
                found = self._reconcile(send, record)
            except MailError as rec_err:
                logger.warning("send guards: reconciliation after an ambiguous send failed: %s", rec_err)
                found = None
            if found is not None:
                return core.complete(send, found)
            raise AmbiguousSendError(core.ambiguous_message(send)) from err
        except InternalServerError:
            try:
                found = self._reconcile(send, record)
            except MailError:
                found = None
            if found is not None:
                return core.complete(send, found)
            core.state.abandon_send(send.key)
            raise
        except MailError as err:
            # The server answered with a refusal, or nothing reached it: nothing was sent.
            core.state.abandon_send(send.key)
            refusal = core.map_send_error(send, err)
            if refusal is not None:
                raise refusal from err
            raise
        return core.complete(send, message)

    def _reconcile(self, send: PreparedSend, record: SendRecord | None) -> Message | None:
        """Look for the key among the thread's (or the mailbox's recent) outbound messages."""
        core = self._core
        thread_id = (record.thread_id if record is not None else None) or send.thread_id
        since = core.reconcile_since(record)
        kwargs: dict[str, Any] = {"direction": "OUTBOUND", "limit": 100}
        if thread_id is not None:
            kwargs["thread_id"] = thread_id
        else:
            kwargs["since"] = since
        lookalike: Message | None = None
        for page in range(core.policy.reconcile_pages):
            result = self.client.messages.list(send.mailbox_id, offset=page * 100, **kwargs)
            exact, similar = core.match(result.messages, send, since)
            if exact is not None:
                logger.info(
                    "send guards: key %s was already sent as %s; not sending again", send.key, exact.id
                )
                return exact
            lookalike = lookalike or similar
            if len(result.messages) < 100:
                break
        if lookalike is not None:
            logger.warning(
                "send guards: no message carries key %s, but %s has the same recipients, subject and body; "
                "taking it as already sent (does the backend echo custom headers?)",
                send.key,
                lookalike.id,
            )
        return lookalike
