"""The triage crew."""

from .crew import TriageCrew

__all__ = ["TriageCrew"]
