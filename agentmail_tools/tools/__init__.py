"""LangChain (and CrewAI) tools over a Robotomail mailbox."""

from ._render import render_message, render_thread, wrap_untrusted

__all__ = ["render_message", "render_thread", "wrap_untrusted"]
