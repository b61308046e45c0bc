"""Fixtures for the retrieval suite: one embedding model per session, a fresh index per test."""

from __future__ import annotations

from collections.abc import Iterator
import pytest

from retrieval import MailIndex, MiniLMEmbeddingFunction, default_embedding_function


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbeddingFunction:
    ef = default_embedding_function()
    ef(["warm up"])  # load the weights once for the whole session
    return ef


@pytest.fixture
def index(embedder: MiniLMEmbeddingFunction) -> Iterator[MailIndex]:
    with MailIndex(embedding_function=embedder) as ix:
        yield ix


