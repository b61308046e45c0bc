"""The reply crew."""

from .crew import ReplyCrew

__all__ = ["ReplyCrew"]
