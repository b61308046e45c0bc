"""The policy crew."""

from .crew import PolicyCrew

__all__ = ["PolicyCrew"]
