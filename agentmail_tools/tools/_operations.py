"""The mail operations, defined once for every framework and for sync and async.

Each operation is a generator that *describes* the I/O it needs (``yield Call(...)``)
and turns the answers into a :class:`ToolResult` (text for the model, typed objects as
the artifact). Two small drivers execute the calls: :func:`run_sync` with ``MailClient``
/ ``MailGuard`` and :func:`run_async` with ``AsyncMailClient`` / ``AsyncMailGuard``.
So the LangChain tools, their native ``_arun`` and the CrewAI tools run identical
logic, without wrapping sync code in threads (a thread is used only as a fallback when
the caller supplied just one flavour of client).

Every expected failure (a guard refusal, an unknown id, a rate limit, a server refusal,
a transport error) leaves here as a :class:`MailToolError` (a LangChain
``ToolException``) whose message tells the model what happened and what to do next.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Literal

from langchain_core.tools import ToolException
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from .._errors import (
    AmbiguousSendError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InvalidRequestError,
    MailConnectionError,
    MailError,
    NotFoundError,
    PayloadTooLargeError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
)
from .._tokens import count_tokens, truncate_to_tokens
from .._types import MessageSearch
from ._extract import extract_text, kind_of
from ._render import (
    UNTRUSTED_NOTE,
    render_attachment_text,
    render_mailboxes,
    render_message,
    render_search_results,
    render_thread,
    render_threads,
)

__all__ = [
    "OPERATIONS",
    "Call",
    "MailContext",
    "MailToolError",
    "Operation",
    "ToolResult",
    "operation",
    "run_async",
    "run_sync",
    "to_tool_error",
]

logger = logging.getLogger("agentmail_tools")

# A message the model can find by scanning when the backend has no search route.
_SCAN_LIMIT = 500


class MailToolError(ToolException):
    """An expected failure, worded for the model: what went wrong and what to do next.

    Attributes:
        code: Machine-readable cause (a guard code such as ``"rate_limited"``, or
            ``"not_found"``, ``"bad_request"``, ``"ambiguous_send"``, ...).
        retry_after: Seconds after which retrying may succeed, when known.
    """

    def __init__(self, message: str, *, code: str = "error", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


@dataclass(frozen=True)
class ToolResult:
    """What an operation returns: ``content`` for the model, ``artifact`` for code."""

    content: str
    artifact: Any


@dataclass(frozen=True)
class Call:
    """One I/O step requested by an operation.

    ``target`` is ``"client"``, ``"guard"`` or ``"search"``; ``method`` a dotted path on
    it (``"messages.get"``).
    """

    target: Literal["client", "guard", "search"]
    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class MailContext:
    """Everything an operation may use; built by ``MailToolkit``.

    Attributes:
        mailbox_id: The mailbox the tools act on (every read and send is scoped to it).
        client: A ``MailClient`` (sync paths) or ``None``.
        async_client: An ``AsyncMailClient`` (native async paths) or ``None``.
        search: A :class:`~agentmail_tools.MessageSearch` (e.g. retrieval's
            ``HybridSearch``); ``None`` uses the backend's full-text search.
        guard_factory / async_guard_factory: Return the ``MailGuard`` /
            ``AsyncMailGuard`` that every send goes through (built lazily).
        budget_tokens: Cap on each tool's text output.
        allow_new_conversations: Whether ``send_email`` may start threads at all.
        model: Tokenizer used to count budgets (see ``count_tokens``).
        max_attachment_bytes: Larger attachments are described, not downloaded.
    """

    mailbox_id: str
    client: Any = None
    async_client: Any = None
    search: MessageSearch | None = None
    guard_factory: Callable[[], Any] | None = None
    async_guard_factory: Callable[[], Any] | None = None
    budget_tokens: int = 2000
    allow_new_conversations: bool = False
    model: str | None = None
    max_attachment_bytes: int = 10 * 1024 * 1024


Plan = Generator[Call, Any, ToolResult]


@dataclass(frozen=True)
class Operation:
    """One tool, independent of any agent framework.

    Attributes:
        name: Tool name the model calls.
        description: What the tool does, written for the model.
        args_schema: Pydantic model of the arguments (its field descriptions are what
            the model reads).
        plan: ``plan(ctx, args) -> Generator[Call, Any, ToolResult]``.
        sends: The operation sends mail (goes through the guard).
    """

    name: str
    description: str
    args_schema: type[BaseModel]
    plan: Callable[[MailContext, Any], Plan]
    sends: bool = False


OPERATIONS: dict[str, Operation] = {}


def operation(
    name: str, description: str, args_schema: type[BaseModel], *, sends: bool = False
) -> Callable[[Callable[[MailContext, Any], Plan]], Callable[[MailContext, Any], Plan]]:
    """Register a plan function as the operation ``name``."""

    def register(fn: Callable[[MailContext, Any], Plan]) -> Callable[[MailContext, Any], Plan]:
        OPERATIONS[name] = Operation(name, description, args_schema, fn, sends)
        return fn

    return register


# --------------------------------------------------------------------------- errors


def _what(err: APIStatusError) -> str:
    return (err.error or str(err)).rstrip(".")


def to_tool_error(err: BaseException) -> MailToolError:
    """Translate a library error into a :class:`MailToolError` the model can act on."""
    if isinstance(err, MailToolError):
        return err
    from ..guards import GuardRefusal  # guards import the client; keep tools importable alone

    if isinstance(err, GuardRefusal):
        retry = f" You may retry after {err.retry_after:.0f} seconds." if err.retry_after else ""
        return MailToolError(
            f"Not sent ({err.code}): {err.reason}{retry} Nothing was sent.",
            code=err.code,
            retry_after=err.retry_after,
        )
    if isinstance(err, AmbiguousSendError):
        return MailToolError(
            "The connection failed while sending, so the message may or may not have been sent. "
            "Do not send it again blindly: call read_thread to check whether it appears first.",
            code="ambiguous_send",
        )
    if isinstance(err, MailConnectionError):
        return MailToolError(
            f"Could not reach the mail server ({err}). Nothing was changed; try again in a minute.",
            code="connection",
        )
    if isinstance(err, InvalidRequestError):
        return MailToolError(
            f"Invalid input: {err}. Fix the argument and call the tool again.", code="invalid"
        )
    if isinstance(err, RateLimitError):
        when = f"after {err.retry_after:.0f} seconds" if err.retry_after else "in a minute"
        return MailToolError(
            f"The mail server is rate limiting this mailbox ({_what(err)}). Nothing was sent; retry {when}.",
            code="rate_limited",
            retry_after=err.retry_after,
        )
    if isinstance(err, NotFoundError):
        return MailToolError(
            f"Not found: {_what(err)}. The id is wrong or belongs to another mailbox; find ids with "
            "list_threads or search_messages.",
            code="not_found",
        )
    if isinstance(err, PayloadTooLargeError):
        return MailToolError(
            f"Too large: {_what(err)}. Send less content or fewer attachments.", code="too_large"
        )
    if isinstance(err, BadRequestError):
        text = _what(err)
        hint = ""
        if "suppress" in text.lower():
            hint = " That address is on the suppression list: do not write to it again."
        return MailToolError(f"The mail server refused the request: {text}.{hint}", code="bad_request")
    if isinstance(err, ConflictError):
        return MailToolError(f"Conflict: {_what(err)}. Choose another name.", code="conflict")
    if isinstance(err, AuthenticationError | PermissionDeniedError | PaymentRequiredError):
        return MailToolError(
            f"Not permitted: {_what(err)}. This agent's API key cannot do this; ask a person.",
            code="not_permitted",
        )
    if isinstance(err, APIStatusError):
        return MailToolError(
            f"The mail server failed ({err.status_code}: {_what(err)}). Try again later.", code="server_error"
        )
    if isinstance(err, MailError):
        return MailToolError(f"Mail error: {err}", code="error")
    msg = f"unexpected error type {type(err).__name__}"
    raise TypeError(msg) from err


# --------------------------------------------------------------------------- drivers


def _resolve(obj: Any, method: str) -> Any:
    for part in method.split("."):
        obj = getattr(obj, part)
    return obj


def _sync_target(ctx: MailContext, call: Call) -> Any:
    if call.target == "client":
        if ctx.client is None:
            msg = "This toolkit has only an async mail client: call the tool with ainvoke / arun."
            raise MailToolError(msg, code="sync_unavailable")
        return ctx.client
    if call.target == "guard":
        guard = ctx.guard_factory() if ctx.guard_factory is not None else None
        if guard is None:
            msg = "This toolkit has only an async send guard: call the tool with ainvoke / arun."
            raise MailToolError(msg, code="sync_unavailable")
        return guard
    return ctx.search


def _drive(plan: Plan, execute: Callable[[Call], Any]) -> ToolResult:
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            call = plan.send(value) if error is None else plan.throw(error)
        except StopIteration as stop:
            result: ToolResult = stop.value
            return result
        except MailError as err:
            raise to_tool_error(err) from err
        try:
            value, error = execute(call), None
        except MailToolError:
            raise
        except MailError as err:
            value, error = None, err


def run_sync(op: Operation, ctx: MailContext, args: BaseModel) -> ToolResult:
    """Run ``op`` with the sync client and guard."""
    return _drive(
        op.plan(ctx, args),
        lambda call: _resolve(_sync_target(ctx, call), call.method)(*call.args, **call.kwargs),
    )


async def run_async(op: Operation, ctx: MailContext, args: BaseModel) -> ToolResult:
    """Run ``op`` natively with the async client and guard (sync ones in a thread as fallback)."""
    plan = op.plan(ctx, args)
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            call = plan.send(value) if error is None else plan.throw(error)
        except StopIteration as stop:
            result: ToolResult = stop.value
            return result
        except MailError as err:
            raise to_tool_error(err) from err
        try:
            value, error = await _execute_async(ctx, call), None
        except MailToolError:
            raise
        except MailError as err:
            value, error = None, err


async def _execute_async(ctx: MailContext, call: Call) -> Any:
    if call.target == "client":
        target = ctx.async_client
        if target is None:
            if ctx.client is None:
                msg = "No mail client is configured."
                raise MailToolError(msg, code="unavailable")
            return await asyncio.to_thread(_resolve(ctx.client, call.method), *call.args, **call.kwargs)
    elif call.target == "guard":
        target = ctx.async_guard_factory() if ctx.async_guard_factory is not None else None
        if target is None:
            sync_guard = _sync_target(ctx, call)
            return await asyncio.to_thread(_resolve(sync_guard, call.method), *call.args, **call.kwargs)
    else:
        target = ctx.search
        asearch = getattr(target, "asearch", None)
        if asearch is not None and call.method == "search":
            return await asearch(*call.args, **call.kwargs)
        return await asyncio.to_thread(_resolve(target, call.method), *call.args, **call.kwargs)
    out = _resolve(target, call.method)(*call.args, **call.kwargs)
    return await out if inspect.isawaitable(out) else out


# --------------------------------------------------------------------------- args


def _listify(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
    return value


Addresses = Annotated[list[str], BeforeValidator(_listify)]
_ID = Field(min_length=1, max_length=200)


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SendEmailArgs(_Args):
    """Arguments of ``send_email``."""

    to: Addresses = Field(
        min_length=1, max_length=50, description='Recipient email addresses, e.g. ["ann@example.com"].'
    )
    subject: str = Field(min_length=1, max_length=998, description="Subject line (one line, no newlines).")
    body: str = Field(min_length=1, description="Plain-text body of the email.")
    cc: Addresses = Field(default_factory=list, max_length=50, description="Optional CC addresses.")

    @field_validator("subject")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value or "\r" in value:
            msg = "subject must be a single line"
            raise ValueError(msg)
        return value


class ReplyArgs(_Args):
    """Arguments of ``reply_to_message``."""

    message_id: str = Field(
        min_length=1,
        max_length=200,
        description="message_id of the message you are answering (from read_thread, get_message or search_messages).",
    )
    body: str = Field(min_length=1, description="Plain-text body of your reply (do not quote the original).")
    reply_all: bool = Field(
        default=False, description="Also reply to everyone in To/Cc of that message, not only its sender."
    )


class ReadThreadArgs(_Args):
    """Arguments of ``read_thread``."""

    thread_id: str = Field(
        min_length=1, max_length=200, description="thread_id from list_threads or search results."
    )
    up_to: int | None = Field(
        default=None,
        ge=1,
        description="Optional: show the thread only up to this message number (1 = oldest), to page back "
        "through long threads. Omit to read the latest messages.",
    )


def _to_datetime(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, time.min, tzinfo=UTC)
    if isinstance(value, str) and len(value.strip()) == 10:
        return datetime.combine(date.fromisoformat(value.strip()), time.min, tzinfo=UTC)
    return value


class SearchArgs(_Args):
    """Arguments of ``search_messages``."""

    query: str = Field(min_length=1, max_length=500, description="Words to look for in subjects and bodies.")
    thread_id: str | None = Field(default=None, description="Only messages in this thread.")
    sender: str | None = Field(
        default=None, description='Only messages from this address (or domain, e.g. "example.com").'
    )
    direction: Literal["inbound", "outbound"] | None = Field(
        default=None, description='"inbound" for mail received, "outbound" for mail this mailbox sent.'
    )
    since: Annotated[datetime | None, BeforeValidator(_to_datetime)] = Field(
        default=None, description="Only messages on or after this date/time (ISO 8601, e.g. 2026-03-01)."
    )
    until: Annotated[datetime | None, BeforeValidator(_to_datetime)] = Field(
        default=None, description="Only messages before this date/time (ISO 8601)."
    )
    limit: int = Field(default=10, ge=1, le=25, description="How many results to return (1-25).")

    @field_validator("direction", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class ListThreadsArgs(_Args):
    """Arguments of ``list_threads``."""

    limit: int = Field(
        default=20, ge=1, le=50, description="How many threads to list, newest activity first (1-50)."
    )


class GetMessageArgs(_Args):
    """Arguments of ``get_message``."""

    message_id: str = Field(min_length=1, max_length=200, description="message_id to read in full.")


class GetAttachmentArgs(_Args):
    """Arguments of ``get_attachment``."""

    message_id: str = Field(
        min_length=1, max_length=200, description="message_id of the message carrying the attachment."
    )
    attachment_id: str = Field(
        min_length=1, max_length=200, description="attachment_id as listed by get_message or read_thread."
    )


class ListMailboxesArgs(_Args):
    """``list_mailboxes`` takes no arguments."""


class CreateMailboxArgs(_Args):
    """Arguments of ``create_mailbox``."""

    address: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-zA-Z0-9._-]+$",
        description="Local part of the new address (letters, digits, '.', '_', '-'), e.g. \"support\".",
    )
    display_name: str | None = Field(
        default=None, max_length=255, description='Optional display name, e.g. "Support".'
    )


# --------------------------------------------------------------------------- helpers


def _key(ctx: MailContext, action: str, *parts: str) -> str:
    from ..guards import idempotency_key

    # The same tool call repeated (a retrying agent) maps to the same key: sent once.
    digest = hashlib.sha256("\x1f".join((ctx.mailbox_id, *parts)).encode()).hexdigest()[:32]
    return idempotency_key(f"tool-{digest}", action)


def _sent_text(message: Any, what: str) -> str:
    to = ", ".join(message.to_addresses or [])
    return (
        f"{what}: message_id={message.id} thread_id={message.thread_id or '?'} to {to} "
        f"status {message.status or 'SENT'}."
    )


# --------------------------------------------------------------------------- operations


@operation(
    "send_email",
    "Start a NEW email conversation. Only use this when no existing thread fits: to answer "
    "an email use reply_to_message instead. Sends are checked by safety rules (allowed "
    "recipients, rate limits) and may be refused with a reason.",
    SendEmailArgs,
    sends=True,
)
def _send_email(ctx: MailContext, args: SendEmailArgs) -> Plan:
    if not ctx.allow_new_conversations:
        msg = (
            "Starting new conversations is not allowed for this agent. To answer someone, use "
            "reply_to_message with the message_id of their email."
        )
        raise MailToolError(msg, code="new_conversation_not_allowed")
    message = yield Call(
        "guard",
        "send",
        (ctx.mailbox_id,),
        {
            "to": list(args.to),
            "cc": list(args.cc) or None,
            "subject": args.subject,
            "body_text": args.body,
            "idempotency_key": _key(
                ctx, "send", ",".join(args.to), ",".join(args.cc), args.subject, args.body
            ),
        },
    )
    return ToolResult(_sent_text(message, "Sent a new email"), message)


@operation(
    "reply_to_message",
    "Reply to an email in its existing thread (the reply is linked to the original so it "
    "stays in the same conversation). Goes to the sender, or to everyone with reply_all. "
    "Safety rules may refuse it with a reason.",
    ReplyArgs,
    sends=True,
)
def _reply(ctx: MailContext, args: ReplyArgs) -> Plan:
    original = yield Call("client", "messages.get", (ctx.mailbox_id, args.message_id))
    reply = yield Call(
        "guard",
        "reply",
        (ctx.mailbox_id, original),
        {
            "body_text": args.body,
            "reply_all": args.reply_all,
            "idempotency_key": _key(ctx, "reply", original.id, str(args.reply_all), args.body),
        },
    )
    return ToolResult(_sent_text(reply, f"Replied to message_id={original.id}"), reply)


@operation(
    "read_thread",
    "Read an email conversation: the newest messages in full, older ones condensed, with "
    "instructions to page back. Use it before replying.",
    ReadThreadArgs,
)
def _read_thread(ctx: MailContext, args: ReadThreadArgs) -> Plan:
    thread = yield Call("client", "threads.get", (ctx.mailbox_id, args.thread_id))
    text = render_thread(thread, ctx.budget_tokens, model=ctx.model, up_to=args.up_to)
    return ToolResult(text, thread)


def _hit_dict(hit: Any) -> dict[str, Any]:
    """Normalise a SearchHit or a MessageSearch match into one shape."""
    return {
        "message_id": getattr(hit, "message_id", None) or getattr(hit, "id", ""),
        "thread_id": getattr(hit, "thread_id", None),
        "score": float(getattr(hit, "score", 0.0) or 0.0),
        "snippet": getattr(hit, "snippet", "") or getattr(hit, "text", "") or "",
        "subject": getattr(hit, "subject", "") or "",
        "from": getattr(hit, "from_", None)
        or getattr(hit, "sender", None)
        or getattr(hit, "from_address", "")
        or "",
        "created_at": getattr(hit, "created_at", None),
        "direction": getattr(hit, "direction", None),
    }


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _matches(hit: dict[str, Any], args: SearchArgs, *, lenient: bool = False) -> bool:
    """Apply the filters to one hit.

    ``lenient`` is for a pluggable ``MessageSearch``, which filters itself: a field the
    hit does not carry is then trusted rather than counted as a mismatch.
    """
    if args.thread_id and (hit["thread_id"] or not lenient) and hit["thread_id"] != args.thread_id:
        return False
    if args.sender and (hit["from"] or not lenient):
        sender = (hit["from"] or "").lower()
        wanted = args.sender.lower().lstrip("@")
        if not (
            sender == wanted
            or sender.endswith("@" + wanted)
            or f"<{wanted}>" in sender
            or sender.endswith(f"@{wanted}>")
        ):
            return False
    if args.direction and hit.get("direction") and hit["direction"].lower() != args.direction:
        return False
    created = _aware(hit["created_at"])
    if created is None:
        return lenient or not (args.since or args.until)
    if args.since and created < _aware(args.since):  # type: ignore[operator]
        return False
    return not (args.until and created >= _aware(args.until))  # type: ignore[operator]


def _message_hit(message: Any, query_terms: Sequence[str]) -> dict[str, Any] | None:
    haystack = f"{message.subject}\n{message.body_text}".lower()
    score = sum(haystack.count(term) for term in query_terms)
    if not score:
        return None
    body = " ".join((message.body_text or "").split())
    first = min((body.lower().find(t) for t in query_terms if t in body.lower()), default=0)
    start = max(0, first - 60)
    return {
        "message_id": message.id,
        "thread_id": message.thread_id,
        "score": float(score),
        "snippet": ("…" if start else "") + body[start : start + 200],
        "subject": message.subject,
        "from": message.from_address,
        "created_at": message.created_at,
        "direction": message.direction,
    }


def _scan(ctx: MailContext, args: SearchArgs) -> Generator[Call, Any, list[dict[str, Any]]]:
    """Keyword-scan the newest messages: the fallback where the backend cannot search."""
    terms = [t for t in args.query.lower().split() if t]
    hits: list[dict[str, Any]] = []
    offset = 0
    while offset < _SCAN_LIMIT:
        page = yield Call(
            "client",
            "messages.list",
            (ctx.mailbox_id,),
            {
                "direction": args.direction.upper() if args.direction else None,
                "thread_id": args.thread_id,
                "since": args.since,
                "limit": 100,
                "offset": offset,
            },
        )
        batch = list(page.messages)
        for message in batch:
            hit = _message_hit(message, terms)
            if hit is not None and _matches(hit, args):
                hits.append(hit)
        if len(batch) < 100:
            break
        offset += len(batch)
    hits.sort(key=lambda h: -h["score"])
    return hits


@operation(
    "search_messages",
    "Search this mailbox's emails by words, optionally filtered by thread, sender, "
    "direction and dates. Returns message_ids and thread_ids to read next.",
    SearchArgs,
)
def _search(ctx: MailContext, args: SearchArgs) -> Plan:
    filtered = bool(args.thread_id or args.sender or args.direction or args.since or args.until)
    hits: list[dict[str, Any]] = []
    if ctx.search is not None:
        matches = yield Call(
            "search",
            "search",
            (ctx.mailbox_id, args.query),
            {
                "limit": args.limit,
                "thread_id": args.thread_id,
                "sender": args.sender,
                "direction": args.direction.upper() if args.direction else None,
                "since": args.since,
                "until": args.until,
            },
        )
        hits = [h for h in map(_hit_dict, matches) if _matches(h, args, lenient=True)]
        source = "semantic + keyword search"
    else:
        try:
            # Over-fetch when filtering client-side so the filters still leave `limit` hits.
            results = yield Call(
                "client",
                "messages.search",
                (ctx.mailbox_id, args.query),
                {"limit": min(100, args.limit * 5) if filtered else args.limit},
            )
        except NotFoundError:
            results = None  # the hosted API has no search route
        if results is not None:
            hits = [_hit_dict(h) for h in results.hits]
            source = "full-text search"
            if args.direction:
                # Search hits do not carry the direction; look it up for the few candidates.
                for hit in hits[: args.limit * 5]:
                    message = yield Call("client", "messages.get", (ctx.mailbox_id, hit["message_id"]))
                    hit["direction"] = message.direction
            hits = [h for h in hits if _matches(h, args)]
        else:
            hits = yield from _scan(ctx, args)
            source = f"keyword scan of the newest {_SCAN_LIMIT} messages (the server has no search)"
    hits = hits[: args.limit]
    text = render_search_results(
        hits, query=args.query, source=source, budget_tokens=ctx.budget_tokens, model=ctx.model
    )
    return ToolResult(text, hits)


@operation(
    "list_threads",
    "List the conversations in this mailbox, newest activity first, with their thread_ids.",
    ListThreadsArgs,
)
def _list_threads(ctx: MailContext, args: ListThreadsArgs) -> Plan:
    threads = yield Call("client", "threads.list", (ctx.mailbox_id,))
    threads = list(threads)[: args.limit]
    return ToolResult(render_threads(threads, budget_tokens=ctx.budget_tokens, model=ctx.model), threads)


@operation(
    "get_message",
    "Read one email in full (headers, body, list of attachments with their attachment_ids).",
    GetMessageArgs,
)
def _get_message(ctx: MailContext, args: GetMessageArgs) -> Plan:
    message = yield Call("client", "messages.get", (ctx.mailbox_id, args.message_id))
    text = f"{UNTRUSTED_NOTE}\n" + render_message(message, strip=False)
    budget = ctx.budget_tokens
    if count_tokens(text, ctx.model) > budget:
        text = f"{UNTRUSTED_NOTE}\n" + render_message(
            message,
            strip=False,
            budget_tokens=budget - count_tokens(UNTRUSTED_NOTE, ctx.model) - 2,
            model=ctx.model,
        )
    return ToolResult(text, message)


@operation(
    "get_attachment",
    "Read the text of an email attachment (plain text, HTML, PDF or Word .docx). Other "
    "file types are described but not read.",
    GetAttachmentArgs,
)
def _get_attachment(ctx: MailContext, args: GetAttachmentArgs) -> Plan:
    message = yield Call("client", "messages.get", (ctx.mailbox_id, args.message_id))
    # Only attachments of a message in this mailbox: attachment ids are account-wide.
    listed = {a.id: a for a in message.attachments or []}
    if args.attachment_id not in listed:
        names = ", ".join(f"{a.id} ({a.filename})" for a in listed.values()) or "none"
        msg = f"Message {message.id} has no attachment {args.attachment_id!r}. Its attachments: {names}."
        raise MailToolError(msg, code="not_found")
    attachment = listed[args.attachment_id]
    kind = kind_of(attachment.content_type, attachment.filename)
    if kind == "unsupported":
        note = (
            f"This is a {attachment.content_type} file; its content cannot be shown as text "
            "(only text, HTML, PDF and DOCX are read)."
        )
        return ToolResult(
            render_attachment_text(attachment, "", note), {"attachment": attachment, "text": ""}
        )
    if attachment.size_bytes > ctx.max_attachment_bytes:
        msg = (
            f"The attachment is too large to read ({attachment.size_bytes} bytes; the limit is "
            f"{ctx.max_attachment_bytes}). Ask the sender for the relevant part as text."
        )
        raise MailToolError(msg, code="too_large")
    data = yield Call("client", "attachments.download", (attachment.id,))
    if len(data) > ctx.max_attachment_bytes:
        msg = f"The attachment is too large to read ({len(data)} bytes; the limit is {ctx.max_attachment_bytes})."
        raise MailToolError(msg, code="too_large")
    extracted = extract_text(data, attachment.content_type, attachment.filename)
    note = extracted.note
    head_cost = count_tokens(render_attachment_text(attachment, "x", note + " [cut]"), ctx.model) + 40
    room = max(0, ctx.budget_tokens - head_cost)
    text = extracted.text
    if count_tokens(text, ctx.model) > room or extracted.truncated:
        text = truncate_to_tokens(text, room, ctx.model)
        note += " The text was cut to fit; ask for a specific part if you need more."
    content = render_attachment_text(attachment, text, note)
    return ToolResult(content, {"attachment": attachment, "text": extracted.text, "kind": extracted.kind})


@operation("list_mailboxes", "List the mailboxes (email addresses) this account owns.", ListMailboxesArgs)
def _list_mailboxes(ctx: MailContext, args: ListMailboxesArgs) -> Plan:
    mailboxes = yield Call("client", "mailboxes.list")
    mailboxes = list(mailboxes)
    return ToolResult(
        render_mailboxes(mailboxes, budget_tokens=ctx.budget_tokens, model=ctx.model), mailboxes
    )


@operation(
    "create_mailbox",
    "Create a new mailbox (a new email address on this account).",
    CreateMailboxArgs,
)
def _create_mailbox(ctx: MailContext, args: CreateMailboxArgs) -> Plan:
    mailbox = yield Call("client", "mailboxes.create", (args.address,), {"display_name": args.display_name})
    return ToolResult(
        f"Created mailbox_id={mailbox.id} with address {mailbox.full_address or mailbox.address}.", mailbox
    )
