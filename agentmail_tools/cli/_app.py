"""Transport commands: sandbox, mailboxes, send, threads, search, webhooks, queue, decisions."""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .._errors import MailError
from ._context import CliState, console, err_console, fail, print_table, resolve_mailbox

__all__ = ["app", "main"]

app = typer.Typer(
    name="agentmail-tools",
    help="Real email for AI agents: the Robotomail API or the embedded sandbox, from the terminal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
sandbox_app = typer.Typer(help="Run the embedded Robotomail-compatible sandbox.", no_args_is_help=True)
mailboxes_app = typer.Typer(help="Create and list mailboxes.", no_args_is_help=True)
threads_app = typer.Typer(help="List threads and show one.", no_args_is_help=True)
webhooks_app = typer.Typer(help="Receive webhooks into the durable queue.", no_args_is_help=True)
queue_app = typer.Typer(help="Inspect the durable inbound queue.", no_args_is_help=True)
decisions_app = typer.Typer(help="Query the decision log.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(mailboxes_app, name="mailboxes")
app.add_typer(threads_app, name="threads")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(queue_app, name="queue")
app.add_typer(decisions_app, name="decisions")

MailboxOpt = Annotated[str, typer.Option("--mailbox", "-m", help="Mailbox id or address.")]


DEFAULT_DATA = Path(".agentmail")


@app.callback()
def _global(
    ctx: typer.Context,
    api_key: Annotated[
        str | None, typer.Option(help="Robotomail API key (default: ROBOTOMAIL_API_KEY).", show_default=False)
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="API base URL, e.g. a served sandbox's.", show_default=False)
    ] = None,
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            envvar="AGENTMAIL_DATA",
            help="Embedded sandbox folder, used when no API key or base URL is given.",
        ),
    ] = DEFAULT_DATA,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    """Real email for AI agents. With no API key, commands run on the embedded sandbox in --data."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(name)s: %(message)s")
    ctx.obj = CliState(api_key=api_key, base_url=base_url, data_dir=data)


def _state(ctx: typer.Context) -> CliState:
    state = ctx.obj
    assert isinstance(state, CliState)
    return state


@sandbox_app.command("serve")
def sandbox_serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port (0 = any free port).")] = 8025,
    smtp_port: Annotated[int, typer.Option(help="SMTP port (0 = any free port).")] = 2525,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data", help="The sandbox's folder (default: 'sandbox' in the global --data folder)."),
    ] = None,
) -> None:
    """Serve the sandbox over HTTP and SMTP until interrupted; prints the base URL and key."""
    from ..sandbox import Sandbox

    data = data_dir if data_dir is not None else _state(ctx).path("sandbox")
    sandbox = Sandbox(data)
    try:
        try:
            serving = sandbox.serve(host=host, port=port, smtp_port=smtp_port)
        except OSError as err:
            msg = f"cannot listen on {host} (HTTP port {port}, SMTP port {smtp_port}): {err.strerror or err}"
            raise fail(msg, "choose other ports with --port/--smtp-port, or 0 for any free port") from err
        with serving as server:
            console.print(f"[bold green]sandbox[/] serving {data.resolve()}")
            console.print(f"  base URL  {server.base_url}")
            console.print(f"  SMTP      {server.smtp_host}:{server.smtp_port}")
            console.print(f"  API key   {server.api_key}")
            console.print(
                "[dim]export ROBOTOMAIL_BASE_URL and ROBOTOMAIL_API_KEY to use it; Ctrl-C stops.[/]"
            )
            server.wait()
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        sandbox.close()


@mailboxes_app.command("list")
def mailboxes_list(ctx: typer.Context) -> None:
    """List the account's mailboxes."""
    with _state(ctx).client() as client:
        print_table(
            ("id", "address", "status", "sent today"),
            (
                (mb.id, mb.full_address, mb.status, f"{mb.daily_send_count}/{mb.daily_send_limit}")
                for mb in client.mailboxes.list()
            ),
        )


@mailboxes_app.command("create")
def mailboxes_create(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="Local part, e.g. 'support'.")],
    display_name: Annotated[str | None, typer.Option(help="Name shown to recipients.")] = None,
) -> None:
    """Create a mailbox."""
    with _state(ctx).client() as client:
        mb = client.mailboxes.create(address, display_name=display_name)
        console.print(f"created [bold]{mb.full_address}[/] ({mb.id})")


@app.command("send")
def send(
    ctx: typer.Context,
    mailbox: MailboxOpt,
    to: Annotated[list[str], typer.Option("--to", help="Recipient (repeat for several).")],
    subject: Annotated[str, typer.Option(help="Subject line.")],
    body: Annotated[str, typer.Option(help="Plain-text body ('-' reads standard input).")],
    in_reply_to: Annotated[
        str | None, typer.Option(help="RFC Message-ID of the message this answers.")
    ] = None,
) -> None:
    """Send a message from a mailbox (a person's send: the server's limits apply, not agent guards)."""
    if body == "-":
        body = typer.get_text_stream("stdin").read()
    with _state(ctx).client() as client:
        mailbox_id = resolve_mailbox(client, mailbox)
        msg = client.messages.send(
            mailbox_id, to=to, subject=subject, body_text=body, in_reply_to=in_reply_to
        )
        console.print(f"sent {msg.id} in thread {msg.thread_id} ({msg.status})")


@threads_app.command("list")
def threads_list(ctx: typer.Context, mailbox: MailboxOpt) -> None:
    """List a mailbox's threads, newest activity first."""
    with _state(ctx).client() as client:
        print_table(
            ("id", "subject", "messages", "last message", "participants"),
            (
                (
                    t.id,
                    t.subject,
                    str(t.message_count),
                    f"{t.last_message_at:%Y-%m-%d %H:%M}",
                    ", ".join(t.participants),
                )
                for t in client.threads.list(resolve_mailbox(client, mailbox))
            ),
        )


@threads_app.command("show")
def threads_show(
    ctx: typer.Context, mailbox: MailboxOpt, thread_id: Annotated[str, typer.Argument(help="Thread id.")]
) -> None:
    """Show a thread, oldest message first."""
    from ._render import print_thread

    with _state(ctx).client() as client:
        print_thread(client.threads.get(resolve_mailbox(client, mailbox), thread_id))


@app.command("search")
def search(
    ctx: typer.Context,
    mailbox: MailboxOpt,
    query: Annotated[str, typer.Argument(help="Words to look for.")],
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
) -> None:
    """Full-text search over a mailbox (sandbox extension)."""
    with _state(ctx).client() as client:
        results = client.messages.search(resolve_mailbox(client, mailbox), query, limit=limit)
        table = Table("score", "from", "subject", "snippet")
        for hit in results.hits:
            table.add_row(f"{hit.score:.2f}", hit.from_, hit.subject, hit.snippet)
        console.print(table)
        console.print(f"[dim]{results.total} match(es)[/]")


@webhooks_app.command("listen")
def webhooks_listen(
    ctx: typer.Context,
    secret: Annotated[
        str | None,
        typer.Option(envvar="ROBOTOMAIL_WEBHOOK_SECRET", help="Signing secret (shown once at creation)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8787,
    register: Annotated[
        str | None,
        typer.Option(
            "--register",
            help="Also create a webhook for this mailbox (id or address) pointing here, "
            "and use its secret (the sandbox accepts loopback http URLs).",
        ),
    ] = None,
) -> None:
    """Receive signed webhooks into the durable queue: verify, enqueue, acknowledge. Nothing else."""
    import uvicorn

    from ..inbound import SQLiteQueue, WebhookReceiver

    state = _state(ctx)
    webhook_id: str | None = None
    if register is not None:
        with state.client() as client:
            mailbox_id = resolve_mailbox(client, register)
            hook = client.webhooks.create(
                f"http://{host}:{port}/", events=["message.received"], mailbox_id=mailbox_id
            )
            webhook_id, secret = hook.id, hook.secret
            console.print(f"registered webhook {hook.id} for {register}")
    if not secret:
        msg = "no webhook secret"
        raise fail(msg, "pass --secret, set ROBOTOMAIL_WEBHOOK_SECRET, or use --register MAILBOX")
    queue = SQLiteQueue(state.path("queue.db"))
    receiver = WebhookReceiver(queue, secret)
    console.print(f"[bold green]listening[/] on http://{host}:{port}/ → {state.path('queue.db')}")
    try:
        uvicorn.run(receiver.app, host=host, port=port, log_level="warning")
    finally:
        if webhook_id is not None:
            with state.client() as client:
                client.webhooks.delete(webhook_id)


@queue_app.command("stats")
def queue_stats(ctx: typer.Context) -> None:
    """Counts per state: ready, leased, done, dead."""
    from ..inbound import SQLiteQueue

    stats = SQLiteQueue(_state(ctx).path("queue.db")).stats()
    table = Table("state", "events")
    for key, value in stats.model_dump().items() if hasattr(stats, "model_dump") else vars(stats).items():
        table.add_row(key, str(value))
    console.print(table)


@queue_app.command("dead")
def queue_dead(ctx: typer.Context) -> None:
    """Dead-lettered events with their last error."""
    from ..inbound import SQLiteQueue

    print_table(
        ("event id", "event", "mailbox", "attempts", "last error"),
        (
            (d.event.event_id, d.event.event, d.event.mailbox_id or "", str(d.attempts), d.error)
            for d in SQLiteQueue(_state(ctx).path("queue.db")).dead_letters()
        ),
        whole=("event id",),
    )


@queue_app.command("requeue")
def queue_requeue(ctx: typer.Context, event_id: Annotated[str, typer.Argument(help="Event id.")]) -> None:
    """Put a dead-lettered event back in the queue."""
    from ..inbound import SQLiteQueue

    if not SQLiteQueue(_state(ctx).path("queue.db")).requeue_dead(event_id):
        msg = f"no dead-lettered event {event_id!r}"
        raise fail(msg, "list them with: agentmail-tools queue dead")
    console.print(f"requeued {event_id}")


@decisions_app.command("list")
def decisions_list(
    ctx: typer.Context,
    mailbox: Annotated[str | None, typer.Option("--mailbox", "-m", help="Mailbox id.")] = None,
    outcome: Annotated[str | None, typer.Option(help="replied, held, blocked, ignored or failed.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """Every send decision, including the decision to stay silent, newest first."""
    from ..guards import DecisionLog

    decisions = DecisionLog(_state(ctx).path("decisions.db")).list(mailbox, outcome, limit)
    # The mailbox column only when there is more than one (it costs a narrow terminal its width).
    several = len({d.mailbox_id for d in decisions}) > 1
    print_table(
        ("when", "outcome", *(("mailbox",) if several else ()), "thread", "reason"),
        (
            (
                f"{d.created_at:%m-%d %H:%M:%S}",
                d.outcome,
                *((d.mailbox_id,) if several else ()),
                d.thread_id or "",
                d.reason,
            )
            for d in decisions
        ),
        whole=("thread",),
    )


def _register_extensions() -> None:
    """Let the installed upper packages add their commands (retrieval: index; crews: worker, ...)."""
    for name in ("retrieval._cli", "crews._cli"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name is not None and name.startswith(err.name):
                continue
            raise
        module.register(app)


def main() -> None:
    """Console-script entry point: run the app, turning library errors into readable messages."""
    os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("OTEL_SDK_DISABLED", "true")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    _register_extensions()
    try:
        app()
    except MailError as err:
        err_console.print(f"[bold red]error:[/] {err}")
        raise SystemExit(1) from err
