"""Rich renderings shared by the CLI commands and the demo."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.panel import Panel
from rich.text import Text

from ._context import console

if TYPE_CHECKING:
    from .._models import Message, ThreadDetail

__all__ = ["message_panel", "print_thread"]


def message_panel(message: Message, *, max_chars: int = 1200) -> Panel:
    """One message as a panel: direction, sender, recipients, time, body (trimmed)."""
    arrow = "→" if message.direction == "OUTBOUND" else "←"
    body = (message.body_text or "").strip()
    if len(body) > max_chars:
        body = body[:max_chars] + " …"
    title = f"{arrow} {message.from_address} to {', '.join(message.to_addresses)}"
    subtitle = f"{message.created_at:%Y-%m-%d %H:%M:%S} · {message.status}"
    style = "cyan" if message.direction == "OUTBOUND" else "white"
    return Panel(Text(body), title=title, subtitle=subtitle, border_style=style, title_align="left")


def print_thread(thread: ThreadDetail) -> None:
    """Print a thread's header and its messages, oldest first."""
    console.rule(f"[bold]{thread.subject}[/] · {thread.message_count} message(s) · {thread.id}")
    for message in thread.messages:
        console.print(message_panel(message))
