"""Errors raised by agentmail-tools (placeholder root; the client issue fills in the tree).

See docs/architecture.md for the full tree.
"""

from __future__ import annotations

__all__ = ["InvalidRequestError", "MailError"]


class MailError(Exception):
    """Root of every error this library raises."""


class InvalidRequestError(MailError, ValueError):
    """A request was refused before anything was sent: fix the argument named in the message."""
