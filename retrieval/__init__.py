"""RAG over mail threads, documents and account notes in Chroma, offline by default.

Public names are imported lazily (on first attribute access) so that ``import retrieval``
does not import Chroma, NumPy or LangChain until something is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentmail_tools._quoting import strip_quoted
    from agentmail_tools._tokens import count_tokens, truncate_to_tokens

    from ._chunking import DocChunk, chunk_document, chunk_text
    from ._context import BuiltContext, ContextBuilder, Section
    from ._embeddings import (
        Embedder,
        MiniLMEmbeddingFunction,
        as_embedder,
        as_langchain_embeddings,
        default_embedding_function,
        openai_embedding_function,
    )
    from ._hybrid import BM25, HybridSearch, SearchResult, reciprocal_rank_fusion
    from ._index import SHARED, Hit, IndexStats, MailIndex
    from ._retriever import MailRetriever, build_query
    from ._summaries import ExtractiveSummarizer, LLMSummarizer, Summarizer, ThreadSummaries, ThreadSummary
    from ._sync import SyncProgress, SyncResult, apply_event, async_sync_mailbox, follow_events, sync_mailbox

__all__ = [
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
]

_WHERE: dict[str, str] = {
    "count_tokens": "agentmail_tools._tokens",
    "truncate_to_tokens": "agentmail_tools._tokens",
    "strip_quoted": "agentmail_tools._quoting",
    "DocChunk": "._chunking",
    "chunk_document": "._chunking",
    "chunk_text": "._chunking",
    "BuiltContext": "._context",
    "ContextBuilder": "._context",
    "Section": "._context",
    "Embedder": "._embeddings",
    "MiniLMEmbeddingFunction": "._embeddings",
    "as_embedder": "._embeddings",
    "as_langchain_embeddings": "._embeddings",
    "default_embedding_function": "._embeddings",
    "openai_embedding_function": "._embeddings",
    "BM25": "._hybrid",
    "HybridSearch": "._hybrid",
    "SearchResult": "._hybrid",
    "reciprocal_rank_fusion": "._hybrid",
    "SHARED": "._index",
    "Hit": "._index",
    "IndexStats": "._index",
    "MailIndex": "._index",
    "MailRetriever": "._retriever",
    "build_query": "._retriever",
    "ExtractiveSummarizer": "._summaries",
    "LLMSummarizer": "._summaries",
    "Summarizer": "._summaries",
    "ThreadSummaries": "._summaries",
    "ThreadSummary": "._summaries",
    "SyncProgress": "._sync",
    "SyncResult": "._sync",
    "async_sync_mailbox": "._sync",
    "follow_events": "._sync",
    "apply_event": "._sync",
    "sync_mailbox": "._sync",
}


def __getattr__(name: str) -> Any:
    module_name = _WHERE.get(name)
    if module_name is None:
        msg = f"module 'retrieval' has no attribute {name!r}"
        raise AttributeError(msg)
    module = importlib.import_module(module_name, __name__)
    value = getattr(module, name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
