"""Fixtures for the retrieval suite: one embedding model per session, a fresh index per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from retrieval import MailIndex, MiniLMEmbeddingFunction, default_embedding_function


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbeddingFunction:
    # One BLAS thread: the suite runs next to other xdist workers on 2 cores, where
    # over-subscribed BLAS threads are several times slower than one.
    ef = default_embedding_function(threads=1)
    ef(["warm up"])  # load the weights once for the whole session
    return ef


@pytest.fixture
def index(embedder: MiniLMEmbeddingFunction) -> Iterator[MailIndex]:
    with MailIndex(embedding_function=embedder) as ix:
        yield ix
