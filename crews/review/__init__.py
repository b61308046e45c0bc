"""The review crew."""

from .crew import ReviewCrew

__all__ = ["ReviewCrew"]
