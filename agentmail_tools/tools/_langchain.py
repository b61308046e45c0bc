"""LangChain adapter: one ``BaseTool`` per operation and the ``MailToolkit``."""

from __future__ import annotations

import inspect
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.tools import BaseTool, BaseToolkit
from pydantic import ConfigDict, Field, PrivateAttr, ValidationError

from .._types import MessageSearch
from ._operations import OPERATIONS, MailContext, Operation, run_async, run_sync

__all__ = [
    "CreateMailboxTool",
    "GetAttachmentTool",
    "GetMessageTool",
    "ListMailboxesTool",
    "ListThreadsTool",
    "MailTool",
    "MailToolkit",
    "ReadThreadTool",
    "ReplyToMessageTool",
    "SearchMessagesTool",
    "SendEmailTool",
    "readable_validation_error",
]


def readable_validation_error(err: ValidationError | Exception) -> str:
    """Turn a pydantic error into one line per problem, naming the argument."""
    if not isinstance(err, ValidationError):
        return f"Invalid arguments: {err}"
    problems = []
    for item in err.errors():
        where = ".".join(str(p) for p in item.get("loc", ())) or "arguments"
        problems.append(f"{where}: {item.get('msg', 'invalid')}")
    return (
        "Invalid arguments, nothing was done. " + "; ".join(problems) + ". Fix them and call the tool again."
    )


class MailTool(BaseTool):
    """Base of the mail tools: runs one framework-neutral operation.

    Returns ``(content, artifact)``: compact labelled text for the model and the typed
    objects (``Message``, ``ThreadDetail``, ...) for code.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    operation_name: ClassVar[str] = ""
    # Filled from the operation in __init__ (one definition per tool, shared with CrewAI).
    name: str = ""
    description: str = ""
    context: MailContext = Field(exclude=True)
    response_format: str = "content_and_artifact"  # type: ignore[assignment]
    handle_tool_error: bool | str | Callable[..., str] | None = True
    handle_validation_error: bool | str | Callable[..., str] | None = readable_validation_error

    def __init__(self, **kwargs: Any) -> None:
        op = OPERATIONS[self.operation_name]
        kwargs["name"] = kwargs.get("name") or op.name
        kwargs["description"] = kwargs.get("description") or op.description
        kwargs.setdefault("args_schema", op.args_schema)
        super().__init__(**kwargs)

    @property
    def operation(self) -> Operation:
        """The framework-neutral definition this tool runs."""
        return OPERATIONS[self.operation_name]

    def _run(self, run_manager: CallbackManagerForToolRun | None = None, **kwargs: Any) -> tuple[str, Any]:
        op = self.operation
        result = run_sync(op, self.context, op.args_schema.model_validate(kwargs))
        return result.content, result.artifact

    async def _arun(
        self, run_manager: AsyncCallbackManagerForToolRun | None = None, **kwargs: Any
    ) -> tuple[str, Any]:
        op = self.operation
        result = await run_async(op, self.context, op.args_schema.model_validate(kwargs))
        return result.content, result.artifact


class SendEmailTool(MailTool):
    """Start a new conversation (only when the toolkit allows new conversations)."""

    operation_name: ClassVar[str] = "send_email"


class ReplyToMessageTool(MailTool):
    """Reply in the same thread (``inReplyTo`` = the original's RFC Message-ID)."""

    operation_name: ClassVar[str] = "reply_to_message"


class ReadThreadTool(MailTool):
    """Read a thread within the token budget."""

    operation_name: ClassVar[str] = "read_thread"


class SearchMessagesTool(MailTool):
    """Search the mailbox (backend full-text search or a pluggable ``MessageSearch``)."""

    operation_name: ClassVar[str] = "search_messages"


class ListThreadsTool(MailTool):
    """List threads, newest activity first."""

    operation_name: ClassVar[str] = "list_threads"


class GetMessageTool(MailTool):
    """Read one message in full."""

    operation_name: ClassVar[str] = "get_message"


class GetAttachmentTool(MailTool):
    """Read an attachment's text (text, HTML, PDF, DOCX), size-capped."""

    operation_name: ClassVar[str] = "get_attachment"


class ListMailboxesTool(MailTool):
    """List the account's mailboxes."""

    operation_name: ClassVar[str] = "list_mailboxes"


class CreateMailboxTool(MailTool):
    """Create a mailbox."""

    operation_name: ClassVar[str] = "create_mailbox"


_TOOL_CLASSES: tuple[type[MailTool], ...] = (
    ReplyToMessageTool,
    ReadThreadTool,
    SearchMessagesTool,
    ListThreadsTool,
    GetMessageTool,
    GetAttachmentTool,
    ListMailboxesTool,
    CreateMailboxTool,
)


def _is_async(obj: Any, probe: str) -> bool:
    try:
        target = obj
        for part in probe.split("."):
            target = getattr(target, part)
    except AttributeError:
        return False
    return inspect.iscoroutinefunction(target)


class MailToolkit(BaseToolkit):
    """Email tools for an agent that owns one mailbox.

    Every send goes through a send guard (``agentmail_tools.guards``): pass your own
    ``guard`` (a ``MailGuard`` or ``AsyncMailGuard`` with your policy and state file), or
    the toolkit builds an in-memory one whose policy allows new conversations exactly
    when ``allow_new_conversations`` is true. Refusals and server errors reach the model
    as tool errors it can act on.

    Setup:
        .. code-block:: python

            from agentmail_tools.sandbox import Sandbox
            from agentmail_tools.tools import MailToolkit

            sandbox = Sandbox()
            client = sandbox.client()
            mailbox = client.mailboxes.create("support")

    Instantiate:
        .. code-block:: python

            toolkit = MailToolkit(client, mailbox_id=mailbox.id, budget_tokens=2000)
            tools = toolkit.get_tools()  # LangChain BaseTools
            crew_tools = toolkit.get_crewai_tools()  # same operations as CrewAI tools

    Use:
        .. code-block:: python

            read = next(t for t in tools if t.name == "read_thread")
            read.invoke({"thread_id": thread_id})  # budgeted, labelled text

    Async (native, through ``AsyncMailClient``):
        .. code-block:: python

            toolkit = MailToolkit(sandbox.async_client(), mailbox_id=mailbox.id)
            await read.ainvoke({"thread_id": thread_id})

    Args:
        client: A ``MailClient`` or an ``AsyncMailClient``.
        mailbox_id: The mailbox the tools read from and send as.
        search: Optional ``MessageSearch`` (e.g. ``retrieval.HybridSearch``); default:
            the backend's full-text search, else a keyword scan.
        guard: Optional ``MailGuard`` or ``AsyncMailGuard`` (your policy and state).
        async_guard: Optional ``AsyncMailGuard`` when ``guard`` is the sync one.
        guard_state_path: SQLite file for the default guards' state (rate buckets,
            reply counters, idempotency records); default in memory, or a private
            temporary file shared by the sync and async guards when both clients are given.
        budget_tokens: Cap on each tool's text output (tiktoken, offline).
        allow_new_conversations: Offer ``send_email`` and let the default guard start threads.
        async_client: The async twin when ``client`` is sync (enables native ``_arun``).
        model: Model name for token counting (``None``: cl100k_base).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    client: Any = None
    mailbox_id: str
    search: MessageSearch | None = None
    guard: Any = None
    async_guard: Any = None
    guard_state_path: str | None = None
    budget_tokens: int = Field(default=2000, ge=200)
    allow_new_conversations: bool = False
    async_client: Any = None
    model: str | None = None
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    handle_tool_error: bool = True

    _context: MailContext = PrivateAttr()
    _guards: dict[str, Any] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _state_dir: str | None = PrivateAttr(default=None)
    _supplied: set[str] = PrivateAttr(default_factory=set)
    _closed: bool = PrivateAttr(default=False)

    def __init__(self, client: Any = None, /, **kwargs: Any) -> None:
        if client is not None:
            kwargs["client"] = client
        super().__init__(**kwargs)
        from .._validation import check_id

        check_id(self.mailbox_id, "mailbox_id")
        sync_client, async_client = self.client, self.async_client
        if sync_client is not None and _is_async(sync_client, "messages.get"):
            sync_client, async_client = None, async_client or sync_client
        if sync_client is None and async_client is None:
            msg = "MailToolkit needs a MailClient or an AsyncMailClient"
            raise ValueError(msg)
        for given in (self.guard, self.async_guard):
            if given is not None:
                kind = "async" if _is_async(given, "send") else "sync"
                self._guards[kind] = given
                self._supplied.add(kind)
        if self.guard_state_path is None and sync_client is not None and async_client is not None:
            if not self._guards:
                # Two default guards (sync and async) must share rate buckets, reply
                # counters and idempotency records, or a retried send could go out twice.
                self._state_dir = tempfile.mkdtemp(prefix="agentmail-guard-")
                weakref.finalize(self, shutil.rmtree, self._state_dir, True)
        self._context = MailContext(
            mailbox_id=self.mailbox_id,
            client=sync_client,
            async_client=async_client,
            search=self.search,
            guard_factory=self._sync_guard if sync_client is not None or "sync" in self._guards else None,
            async_guard_factory=self._async_guard
            if async_client is not None or "async" in self._guards
            else None,
            budget_tokens=self.budget_tokens,
            allow_new_conversations=self.allow_new_conversations,
            model=self.model,
            max_attachment_bytes=self.max_attachment_bytes,
        )

    @property
    def context(self) -> MailContext:
        """The shared context every tool of this toolkit runs with."""
        return self._context

    def _policy(self) -> Any:
        from ..guards import GuardPolicy

        return GuardPolicy(allow_new_conversations=self.allow_new_conversations)

    def _state_path(self) -> str | None:
        if self.guard_state_path is not None:
            return self.guard_state_path
        if self._state_dir is not None:
            return os.path.join(self._state_dir, "guard.sqlite3")
        return None

    def _check_open(self) -> None:
        if self._closed:
            # A fresh default guard would forget suppressions, rate buckets and sends in flight.
            msg = "this MailToolkit was closed (its guard state with it); build a new toolkit"
            raise RuntimeError(msg)

    def _sync_guard(self) -> Any:
        self._check_open()
        with self._lock:
            if "sync" not in self._guards:
                if self._context.client is None or "async" in self._supplied:
                    return None
                from ..guards import MailGuard

                self._guards["sync"] = MailGuard(
                    self._context.client, policy=self._policy(), state_path=self._state_path()
                )
            return self._guards["sync"]

    def _async_guard(self) -> Any:
        self._check_open()
        with self._lock:
            if "async" not in self._guards:
                if self._context.async_client is None or "sync" in self._supplied:
                    # A user-supplied sync guard holds the state; reuse it rather than
                    # starting a second, independent rate limiter.
                    return None
                from ..guards import AsyncMailGuard

                self._guards["async"] = AsyncMailGuard(
                    self._context.async_client, policy=self._policy(), state_path=self._state_path()
                )
            return self._guards["async"]

    def get_tools(self) -> list[BaseTool]:  # type: ignore[override]
        """The LangChain tools; ``send_email`` only when new conversations are allowed."""
        classes = ((SendEmailTool,) if self.allow_new_conversations else ()) + _TOOL_CLASSES
        return [cls(context=self._context, handle_tool_error=self.handle_tool_error) for cls in classes]

    def get_tool(self, name: str) -> BaseTool:
        """One tool by name (``"read_thread"``, ``"reply_to_message"``, ...)."""
        for tool in self.get_tools():
            if tool.name == name:
                return tool
        names = ", ".join(t.name for t in self.get_tools())
        msg = f"no tool {name!r} in this toolkit; it has: {names}"
        raise KeyError(msg)

    def get_guard(self) -> Any:
        """The guard the sync tools send through (yours, or the default built on first use).

        Use it to add local suppressions, read the decision state or check a message with
        ``should_answer`` before handing it to the model. With only an async client, the
        ``AsyncMailGuard``.
        """
        return self._sync_guard() or self._async_guard()

    def close(self) -> None:
        """Close the guards this toolkit built (a guard you passed in stays open).

        The toolkit cannot send afterwards: its tools refuse rather than start over with an
        empty guard (no suppressions, no rate buckets, no record of sends in flight).
        """
        with self._lock:
            self._closed = True
            built = [g for kind, g in self._guards.items() if kind not in self._supplied]
        for guard in built:
            guard.close()

    def get_crewai_tools(self) -> list[Any]:
        """The same operations as CrewAI tools (imports CrewAI on first call)."""
        from ._crewai import crewai_tools

        names = [t.name for t in self.get_tools()]
        return crewai_tools(self._context, names)
