"""A worker process for the crash test: runs the real Worker, optionally hanging at a chosen point.

Usage: python worker_child.py BASE_URL API_KEY MAILBOX_ID STATE_DIR QUEUE MODE MARKER
MODE: ``hang-review`` (hang inside the review model call, before any send),
``hang-after-send`` (hang after the reply was sent, before the decision is recorded and the
event acknowledged), ``complete`` (work until the queue is empty, then print stats as JSON).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

for name, value in {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "OTEL_SDK_DISABLED": "true",
}.items():
    os.environ.setdefault(name, value)


def main() -> int:
    base_url, api_key, mailbox_id, state_dir, queue_path, mode, marker = sys.argv[1:8]
    from agentmail_tools import MailClient
    from agentmail_tools.inbound import SQLiteQueue
    from crews import EmailAgent, OfflineLLM, Worker, load_config

    def hang() -> None:
        Path(marker).write_text(mode, encoding="utf-8")
        threading.Event().wait()  # until SIGKILL

    class HangingLLM(OfflineLLM):
        def call(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
            model = kwargs.get("response_model")
            if mode == "hang-review" and model is not None and model.__name__ == "ReviewResult":
                hang()
            return super().call(messages, *args, **kwargs)

    root = Path(__file__).resolve().parents[2]
    client = MailClient(api_key, base_url)
    agent = EmailAgent(
        client,
        mailbox_id,
        config=load_config(root / "crews" / "config" / "support.yaml"),
        llm=HangingLLM(),
        state_dir=state_dir,
        retrieval=False,  # the test is about exactly-once, not RAG
    )
    if mode == "hang-after-send":
        record = agent.decisions.record

        def record_then_hang(*args: Any, **kwargs: Any) -> Any:
            if args[2] == "replied":
                hang()
            return record(*args, **kwargs)

        agent.decisions.record = record_then_hang  # type: ignore[method-assign]
    queue = SQLiteQueue(queue_path)
    worker = Worker(queue, agent, visibility_timeout=2.0, poll_interval=0.1)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        worker.run_once()
        stats = queue.stats()
        if stats.ready + stats.scheduled + stats.leased == 0 and stats.done:
            break
        time.sleep(0.1)
    print(json.dumps({"processed": worker.stats.processed, "outcomes": dict(worker.stats.outcomes)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
