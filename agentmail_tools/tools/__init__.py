"""Email tools for agents: LangChain tools (and the same operations as CrewAI tools).

``import agentmail_tools.tools`` imports LangChain core but never CrewAI; the CrewAI
adapter is loaded by :meth:`MailToolkit.get_crewai_tools`.
"""

from ._extract import ExtractedText, extract_text
from ._langchain import (
    CreateMailboxTool,
    GetAttachmentTool,
    GetMessageTool,
    ListMailboxesTool,
    ListThreadsTool,
    MailTool,
    MailToolkit,
    ReadThreadTool,
    ReplyToMessageTool,
    SearchMessagesTool,
    SendEmailTool,
)
from ._operations import OPERATIONS, MailContext, MailToolError, Operation, ToolResult, run_async, run_sync
from ._render import UNTRUSTED_NOTE, render_message, render_thread, wrap_untrusted

__all__ = [
    "OPERATIONS",
    "UNTRUSTED_NOTE",
    "CreateMailboxTool",
    "ExtractedText",
    "GetAttachmentTool",
    "GetMessageTool",
    "ListMailboxesTool",
    "ListThreadsTool",
    "MailContext",
    "MailTool",
    "MailToolError",
    "MailToolkit",
    "Operation",
    "ReadThreadTool",
    "ReplyToMessageTool",
    "SearchMessagesTool",
    "SendEmailTool",
    "ToolResult",
    "extract_text",
    "render_message",
    "render_thread",
    "run_async",
    "run_sync",
    "wrap_untrusted",
]
