"""Tokens the model receives from ``read_thread`` vs. the raw thread, at 10/100/1,000 messages.

Threads are built in the in-process sandbox from realistic support mail: each reply
quotes the message before it (Gmail style), alternating customer and agent. For each
size we report the tokens of ``read_thread``'s output (budget 2,000) against two
same-run baselines: the raw thread as JSON (what a naive tool returns) and the raw
text of every message (headers + full bodies including quoted history).

All counts use ``agentmail_tools.count_tokens`` with ``cl100k_base``: exact, offline
(no o200k approximation is involved).

Usage::

    python bench/tools_tokens.py [--quick]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from agentmail_tools._tokens import count_tokens
from agentmail_tools.sandbox import Sandbox
from agentmail_tools.tools import MailToolkit

BUDGET = 2000

_CUSTOMER = [
    "Hi, my order {n} still has not arrived. The tracking page has said 'in transit' for five days. "
    "Can you check with the courier and tell me when it will be delivered? I need it before the weekend.",
    "Thanks for checking. The address is correct: 12 Harbour Street, flat 3. Could you also confirm "
    "whether the replacement charger is in the same parcel? The invoice lists two items.",
    "Still nothing today. If it cannot arrive by Friday I would prefer a refund to the original card.",
]
_AGENT = [
    "Hello, thanks for your patience. I have opened a trace with the courier for order {n}; they "
    "expect to update us within 24 hours. I will write again as soon as I hear back.",
    "The courier confirms the parcel is at the local depot and both items are in it. Delivery is "
    "scheduled for Thursday between 9:00 and 13:00.",
    "Understood. If the parcel is not delivered by Friday noon, reply here and I will refund it in full.",
]


def _build_thread(sandbox: Sandbox, client: Any, mailbox: Any, size: int) -> str:
    previous_body = ""
    previous_id: str | None = None
    thread_id = ""
    customer = f"customer{size}@example.com"
    subject = f"Order {size} delayed"
    for i in range(size):
        inbound = i % 2 == 0
        body = (_CUSTOMER if inbound else _AGENT)[(i // 2) % 3].format(n=size) + f" (message {i + 1})"
        if previous_body:
            quoted = "\n".join("> " + line for line in previous_body.splitlines())
            body += (
                f"\n\nOn Mon, 2 Mar 2026 at 10:{i % 60:02d}, Someone <someone@example.com> wrote:\n{quoted}"
            )
        fields: dict[str, Any] = {
            "from": customer if inbound else f"agent@{size}.example.com",
            "to": [mailbox.full_address],
            "subject": subject if i == 0 else f"Re: {subject}",
            "bodyText": body,
        }
        if previous_id:
            fields["inReplyTo"] = previous_id
        stored = sandbox.inject(fields)[0]
        previous_id = stored.get("messageId") or stored.get("message_id")
        thread_id = stored["threadId"]
        previous_body = body.split("\n\nOn Mon,")[0]
    return thread_id


def _raw_text(thread: Any) -> str:
    parts = []
    for m in thread.messages:
        parts.append(
            f"From: {m.from_address}\nTo: {', '.join(m.to_addresses)}\nDate: {m.created_at}\n"
            f"Subject: {m.subject}\nMessage-ID: {m.id}\n\n{m.body_text}"
        )
    return "\n\n".join(parts)


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Measure read_thread tokens against the raw thread; one row per thread size."""
    sizes = (10, 100) if quick else (10, 100, 1000)
    rows: list[dict[str, Any]] = []
    with Sandbox() as sandbox:
        client = sandbox.client()
        mailbox = client.mailboxes.create("bench-tools")
        read = next(t for t in MailToolkit(client, mailbox_id=mailbox.id, budget_tokens=BUDGET).get_tools()
                    if t.name == "read_thread")  # fmt: skip
        for size in sizes:
            thread_id = _build_thread(sandbox, client, mailbox, size)
            read.invoke({"thread_id": thread_id})  # warm-up: first-use imports are not the figure
            started = time.perf_counter()
            message = read.invoke(
                {"type": "tool_call", "id": "b", "name": "read_thread", "args": {"thread_id": thread_id}}
            )
            elapsed_ms = (time.perf_counter() - started) * 1000
            thread = message.artifact
            assert len(thread.messages) == size, (len(thread.messages), size)
            tokens = count_tokens(message.content)
            raw_json = count_tokens(thread.model_dump_json(by_alias=True))
            raw_text = count_tokens(_raw_text(thread))
            rows.append(
                {
                    "figure": f"read_thread tokens, {size}-message thread (budget {BUDGET})",
                    "value": tokens,
                    "baseline": "raw thread JSON tokens",
                    "baseline value": raw_json,
                    "ratio": tokens / raw_json,
                    "raw text tokens": raw_text,
                    "read_thread ms": elapsed_ms,
                    "counted with": "cl100k_base (exact)",
                }
            )
        client.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = run(quick=args.quick)
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        cells = [
            f"{v:.3g}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)
            for v in row.values()
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
