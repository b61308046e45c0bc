"""``agentmail-tools demo | worker | review | eval``: the crews from the terminal."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from agentmail_tools.cli._context import CliState

__all__ = ["register"]

worker_app = typer.Typer(help="Run the crews flow over the durable queue.", no_args_is_help=True)
review_app = typer.Typer(
    help="Drafts held for a person: list, approve (sends in-thread), reject.", no_args_is_help=True
)
eval_app = typer.Typer(help="Evaluate the crews on a labelled set, offline.", no_args_is_help=True)

DEFAULT_CONFIG = Path(__file__).resolve().parent / "config" / "support.yaml"
ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", help="Mailbox YAML: persona, policy rules, allow-lists, escalation.")
]


def _state(ctx: typer.Context) -> CliState:
    from agentmail_tools.cli._context import CliState

    state = ctx.find_root().obj
    assert isinstance(state, CliState)
    return state


def _config(path: Path) -> Any:
    from agentmail_tools.cli._context import fail

    from ._config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as err:
        raise fail(str(err), "see crews/config/support.yaml for a complete example") from err


def demo(
    data: Annotated[Path, typer.Option(help="Folder for the demo's state (wiped at the start).")] = Path(
        ".agentmail/demo"
    ),
) -> None:
    """The main job: a support agent on the embedded mail server, end to end, printed as it goes."""
    from agentmail_tools.cli._context import console

    from .demo._run import run_demo

    run_demo(data, console=console)


@worker_app.command("run")
def worker_run(
    ctx: typer.Context,
    mailbox: Annotated[str, typer.Option("--mailbox", "-m", help="Mailbox id or address to answer for.")],
    config: ConfigOpt = DEFAULT_CONFIG,
    source: Annotated[
        str,
        typer.Option(
            help="How events arrive: 'sse' (follow the event stream), 'poll' (poll the mailbox), "
            "or 'queue' (only consume; `webhooks listen` fills the queue)."
        ),
    ] = "sse",
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Events processed at once.")] = 2,
    docs: Annotated[Path | None, typer.Option(help="Help-centre folder to index before starting.")] = None,
) -> None:
    """Answer a mailbox's mail until Ctrl-C: events → queue → flow → guarded reply or hold."""
    from agentmail_tools.cli._context import console, fail, resolve_mailbox
    from agentmail_tools.inbound import Poller, SQLiteQueue, SSEListener

    from ._agent import EmailAgent
    from ._llm import is_offline
    from ._worker import Worker

    if source not in {"sse", "poll", "queue"}:
        msg = f"unknown --source {source!r}"
        raise fail(msg, "use sse, poll or queue")
    state = _state(ctx)
    mailbox_config = _config(config)
    stop = threading.Event()
    with state.client() as client:
        mailbox_id = resolve_mailbox(client, mailbox)
        agent = EmailAgent(client, mailbox_id, config=mailbox_config, state_dir=state.data_dir)
        if is_offline(agent.llm):
            console.print("[yellow]offline model[/]: set OPENAI_API_KEY to use a real one")
        if docs is not None:
            console.print(f"indexed {agent.index_docs(docs)} documents from {docs}")
        queue = SQLiteQueue(state.path("queue.db"))
        feeders: list[threading.Thread] = []
        if source == "sse":
            listener = SSEListener(
                client,
                queue,
                mailbox_id=mailbox_id,
                # The flow answers received mail; sent/delivered events would only be skipped.
                events=["message.received"],
                state_path=state.path(f"sse-{mailbox_id}.json"),
            )
            feeders.append(threading.Thread(target=listener.run, args=(stop,), daemon=True))
        elif source == "poll":
            poller = Poller(client, queue, mailbox_id, cursor_path=state.path(f"cursor-{mailbox_id}.json"))
            feeders.append(threading.Thread(target=poller.run, args=(stop,), daemon=True))

        def show(result: Any) -> None:
            console.print(f"{result.outcome:8} {result.sender:32} {result.subject[:50]:50} {result.reason}")

        for thread in feeders:
            thread.start()
        console.print(
            f"[bold green]worker[/] on {mailbox} ({source}); Ctrl-C stops after the events in flight"
        )
        worker = Worker(queue, agent, concurrency=concurrency, on_result=show)
        try:
            stats = worker.run(stop)
        except KeyboardInterrupt:
            stop.set()
            stats = worker.stats
        for thread in feeders:
            thread.join(timeout=10)
        console.print(f"processed {stats.processed}: {dict(stats.outcomes)}")


def _reviews(state: CliState, client: Any, config: Path) -> Any:
    from agentmail_tools.guards import DecisionLog, MailGuard

    from ._agent import guard_policy_for
    from ._review import ReviewQueue

    guard = MailGuard(client, policy=guard_policy_for(_config(config)), state_path=state.path("guards.db"))
    return ReviewQueue(
        state.path("review.db"), client=client, guard=guard, decisions=DecisionLog(state.path("decisions.db"))
    )


@review_app.command("list")
def review_list(
    ctx: typer.Context,
    status: Annotated[
        str, typer.Option(help="pending, approved or rejected ('all' for every draft).")
    ] = "pending",
) -> None:
    """Drafts waiting for a person, oldest first."""
    from agentmail_tools.cli._context import print_table

    from ._review import ReviewQueue

    print_table(
        ("id", "status", "to", "subject", "why held", "escalate to"),
        (
            (item.id, item.status, item.sender, item.subject, "; ".join(item.reasons), item.escalation or "")
            for item in ReviewQueue(_state(ctx).path("review.db")).list(
                status=None if status == "all" else status
            )
        ),
    )


@review_app.command("approve")
def review_approve(
    ctx: typer.Context,
    item_id: Annotated[str, typer.Argument(help="Draft id (from `review list`).")],
    body: Annotated[str | None, typer.Option(help="Replace the draft's text before sending.")] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
) -> None:
    """Send a held draft in its thread, through the send guards."""
    from agentmail_tools.cli._context import console, fail

    from ._review import ReviewError

    state = _state(ctx)
    with state.client() as client:
        try:
            message = _reviews(state, client, config).approve(item_id, body_text=body)
        except ReviewError as err:
            raise fail(str(err), "list drafts with: agentmail-tools review list") from err
    console.print(f"sent {message.id} in thread {message.thread_id}")


@review_app.command("reject")
def review_reject(
    ctx: typer.Context,
    item_id: Annotated[str, typer.Argument(help="Draft id (from `review list`).")],
    note: Annotated[str, typer.Option(help="Why, for the decision log.")] = "",
) -> None:
    """Discard a held draft (recorded in the decision log)."""
    from agentmail_tools.cli._context import console, fail
    from agentmail_tools.guards import DecisionLog

    from ._review import ReviewError, ReviewQueue

    state = _state(ctx)
    reviews = ReviewQueue(state.path("review.db"), decisions=DecisionLog(state.path("decisions.db")))
    try:
        reviews.reject(item_id, note=note)
    except ReviewError as err:
        raise fail(str(err), "list drafts with: agentmail-tools review list") from err
    console.print(f"rejected {item_id}")


@eval_app.command("run")
def eval_run(
    items: Annotated[Path | None, typer.Option(help="Labelled set (YAML); default the shipped one.")] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    out: Annotated[Path | None, typer.Option(help="Also write the markdown report here.")] = None,
) -> None:
    """Run the labelled set through the real flow (offline model unless OPENAI_API_KEY is set)."""
    from rich.markdown import Markdown

    from agentmail_tools.cli._context import console, fail

    from ._llm import default_llm
    from .evals import load_items, run_eval

    try:
        labelled = load_items(items)
    except ValueError as err:
        raise fail(str(err), "see crews/evals/data/emails.yaml for the format") from err
    report = run_eval(labelled, config=_config(config), llm=default_llm())
    text = report.to_markdown()
    console.print(Markdown(text))
    if out is not None:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}")
    if report.sends_outside_policy:
        raise typer.Exit(code=2)


def register(app: typer.Typer) -> None:
    """Add the crews commands to the ``agentmail-tools`` CLI."""
    app.command("demo")(demo)
    app.add_typer(worker_app, name="worker")
    app.add_typer(review_app, name="review")
    app.add_typer(eval_app, name="eval")
