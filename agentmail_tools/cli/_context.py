"""Which backend a CLI command talks to, and how errors reach the person at the terminal."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from .._client import MailClient

__all__ = ["CliState", "console", "err_console", "fail", "print_table", "resolve_mailbox"]

console = Console()
err_console = Console(stderr=True)

DEFAULT_DATA_DIR = ".agentmail"


def print_table(
    columns: Sequence[str], rows: Iterable[Sequence[str]], *, whole: Sequence[str] = ("id",)
) -> None:
    """Print a table whose ``whole`` columns are never cut or wrapped (ids are copied and pasted)."""
    from rich.table import Table

    rows = [list(r) for r in rows]
    table = Table()
    for i, name in enumerate(columns):
        if name in whole:
            width = max([len(name), *(len(r[i]) for r in rows)])
            table.add_column(name, no_wrap=True, min_width=width)
        else:
            table.add_column(name)
    for row in rows:
        table.add_row(*row)
    console.print(table)


@dataclass
class CliState:
    """Global options: the hosted API (key/base URL) or an embedded sandbox data folder."""

    api_key: str | None = None
    base_url: str | None = None
    data_dir: Path = Path(DEFAULT_DATA_DIR)

    def path(self, name: str) -> Path:
        """A file or folder inside the data folder (created on demand).

        Layout: ``sandbox/`` (the embedded server's SQLite + blobs), ``queue.db`` (the durable
        inbound queue), ``guards.db`` (rate buckets, reply counters, idempotency records),
        ``decisions.db``, ``review.db``, ``chroma/`` (the retrieval index).
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir / name

    @property
    def uses_sandbox(self) -> bool:
        return not (self.api_key or self.base_url or os.environ.get("ROBOTOMAIL_API_KEY"))

    @contextlib.contextmanager
    def client(self) -> Iterator[MailClient]:
        """Open a client on the chosen backend and close it (and the sandbox) afterwards."""
        if self.uses_sandbox:
            from ..sandbox import Sandbox

            sandbox = Sandbox(self.path("sandbox"))
            try:
                with sandbox.client() as client:
                    yield client
            finally:
                sandbox.close()
        else:
            from .._client import MailClient

            with MailClient(self.api_key, self.base_url) as client:
                yield client


def fail(message: str, hint: str | None = None) -> typer.Exit:
    """Print a readable error (never a traceback) and return the exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}")
    if hint:
        err_console.print(f"[dim]{hint}[/]")
    return typer.Exit(code=1)


def resolve_mailbox(client: MailClient, value: str) -> str:
    """Accept a mailbox id, its address, or its full address, and return the id."""
    for mailbox in client.mailboxes.list():
        if value in (mailbox.id, mailbox.address, mailbox.full_address):
            return mailbox.id
    msg = f"no mailbox {value!r}"
    raise fail(msg, "list them with: agentmail-tools mailboxes list")
