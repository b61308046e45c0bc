"""The public surface of ``retrieval``: pinned, lazily imported, re-exporting the shared helpers."""

from __future__ import annotations

import subprocess
import sys

import agentmail_tools._tokens
import retrieval

EXPECTED = [
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
    "MailIndex",
    "MailRetriever",
    "MiniLMEmbeddingFunction",
    "SearchResult",
    "Section",
    "Summarizer",
    "SyncResult",
    "ThreadSummaries",
    "ThreadSummary",
    "apply_event",
    "as_embedder",
    "as_langchain_embeddings",
    "build_query",
    "chunk_document",
    "chunk_text",
    "count_tokens",
    "default_embedding_function",
    "openai_embedding_function",
    "reciprocal_rank_fusion",
    "strip_quoted",
    "sync_mailbox",
    "truncate_to_tokens",
]


def test_all_is_pinned_and_sorted() -> None:
    assert retrieval.__all__ == EXPECTED
    assert retrieval.__all__ == sorted(retrieval.__all__, key=lambda s: (not s.isupper(), s[0].islower(), s))
    for name in EXPECTED:
        assert getattr(retrieval, name) is not None


def test_count_tokens_is_the_shared_counter() -> None:
    assert retrieval.count_tokens is agentmail_tools._tokens.count_tokens


def test_import_is_light() -> None:
    code = "import sys, retrieval; print(sorted(m for m in ('chromadb', 'numpy', 'langchain_core', 'tokenizers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
