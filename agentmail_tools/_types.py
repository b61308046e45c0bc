"""Shared vocabulary: the "not given" sentinel and the small protocols between packages.

Modules depend on these names rather than on each other; the packages above
(``retrieval``) implement the protocols without ``agentmail_tools`` importing them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Literal, Protocol, runtime_checkable

__all__ = ["NOT_GIVEN", "MessageSearch", "NotGiven", "SearchMatch"]


class NotGiven:
    """Marks an argument that was not passed, where ``None`` means "explicitly clear"."""

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()


class SearchMatch(Protocol):
    """One hit from a :class:`MessageSearch`: which message, how good, and a snippet."""

    message_id: str
    thread_id: str | None
    score: float
    snippet: str


@runtime_checkable
class MessageSearch(Protocol):
    """Search over one mailbox's messages, implemented by the retrieval package."""

    def search(
        self,
        mailbox_id: str,
        query: str,
        *,
        limit: int = 10,
        thread_id: str | None = None,
        sender: str | None = None,
        direction: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Sequence[Any]:
        """Return up to ``limit`` matches (objects shaped like :class:`SearchMatch`)."""
        ...
