"""Token counting for run statistics, through the library's offline counter."""

from __future__ import annotations

__all__ = ["count_tokens"]


def count_tokens(text: str) -> int:
    """Tokens in ``text`` by ``agentmail_tools.count_tokens`` (offline tiktoken).

    Falls back to the common four-characters-per-token estimate only if the counter is
    not importable (a partial install), so statistics never break a run.
    """
    try:
        from agentmail_tools._tokens import count_tokens as _count
    except ImportError:
        return (len(text) + 3) // 4
    return _count(text)
