"""The public surface of ``retrieval``: sorted, lazily imported, re-exporting the shared helpers (pinned in test_public_api)."""

from __future__ import annotations

import subprocess
import sys

import agentmail_tools._tokens
import retrieval


def test_all_is_sorted_and_resolves() -> None:
    # The names themselves are pinned in tests/test_public_api.py.
    assert retrieval.__all__ == sorted(retrieval.__all__, key=lambda s: (not s.isupper(), s[0].islower(), s))
    for name in retrieval.__all__:
        assert getattr(retrieval, name) is not None


def test_count_tokens_is_the_shared_counter() -> None:
    assert retrieval.count_tokens is agentmail_tools._tokens.count_tokens


def test_import_is_light() -> None:
    code = "import sys, retrieval; print(sorted(m for m in ('chromadb', 'numpy', 'langchain_core', 'tokenizers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
