"""Small pieces shared by the SSE listener and the poller: persisted JSON state, backoff, errors."""

from __future__ import annotations

import json
import logging
import os
import random
import tempfile
from pathlib import Path
from typing import Any

from .._errors import APIStatusError, InvalidRequestError, RateLimitError

__all__ = ["Backoff", "JsonState", "is_fatal", "retry_after_of"]

logger = logging.getLogger("agentmail_tools")

# Retrying these cannot succeed until a person fixes the key, the id or the request.
_FATAL_STATUSES = frozenset({400, 401, 403, 404})


def is_fatal(error: BaseException) -> bool:
    """True for errors a reconnect loop must surface instead of retrying forever."""
    if isinstance(error, InvalidRequestError):  # refused before sending: our arguments are wrong
        return True
    return isinstance(error, APIStatusError) and getattr(error, "status_code", None) in _FATAL_STATUSES


def retry_after_of(error: BaseException) -> float | None:
    """The server's ``Retry-After`` for a 429, if it sent one."""
    if isinstance(error, RateLimitError):
        value = getattr(error, "retry_after", None)
        return float(value) if isinstance(value, (int, float)) else None
    return None


class Backoff:
    """Capped exponential backoff with "equal jitter" (never zero, never above the cap).

    Many listeners reconnecting after the same outage spread out instead of stampeding.
    """

    def __init__(
        self, initial: float = 0.5, maximum: float = 30.0, *, rng: random.Random | None = None
    ) -> None:
        if initial <= 0 or maximum < initial:
            msg = "backoff needs 0 < initial <= maximum"
            raise ValueError(msg)
        self.initial = initial
        self.maximum = maximum
        self.failures = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """Delay before the next attempt; each call counts one more consecutive failure."""
        ceiling = min(self.maximum, self.initial * (2**self.failures))
        self.failures += 1
        return float(ceiling / 2 + self._rng.uniform(0, ceiling / 2))

    def reset(self) -> None:
        """A healthy connection or a successful poll: start again from ``initial``."""
        self.failures = 0


class JsonState:
    """A small JSON document on disk, replaced atomically (a crash leaves the old or the new one).

    ``path=None`` keeps the state in memory only (resume works within the process).
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = None if path is None else Path(path)
        self._memory: dict[str, Any] = {}

    def load(self) -> dict[str, Any]:
        """The stored document, or ``{}`` if there is none (or it is unreadable, which is logged)."""
        if self.path is None:
            return dict(self._memory)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            logger.warning("ignoring unreadable state file %s: %s", self.path, err)
            return {}
        return data if isinstance(data, dict) else {}

    def save(self, data: dict[str, Any]) -> None:
        """Write ``data`` atomically (temp file, fsync, rename)."""
        if self.path is None:
            self._memory = dict(data)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
