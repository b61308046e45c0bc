"""Pin each package's public surface: a change to ``__all__`` must be deliberate."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import agentmail_tools

AGENTMAIL_TOOLS_ALL = [
    "APIStatusError",
    "Account",
    "AmbiguousSendError",
    "ApiKey",
    "AsyncEventStream",
    "AsyncMailClient",
    "Attachment",
    "AttachmentUpload",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "CreatedApiKey",
    "DnsRecord",
    "DnsRecords",
    "Domain",
    "DomainVerification",
    "DomainVerificationResult",
    "DomainWithRecords",
    "EventAttachment",
    "EventEnvelope",
    "EventStream",
    "InternalServerError",
    "InvalidRequestError",
    "ListMetadata",
    "MailClient",
    "MailConnectionError",
    "MailError",
    "MailTimeoutError",
    "Mailbox",
    "Message",
    "MessagePage",
    "MessageReceivedData",
    "MessageSearch",
    "NOT_GIVEN",
    "NotFoundError",
    "NotGiven",
    "PayloadTooLargeError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "Sandbox",
    "SearchHit",
    "SearchResults",
    "StreamEvent",
    "Suppression",
    "Thread",
    "ThreadDetail",
    "Webhook",
    "WebhookDelivery",
    "count_tokens",
    "sign_webhook",
    "truncate_to_tokens",
    "verify_webhook",
]


def test_agentmail_tools_all_is_pinned_and_sorted() -> None:
    assert agentmail_tools.__all__ == AGENTMAIL_TOOLS_ALL
    assert agentmail_tools.__all__ == sorted(agentmail_tools.__all__)


def test_every_exported_name_resolves() -> None:
    for name in agentmail_tools.__all__:
        value = getattr(agentmail_tools, name)
        assert value is not None
        module = getattr(value, "__module__", "agentmail_tools._types")
        assert module.startswith("agentmail_tools"), (name, module)
    assert set(agentmail_tools.__all__) <= set(dir(agentmail_tools))


def test_unknown_attribute_raises_attribute_error() -> None:
    try:
        agentmail_tools.NoSuchThing  # noqa: B018
    except AttributeError as err:
        assert "NoSuchThing" in str(err)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def _loaded_after(statement: str, modules: list[str]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has loaded after running ``statement``."""
    code = f"import sys\n{statement}\nprint(','.join(m for m in {modules!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [m for m in result.stdout.strip().split(",") if m]


HEAVY = ["crewai", "chromadb", "langchain", "langchain_core", "starlette", "uvicorn", "aiosmtpd"]


def test_import_is_light() -> None:
    """``import agentmail_tools`` loads no framework, server or even the HTTP stack (timing: bench/)."""
    assert _loaded_after("import agentmail_tools", [*HEAVY, "httpx", "pydantic"]) == []
    # the client itself needs httpx and pydantic, still nothing heavy
    assert _loaded_after("from agentmail_tools import MailClient, Message", HEAVY) == []


# The other public packages: each __all__ pinned here, in one place (the packages' own test
# files check what is particular to them: sort order, light imports, protocols).
SUBPACKAGE_ALL = {
    "agentmail_tools.sandbox": [
        "AsyncASGITransport",
        "DEFAULT_DOMAIN",
        "Sandbox",
        "SandboxLimits",
        "SandboxServer",
        "SyncASGITransport",
    ],
    "agentmail_tools.inbound": [
        "AsyncPoller",
        "AsyncSSEListener",
        "DeadLetter",
        "EventSource",
        "InboundEvent",
        "InboundQueue",
        "InvalidEventError",
        "ItemState",
        "Lease",
        "ListenerStats",
        "Poller",
        "QueueItem",
        "QueueStats",
        "SQLiteQueue",
        "SSEListener",
        "WebhookReceiver",
    ],
    "agentmail_tools.guards": [
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
    ],
    "agentmail_tools.tools": [
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
    ],
    "retrieval": [
        "BM25",
        "SHARED",
        "BuiltContext",
        "ContextBuilder",
        "DocChunk",
        "Embedder",
        "ExtractiveSummarizer",
        "Hit",
        "HybridSearch",
        "IndexStats",
        "LLMSummarizer",
        "MailIndex",
        "MailRetriever",
        "MiniLMEmbeddingFunction",
        "SearchResult",
        "Section",
        "Summarizer",
        "SyncProgress",
        "SyncResult",
        "ThreadSummaries",
        "ThreadSummary",
        "apply_event",
        "as_embedder",
        "as_langchain_embeddings",
        "async_sync_mailbox",
        "build_query",
        "chunk_document",
        "chunk_text",
        "count_tokens",
        "default_embedding_function",
        "follow_events",
        "openai_embedding_function",
        "reciprocal_rank_fusion",
        "strip_quoted",
        "sync_mailbox",
        "truncate_to_tokens",
    ],
    "crews": [
        "ConfigError",
        "CrewFailed",
        "EmailAgent",
        "EmailAgentFlow",
        "EmailFlowState",
        "EscalationRule",
        "EvalReport",
        "FlowResult",
        "InboxRun",
        "MailboxConfig",
        "MeteredLLM",
        "ModelUnavailable",
        "OfflineLLM",
        "Persona",
        "PolicyCrew",
        "PolicyDecision",
        "PolicyRules",
        "ReplyCrew",
        "ReplyDraft",
        "ReviewCrew",
        "ReviewError",
        "ReviewItem",
        "ReviewQueue",
        "ReviewResult",
        "RunStats",
        "ScriptedLLM",
        "TopicRule",
        "TriageCrew",
        "TriageResult",
        "Worker",
        "WorkerStats",
        "default_llm",
        "guard_policy_for",
        "is_offline",
        "kickoff_crew",
        "load_config",
        "run_eval",
        "run_inbox",
    ],
}


@pytest.mark.parametrize("package", sorted(SUBPACKAGE_ALL))
def test_subpackage_all_is_pinned_and_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__ == SUBPACKAGE_ALL[package]
    assert len(set(module.__all__)) == len(module.__all__)
    for name in module.__all__:
        assert getattr(module, name) is not None, name


def test_upper_packages_import_lazily() -> None:
    assert _loaded_after("import retrieval, crews", ["crewai", "chromadb", "numpy", "langchain_core"]) == []
