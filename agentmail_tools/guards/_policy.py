"""The send policy: what the guards allow, as one validated pydantic model."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .._errors import InvalidRequestError
from .._validation import normalize_address

__all__ = [
    "AUTO_SUBMITTED_HEADER",
    "IDEMPOTENCY_HEADER",
    "GuardPolicy",
]

# The hosted API keeps only ``X-Custom-*`` and ``X-Robotomail-*`` custom headers on a send
# (ROBOTOMAIL_API.md, POST /mailboxes/{id}/messages), so RFC 3834's ``Auto-Submitted`` cannot
# be set directly: the guards send its value under the X-Robotomail- prefix instead.
AUTO_SUBMITTED_HEADER = "X-Robotomail-Auto-Submitted"
IDEMPOTENCY_HEADER = "X-Robotomail-Idempotency-Key"

_DEFAULT_LOOP_LOCALPARTS = (
    "mailer-daemon",
    "postmaster",
    "no-reply",
    "noreply",
    "do-not-reply",
    "donotreply",
    "bounce",
    "bounces",
)

PositiveFloat = Annotated[float, Field(gt=0)]


class GuardPolicy(BaseModel):
    """Rules the send guards enforce for every send, whatever the model asks.

    The defaults are conservative: replies only to the people already in the thread,
    no new conversations, 20 sends a minute per mailbox, at most 3 agent replies per
    thread per hour.

    Example:
        >>> policy = GuardPolicy(allowed_domains=["example.com"], allow_new_conversations=True)
        >>> policy.burst_size
        20
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    allowed_addresses: frozenset[str] = Field(
        default=frozenset(),
        description="Addresses the agent may always write to (besides the thread's participants).",
    )
    allowed_domains: frozenset[str] = Field(
        default=frozenset(),
        description='Domains the agent may always write to; "*.example.com" also allows subdomains.',
    )
    reply_to_participants: bool = Field(
        default=True, description="Replies may go to anyone already in the thread."
    )
    allow_new_conversations: bool = Field(
        default=False, description="Allow sends that start a new thread (no thread_id, no in_reply_to)."
    )
    max_replies_per_thread: int = Field(default=3, ge=0)
    reply_window_seconds: PositiveFloat = 3600.0
    rate_per_minute: PositiveFloat = 20.0
    burst: int | None = Field(default=None, ge=1, description="Token-bucket size; default rate_per_minute.")
    max_body_bytes: int = Field(default=512 * 1024, ge=1, description="UTF-8 bytes of text plus HTML body.")
    max_subject_chars: int = Field(default=998, ge=1, le=998)
    max_recipients: int = Field(default=50, ge=1, le=150, description="To + Cc + Bcc together.")
    max_attachments: int = Field(default=10, ge=0, le=10)
    max_headers: int = Field(default=20, ge=0)
    max_header_value_chars: int = Field(default=998, ge=1, le=998)
    allowed_header_prefixes: tuple[str, ...] = ("x-robotomail-", "x-custom-")
    suppressed_addresses: frozenset[str] = Field(
        default=frozenset(), description="Local suppression entries on top of the account's list."
    )
    suppression_ttl_seconds: float = Field(default=300.0, ge=0)
    mailbox_ttl_seconds: float = Field(default=300.0, ge=0)
    check_mailbox_status: bool = True
    account_mailboxes_are_own: bool = Field(
        default=True,
        description="Every mailbox of the account counts as ours for loop prevention (else only the receiving one).",
    )
    own_addresses: frozenset[str] = Field(
        default=frozenset(), description="Addresses that are ours besides the account's mailboxes."
    )
    loop_sender_localparts: tuple[str, ...] = _DEFAULT_LOOP_LOCALPARTS
    ambiguous_grace_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long an unconfirmed attempt may still land before the same key is sent again.",
    )
    idempotency_ttl_seconds: float = Field(
        default=30 * 24 * 3600.0,
        gt=0,
        description="How long a sent key is remembered (a repeat after that would send again).",
    )
    reconcile_pages: int = Field(default=3, ge=1, description="Outbound pages scanned when reconciling.")

    @field_validator("allowed_addresses", "suppressed_addresses", "own_addresses", mode="before")
    @classmethod
    def _normalize_addresses(cls, value: object) -> frozenset[str]:
        items = [value] if isinstance(value, str) else list(value or ())  # type: ignore[call-overload]
        try:
            return frozenset(normalize_address(item).lower() for item in items)
        except InvalidRequestError as err:
            raise ValueError(str(err)) from err

    @field_validator("allowed_domains", mode="before")
    @classmethod
    def _normalize_domains(cls, value: object) -> frozenset[str]:
        items = [value] if isinstance(value, str) else list(value or ())  # type: ignore[call-overload]
        out = set()
        for item in items:
            if not isinstance(item, str) or not item.strip() or any(c in item for c in "@\r\n\x00 "):
                msg = f"allowed_domains entries are bare domains like 'example.com', got {item!r}"
                raise ValueError(msg)
            out.add(item.strip().lower().rstrip("."))
        return frozenset(out)

    @field_validator("allowed_header_prefixes", "loop_sender_localparts", mode="before")
    @classmethod
    def _lower_tuple(cls, value: object) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else list(value or ())  # type: ignore[call-overload]
        return tuple(str(item).lower() for item in items)

    @model_validator(mode="after")
    def _check(self) -> GuardPolicy:
        if any(not p.startswith(("x-robotomail-", "x-custom-")) for p in self.allowed_header_prefixes):
            msg = "allowed_header_prefixes may only narrow X-Robotomail-/X-Custom- (the API drops other headers)"
            raise ValueError(msg)
        return self

    @property
    def burst_size(self) -> int:
        """Effective token-bucket capacity."""
        return self.burst if self.burst is not None else max(1, int(self.rate_per_minute))

    def address_allowed(self, address: str) -> bool:
        """True when ``address`` (normalised) is on the address or domain allow-list."""
        address = address.lower()
        if address in self.allowed_addresses:
            return True
        domain = address.rpartition("@")[2]
        for entry in self.allowed_domains:
            if entry.startswith("*."):
                base = entry[2:]
                if domain == base or domain.endswith("." + base):
                    return True
            elif domain == entry:
                return True
        return False
