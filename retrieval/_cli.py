"""``agentmail-tools index ...``: keep a mailbox's retrieval index in step with its mail."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]

index_app = typer.Typer(
    help="Build and query the retrieval index (Chroma, offline embeddings).", no_args_is_help=True
)


def _state(ctx: typer.Context):  # type: ignore[no-untyped-def]
    from agentmail_tools.cli._context import CliState

    state = ctx.find_root().obj
    assert isinstance(state, CliState)
    return state


@index_app.command("sync")
def index_sync(
    ctx: typer.Context,
    mailbox: Annotated[str, typer.Option("--mailbox", "-m", help="Mailbox id or address.")],
    docs: Annotated[
        Path | None, typer.Option(help="Also index this folder of help-centre documents (md, txt, html).")
    ] = None,
) -> None:
    """Backfill a mailbox into the index page by page (idempotent: a second run changes nothing)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from agentmail_tools.cli._context import console, fail, resolve_mailbox

    from ._index import MailIndex
    from ._sync import sync_mailbox

    state = _state(ctx)
    index = MailIndex(state.path("chroma"))
    try:
        with state.client() as client:
            mailbox_id = resolve_mailbox(client, mailbox)
            if docs is not None:
                if not docs.is_dir():
                    msg = f"{docs} is not a folder"
                    raise fail(msg)
                files = sorted(
                    p for p in docs.rglob("*") if p.suffix.lower() in {".md", ".txt", ".html", ".htm"}
                )
                chunks = sum(
                    index.add_document(
                        p.read_text(encoding="utf-8"), source=p.name, mailbox_id=mailbox_id
                    ).chunks_written
                    for p in files
                )
                console.print(f"indexed {len(files)} documents ({chunks} chunks)")
            with Progress(
                TextColumn("[bold]syncing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[note]}"),
                console=console,
            ) as bar:
                task = bar.add_task("sync", total=None, note="")

                def progress(result) -> None:  # type: ignore[no-untyped-def]
                    bar.update(task, completed=result.seen, note=f"{result.indexed} new or changed")

                result = sync_mailbox(client, index, mailbox_id, progress)
                bar.update(task, total=result.seen, completed=result.seen)
        console.print(
            f"{result.seen} messages seen in {result.pages} page(s): {result.indexed} indexed, "
            f"{result.unchanged} unchanged, {len(result.threads)} thread(s)"
        )
    finally:
        index.close()


@index_app.command("query")
def index_query(
    ctx: typer.Context,
    mailbox: Annotated[
        str, typer.Option("--mailbox", "-m", help="Mailbox id (queries never cross mailboxes).")
    ],
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option(min=1, max=50)] = 5,
) -> None:
    """Semantic search over a mailbox's messages and documents."""
    from rich.table import Table

    from agentmail_tools.cli._context import console, resolve_mailbox

    from ._index import MailIndex

    state = _state(ctx)
    with state.client() as client:
        mailbox = resolve_mailbox(client, mailbox)
    index = MailIndex(state.path("chroma"))
    try:
        table = Table("score", "source", "text")
        for hit in index.query(mailbox, query, k=k, collections=("messages", "docs")):
            table.add_row(f"{hit.score:.2f}", hit.source_id, hit.text[:160].replace("\n", " "))
        console.print(table)
    finally:
        index.close()


def register(app: typer.Typer) -> None:
    """Add the ``index`` commands to the ``agentmail-tools`` CLI."""
    app.add_typer(index_app, name="index")
