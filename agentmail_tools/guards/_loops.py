"""Loop prevention: may an inbound message be answered automatically?

Pure, table-tested rules (RFC 3834 ``Auto-Submitted``, ``Precedence``, list headers,
machine senders, our own addresses); :class:`~agentmail_tools.guards.MailGuard`
supplies the facts and adds the thread's reply cap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from ._policy import AUTO_SUBMITTED_HEADER, GuardPolicy

__all__ = ["LoopVerdict", "get_header", "loop_verdict"]

_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk", "auto_reply"})
_MS_SUPPRESS = frozenset({"all", "autoreply", "oof"})


def get_header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """Case-insensitive header lookup; list values (repeated headers) are joined with ", "."""
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            if value is None:
                return None
            if isinstance(value, list | tuple):
                return ", ".join(str(v) for v in value)
            return str(value)
    return None


@dataclass(frozen=True)
class LoopVerdict:
    """Whether an inbound message may be answered, and why (not).

    Attributes:
        answer: True when an automatic answer is safe.
        reason: One sentence explaining the verdict.
        code: ``None`` when answering is fine, else ``"loop"`` or ``"reply_cap"``.
        rule: Which header or rule decided (e.g. ``"Auto-Submitted"``), for logs and tests.
    """

    answer: bool
    reason: str
    code: str | None = None
    rule: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.answer


def _sender_address(value: str | None) -> str:
    if not value:
        return ""
    return parseaddr(value)[1].strip().lower()


def loop_verdict(
    policy: GuardPolicy,
    *,
    headers: Mapping[str, Any] | None,
    from_address: str | None,
    direction: str | None = "INBOUND",
    own_addresses: Iterable[str] = (),
) -> LoopVerdict:
    """Decide whether answering this inbound message could start or feed a mail loop.

    Follows RFC 3834 (``Auto-Submitted``), the de-facto ``Precedence`` header, RFC 2369/2919
    list headers, Microsoft's ``X-Auto-Response-Suppress``, null reverse paths and
    delivery reports, machine senders (mailer-daemon, no-reply, bounces) and our own
    addresses (including the ``X-Robotomail-Auto-Submitted`` marker our agents send).
    """

    def no(rule: str, reason: str) -> LoopVerdict:
        return LoopVerdict(False, reason, "loop", rule)

    if direction is not None and str(direction).upper() == "OUTBOUND":
        return no("direction", "This is an outgoing message of ours; never answer it.")
    sender = _sender_address(from_address)
    if not sender or "@" not in sender:
        return no("From", "The message has no usable sender address, so there is nobody to answer.")
    own = {a.lower() for a in own_addresses} | set(policy.own_addresses)
    if sender in own:
        return no("own-address", f"The sender {sender} is one of our own mailboxes; answering would loop.")
    for name in ("Auto-Submitted", AUTO_SUBMITTED_HEADER):
        value = get_header(headers, name)
        if value is not None:
            token = value.split(";", 1)[0].strip().lower()
            if token != "no":
                return no(
                    name,
                    f"The message is automatic ({name}: {token or 'empty'}); do not answer automatic mail.",
                )
    precedence = get_header(headers, "Precedence")
    if precedence is not None and precedence.strip().lower() in _BULK_PRECEDENCE:
        return no(
            "Precedence",
            f"The message is bulk or list mail (Precedence: {precedence.strip()}); do not answer it.",
        )
    for name in ("List-Id", "List-Unsubscribe"):
        if get_header(headers, name) is not None:
            return no(name, f"The message comes from a mailing list ({name}); do not answer list mail.")
    suppress = get_header(headers, "X-Auto-Response-Suppress")
    if suppress is not None:
        tokens = {t.strip().lower() for t in suppress.split(",")}
        if tokens & _MS_SUPPRESS:
            return no(
                "X-Auto-Response-Suppress",
                "The sender asked for no automatic responses (X-Auto-Response-Suppress).",
            )
    for name in ("X-Autoreply", "X-Autorespond"):
        if get_header(headers, name) is not None:
            return no(name, f"The message is an autoresponder's ({name}); do not answer it.")
    return_path = get_header(headers, "Return-Path")
    if return_path is not None and return_path.strip() in ("<>", ""):
        return no(
            "Return-Path", "The message has a null return path (a bounce or notification); do not answer it."
        )
    content_type = get_header(headers, "Content-Type")
    if content_type is not None and content_type.strip().lower().startswith("multipart/report"):
        return no("Content-Type", "The message is a delivery or read report; do not answer it.")
    local = sender.rpartition("@")[0].split("+", 1)[0]
    for part in policy.loop_sender_localparts:
        if local == part or local.startswith((part + "-", part + ".", part + "_")):
            return no(
                "sender", f"The sender {sender} is a machine address ({part}); nobody reads answers to it."
            )
    return LoopVerdict(True, "No loop or automatic-mail signal found; answering is allowed.")
