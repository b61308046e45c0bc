"""Transport benchmark: the sandbox over real HTTP, against ceilings measured in the same run.

Figures:
- sends/s with 8 concurrent ``MailClient`` threads over HTTP on loopback, against (a) the same
  sends through the sandbox's service layer with no HTTP, and (b) a ceiling of the same rows
  (message, thread update, full-text row, events, outbox row) written straight into SQLite;
- ``threads.get`` latency on a 1,000-message thread (median and p95) over HTTP;
- SSE latency: from the send call to the ``message.sent`` event arriving on an open stream.

Usage::

    python bench/transport.py [--quick]

``run(quick)`` returns the rows for ``bench/run_all.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from agentmail_tools import MailClient
from agentmail_tools.sandbox import Sandbox, SandboxLimits
from agentmail_tools.sandbox._auth import Principal
from agentmail_tools.sandbox._store import dumps, now_iso

FULL = Principal(key_id="bench", mailbox_ids=None)
CLIENTS = 8


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _send_over_http(server: Any, mailbox_id: str, total: int) -> float:
    per_client = total // CLIENTS

    def worker(_: int) -> None:
        with server.client(max_retries=0) as client:
            for i in range(per_client):
                client.messages.send(
                    mailbox_id, to="bench@example.com", subject=f"Bench {i}", body_text="hello"
                )

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(worker, range(CLIENTS)))
    return per_client * CLIENTS / (time.perf_counter() - started)


def _send_direct(sandbox: Sandbox, mailbox_id: str, total: int) -> float:
    body = {"to": ["bench@example.com"], "subject": "Direct", "bodyText": "hello"}
    started = time.perf_counter()
    for _ in range(total):
        sandbox.service.send_message(FULL, mailbox_id, body)
    return total / (time.perf_counter() - started)


def _sqlite_ceiling(sandbox: Sandbox, mailbox_id: str, total: int) -> float:
    """The same rows a send writes, as plain INSERT/UPDATEs, one transaction per send."""
    store = sandbox.store
    thread_id = str(uuid.uuid4())
    created = now_iso()
    store.run(
        "INSERT INTO threads(id, mailbox_id, subject, norm_subject, message_count, last_message_at, participants,"
        " created_at) VALUES (?,?,?,?,0,?,?,?)",
        (thread_id, mailbox_id, "Ceiling", "ceiling", created, "[]", created),
    )
    started = time.perf_counter()
    for i in range(total):
        msg_id = str(uuid.uuid4())
        stamp = now_iso()
        with store.tx() as conn:
            conn.execute(
                "INSERT INTO messages(id, mailbox_id, thread_id, direction, message_id, from_address, to_addresses,"
                " cc_addresses, bcc_addresses, subject, body_text, headers, status, created_at)"
                " VALUES (?,?,?,'OUTBOUND',?,?,?,?,?,?,?,?,'SENT',?)",
                (msg_id, mailbox_id, thread_id, f"<{msg_id}@bench>", "a@b.test", '["bench@example.com"]', "[]",
                 "[]", f"Ceiling {i}", "hello", "{}", stamp),
            )  # fmt: skip
            conn.execute(
                "INSERT INTO messages_fts(message_id, mailbox_id, subject, body, sender) VALUES (?,?,?,?,?)",
                (msg_id, mailbox_id, f"Ceiling {i}", "hello", "a@b.test"),
            )
            conn.execute(
                "UPDATE threads SET message_count = message_count + 1, last_message_at = ? WHERE id = ?",
                (stamp, thread_id),
            )
            for event in ("message.sent", "message.delivered"):
                conn.execute(
                    "INSERT INTO events(event, mailbox_id, created_at, body) VALUES (?,?,?,?)",
                    (event, mailbox_id, stamp, dumps({"event": event, "data": {"message_id": msg_id}})),
                )
            conn.execute(
                "INSERT INTO outbox(id, message_id, mailbox_id, rfc_message_id, mail_from, rcpt_tos, subject, raw,"
                " relay_status, created_at) VALUES (?,?,?,?,?,?,?,?,'HELD',?)",
                (str(uuid.uuid4()), msg_id, mailbox_id, f"<{msg_id}@bench>", "a@b.test", '["bench@example.com"]',
                 f"Ceiling {i}", b"x" * 600, stamp),
            )  # fmt: skip
            conn.execute("UPDATE messages SET status = 'DELIVERED' WHERE id = ?", (msg_id,))
    return total / (time.perf_counter() - started)


def _build_long_thread(sandbox: Sandbox, size: int) -> tuple[str, str]:
    mb = sandbox.create_mailbox("longthread")
    first = sandbox.inject({"from": "a@example.com", "to": mb["fullAddress"], "subject": "Long thread",
                            "bodyText": "start " * 40})[0]  # fmt: skip
    body = {"to": ["a@example.com"], "subject": "Re: Long thread", "bodyText": "reply " * 40,
            "inReplyTo": first["messageId"]}  # fmt: skip
    for _ in range(size - 1):
        sandbox.service.send_message(FULL, mb["id"], body)
    return mb["id"], first["threadId"]


def _thread_get_raw_latency(server: Any, mailbox_id: str, thread_id: str, reps: int) -> tuple[float, float]:
    """The same request with plain httpx: the server's share, without the client's model parsing."""
    timings = []
    headers = {"Authorization": f"Bearer {server.api_key}"}
    with httpx.Client(base_url=server.base_url + "/", headers=headers) as http:
        http.get(f"mailboxes/{mailbox_id}/threads/{thread_id}").raise_for_status()
        for _ in range(reps):
            started = time.perf_counter()
            http.get(f"mailboxes/{mailbox_id}/threads/{thread_id}").read()
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), _percentile(timings, 0.95)


def _thread_get_latency(
    server: Any, mailbox_id: str, thread_id: str, size: int, reps: int
) -> tuple[float, float]:
    timings = []
    with server.client() as client:
        assert len(client.threads.get(mailbox_id, thread_id).messages) == size
        for _ in range(reps):
            started = time.perf_counter()
            client.threads.get(mailbox_id, thread_id)
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), _percentile(timings, 0.95)


_NOOP_SERVER = """
import socket, uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
async def ep(request):
    await request.body()
    return JSONResponse({"ok": True}, status_code=201)
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(128)
print(sock.getsockname()[1], flush=True)
uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/x", ep, methods=["POST"])]), log_level="warning",
                              lifespan="off")).run(sockets=[sock])
"""


def _noop_http_rate(total: int) -> float:
    """Round trips/s to a no-op Starlette endpoint on uvicorn: the HTTP stack's own ceiling here."""
    proc = subprocess.Popen([sys.executable, "-c", _NOOP_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = f"http://127.0.0.1:{int(proc.stdout.readline())}/x"
        per_client = total // CLIENTS
        body = {"to": ["bench@example.com"], "subject": "Bench", "bodyText": "hello"}

        def worker(_: int) -> None:
            with httpx.Client() as http:
                for _ in range(per_client):
                    http.post(url, json=body)

        started = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(worker, range(CLIENTS)))
        return per_client * CLIENTS / (time.perf_counter() - started)
    finally:
        proc.kill()
        proc.wait()


class _ServedElsewhere:
    """The sandbox served by a separate process (as ``agentmail-tools sandbox serve`` runs it),
    so the benchmark's client threads do not share the server's interpreter lock."""

    def __init__(self, data: Path) -> None:
        code = (
            "import json, sys\n"
            "from agentmail_tools.sandbox import Sandbox, SandboxLimits\n"
            "sb = Sandbox(sys.argv[1], limits=SandboxLimits.unlimited())\n"
            "server = sb.serve(smtp_port=None)\n"
            "print(json.dumps({'base_url': server.base_url, 'api_key': server.api_key}), flush=True)\n"
            "sys.stdin.read()\n"
            "sb.close()\n"
        )
        self._proc = subprocess.Popen([sys.executable, "-c", code, str(data)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert self._proc.stdout is not None
        info = json.loads(self._proc.stdout.readline())
        self.base_url = info["base_url"]
        self.api_key = info["api_key"]

    def client(self, **kwargs: Any) -> MailClient:
        return MailClient(self.api_key, self.base_url, **kwargs)

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=30)


def _sse_latency(server: Any, mailbox_id: str, reps: int) -> tuple[float, float]:
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    ready = threading.Event()
    done = threading.Event()

    def listen() -> None:
        with (
            server.client() as client,
            client.events.stream(mailbox_id=mailbox_id, events=["message.sent"]) as s,
        ):
            ready.set()
            for event in s:
                arrived = time.perf_counter()
                subject = event.data.data.get("subject", "")
                if subject in sent_at:
                    latencies.append((arrived - sent_at[subject]) * 1000)
                if len(latencies) >= reps:
                    done.set()
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    ready.wait(10)
    time.sleep(0.2)  # the stream is registered server-side a moment after the headers
    with server.client() as client:
        for i in range(reps):
            subject = f"sse {i}"
            sent_at[subject] = time.perf_counter()
            client.messages.send(mailbox_id, to="x@example.com", subject=subject, body_text="b")
            time.sleep(0.02)
    done.wait(20)
    return statistics.median(latencies), _percentile(latencies, 0.95)


def run(quick: bool = False) -> list[dict[str, Any]]:
    sends = 400 if quick else 4000
    thread_size = 200 if quick else 1000
    reps = 10 if quick else 30
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "sb"
        with Sandbox(data, limits=SandboxLimits.unlimited()) as sandbox:
            mb = sandbox.create_mailbox("bench")
            direct_rate = _send_direct(sandbox, mb["id"], sends // 2)
            ceiling = _sqlite_ceiling(sandbox, mb["id"], sends // 2)
            long_mailbox, long_thread = _build_long_thread(sandbox, thread_size)
        noop_rate = _noop_http_rate(sends // 2)
        server = _ServedElsewhere(data)
        try:
            http_rate = _send_over_http(server, mb["id"], sends)
            median, p95 = _thread_get_latency(server, long_mailbox, long_thread, thread_size, reps)
            raw_median, raw_p95 = _thread_get_raw_latency(server, long_mailbox, long_thread, reps)
            sse_median, sse_p95 = _sse_latency(server, mb["id"], reps)
        finally:
            server.close()
    rows.append({"figure": f"sends/s over HTTP, {CLIENTS} clients", "value": http_rate,
                 "baseline": "same rows straight into SQLite", "baseline value": ceiling,
                 "ratio": http_rate / ceiling})  # fmt: skip
    rows.append({"figure": f"sends/s over HTTP, {CLIENTS} clients", "value": http_rate,
                 "baseline": "no-op endpoint on the same HTTP stack", "baseline value": noop_rate,
                 "ratio": http_rate / noop_rate})  # fmt: skip
    rows.append({"figure": "sends/s, service layer without HTTP", "value": direct_rate,
                 "baseline": "same rows straight into SQLite", "baseline value": ceiling,
                 "ratio": direct_rate / ceiling})  # fmt: skip
    rows.append({"figure": f"threads.get ms, {thread_size}-message thread (median)", "value": median,
                 "baseline": "p95", "baseline value": p95})  # fmt: skip
    rows.append({"figure": f"GET thread ms, {thread_size} messages, raw HTTP (median)", "value": raw_median,
                 "baseline": "p95", "baseline value": raw_p95})  # fmt: skip
    rows.append({"figure": "SSE latency ms, send → event (median)", "value": sse_median,
                 "baseline": "p95", "baseline value": sse_p95})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = run(quick=args.quick)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run_all import to_markdown

    print(to_markdown(rows))


if __name__ == "__main__":
    main()
