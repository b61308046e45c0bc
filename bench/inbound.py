"""Webhook receiver throughput and p99 acknowledgement latency, against a bare Starlette handler.

Both servers run the same way in the same run: uvicorn in its own process on a loopback
port, driven by a small raw HTTP/1.1 keep-alive client (an httpx client would measure
itself, not the server). The receiver does the real work per request: HMAC over the raw
body, JSON parse, typed event, one durable SQLite (WAL) transaction with de-duplication.
The baseline reads the body and returns 200.

- throughput: closed loop, ``CONNECTIONS`` connections sending back to back;
- latency: open loop at a fixed rate (500 events/s), each latency measured from the
  request's *scheduled* send time, so a stalled server is not hidden by fewer sends
  (no coordinated omission);
- ``handle()``: the framework-agnostic entry point called directly, no HTTP.

The machine may be shared: rounds alternate between the two servers, throughput is the
best round and latency the median round.

Usage::

    python bench/inbound.py            # full sizes
    python bench/inbound.py --quick    # smoke check
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from agentmail_tools._webhooks import sign_webhook  # noqa: E402

SECRET = "whsec_bench"
CONNECTIONS = 16
RATE = 500.0


def _bodies(n: int, tag: str) -> list[tuple[bytes, str, str]]:
    out = []
    for i in range(n):
        body = json.dumps(
            {
                "event": "message.received",
                "timestamp": "2026-11-25T00:00:00Z",
                "data": {
                    "message_id": f"{tag}-{i}",
                    "mailbox_id": "mbx_bench",
                    "mailbox_address": "agent@sandbox.robotomail.test",
                    "from": "ann@example.com",
                    "to": ["agent@sandbox.robotomail.test"],
                    "cc": [],
                    "subject": f"Order {i} is late",
                    "body_text": "Hello, my order has not arrived yet. Could you check? " * 8,
                    "body_html": None,
                    "thread_id": f"thr-{i}",
                    "in_reply_to": None,
                    "headers": {},
                    "attachments": [],
                    "received_at": "2026-11-25T00:00:00Z",
                },
            }
        ).encode()
        out.append((body, sign_webhook(body, SECRET), f"dlv-{tag}-{i}"))
    return out


def _requests(n: int, tag: str) -> list[bytes]:
    reqs = []
    for body, signature, delivery in _bodies(n, tag):
        head = (
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Robotomail-Signature: {signature}\r\n"
            f"X-Robotomail-Delivery-Id: {delivery}\r\n\r\n"
        )
        reqs.append(head.encode() + body)
    return reqs


# -- servers (child processes) ------------------------------------------------------------


def _bare_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def ok(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/", ok, methods=["POST"])])


def _serve(kind: str, db_path: str, sock: socket.socket) -> None:
    import logging

    import uvicorn

    logging.disable(logging.WARNING)
    if kind.startswith("receiver"):
        from agentmail_tools.inbound import SQLiteQueue, WebhookReceiver

        app = WebhookReceiver(SQLiteQueue(db_path, durable=kind == "receiver"), secret=SECRET).app
    else:
        app = _bare_app()
    config = uvicorn.Config(app, log_level="error", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


class _Server:
    def __init__(self, kind: str, db_path: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        ctx = mp.get_context("fork" if sys.platform == "linux" else "spawn")
        self.proc = ctx.Process(target=_serve, args=(kind, db_path, self.sock), daemon=True)

    def __enter__(self) -> _Server:
        self.proc.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        msg = "benchmark server did not start"
        raise RuntimeError(msg)

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.join(timeout=10)
        self.sock.close()


# -- load generator -------------------------------------------------------------------------


async def _roundtrip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return int(head[9:12])


async def _closed_loop(port: int, requests: list[bytes]) -> tuple[float, list[float], int]:
    chunks = [requests[i::CONNECTIONS] for i in range(CONNECTIONS)]
    latencies: list[float] = []
    bad = 0

    async def worker(batch: list[bytes]) -> None:
        nonlocal bad
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for request in batch:
            t0 = time.perf_counter()
            status = await _roundtrip(reader, writer, request)
            latencies.append(time.perf_counter() - t0)
            bad += status != 200
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(b) for b in chunks))
    return time.perf_counter() - started, latencies, bad


async def _open_loop(port: int, requests: list[bytes], rate: float) -> tuple[list[float], int]:
    free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(CONNECTIONS):
        free.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    bad = 0

    async def one(request: bytes, scheduled: float) -> None:
        nonlocal bad
        conn = await free.get()
        try:
            status = await _roundtrip(*conn, request)
        finally:
            free.put_nowait(conn)
        latencies.append(time.perf_counter() - scheduled)
        bad += status != 200

    tasks = []
    start = time.perf_counter() + 0.05
    for i, request in enumerate(requests):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(request, scheduled)))
    await asyncio.gather(*tasks)
    while not free.empty():
        free.get_nowait()[1].close()
    return latencies, bad


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _measure_http(n_throughput: int, n_latency: int, rounds: int, tmp: str) -> dict[str, dict[str, float]]:
    """Both servers up at once; rounds alternate between them so load from elsewhere hits both alike."""
    kinds = ("bare", "receiver", "receiver-normal")
    results: dict[str, dict[str, list[float]]] = {
        kind: {"throughput": [], "p50": [], "p99": []} for kind in kinds
    }
    with contextlib.ExitStack() as stack:
        servers = {
            kind: stack.enter_context(_Server(kind, os.path.join(tmp, f"{kind}.db"))) for kind in kinds
        }
        for kind, server in servers.items():
            asyncio.run(_closed_loop(server.port, _requests(300, f"{kind}-warm")))
        for r in range(rounds):
            order = list(kinds) if r % 2 == 0 else list(reversed(kinds))
            for kind in order:
                port = servers[kind].port
                elapsed, _, bad = asyncio.run(_closed_loop(port, _requests(n_throughput, f"{kind}-tp{r}")))
                lat, open_bad = asyncio.run(_open_loop(port, _requests(n_latency, f"{kind}-lat{r}"), RATE))
                if bad or open_bad:
                    msg = f"{kind}: {bad + open_bad} non-200 answers"
                    raise RuntimeError(msg)
                results[kind]["throughput"].append(n_throughput / elapsed)
                results[kind]["p50"].append(_p(lat, 0.50))
                results[kind]["p99"].append(_p(lat, 0.99))
    # Best round for throughput (the least disturbed), median round for latency.
    return {
        kind: {
            "throughput": max(v["throughput"]),
            "open_p50_ms": statistics.median(v["p50"]),
            "open_p99_ms": statistics.median(v["p99"]),
        }
        for kind, v in results.items()
    }


def _measure_handle(n: int, tmp: str, durable: bool) -> float:
    from agentmail_tools.inbound import SQLiteQueue, WebhookReceiver

    receiver = WebhookReceiver(
        SQLiteQueue(os.path.join(tmp, f"handle-{durable}.db"), durable=durable), secret=SECRET
    )
    items = [
        (body, {"x-robotomail-signature": sig, "x-robotomail-delivery-id": dlv})
        for body, sig, dlv in _bodies(n, f"h{durable}")
    ]
    started = time.perf_counter()
    for body, headers in items:
        status, _ = receiver.handle(body, headers)
        assert status == 200
    return n / (time.perf_counter() - started)


def _measure_handle_threads(n: int, tmp: str, threads: int = CONNECTIONS) -> float:
    """``handle()`` from many threads at once, as a threaded WSGI server would call it."""
    import threading

    from agentmail_tools.inbound import SQLiteQueue, WebhookReceiver

    receiver = WebhookReceiver(SQLiteQueue(os.path.join(tmp, "handle-threads.db")), secret=SECRET)
    items = [
        (body, {"x-robotomail-signature": sig, "x-robotomail-delivery-id": dlv})
        for body, sig, dlv in _bodies(n, "threads")
    ]

    def work(chunk: list[tuple[bytes, dict[str, str]]]) -> None:
        for body, headers in chunk:
            assert receiver.handle(body, headers)[0] == 200

    workers = [threading.Thread(target=work, args=(items[i::threads],)) for i in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return n / (time.perf_counter() - started)


def _fsync_floor(tmp: str, n: int = 200) -> tuple[float, float]:
    """p50/p99 of one 4 KB write + fsync here: no durable acknowledgement can beat it."""
    path = os.path.join(tmp, "fsync.probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    samples = []
    try:
        for _ in range(n):
            os.write(fd, b"x" * 4096)
            t0 = time.perf_counter()
            os.fsync(fd)
            samples.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
    return _p(samples, 0.5), _p(samples, 0.99)


def run(quick: bool = False) -> list[dict[str, object]]:
    """Measure; one row per figure with its same-run baseline."""
    n_tp = 1_000 if quick else 4_000
    n_lat = int(RATE * (1 if quick else 4))
    with tempfile.TemporaryDirectory() as tmp:
        http = _measure_http(n_tp, n_lat, 1 if quick else 3, tmp)
        bare, recv, fast = http["bare"], http["receiver"], http["receiver-normal"]
        fsync_p50, fsync_p99 = _fsync_floor(tmp)
        handle_full = _measure_handle(n_tp, tmp, durable=True)
        handle_normal = _measure_handle(n_tp, tmp, durable=False)
        handle_threads = _measure_handle_threads(n_tp, tmp)
    return [
        {
            "figure": "receiver durable=True (synchronous=FULL, default) throughput over HTTP (events/s)",
            "value": recv["throughput"],
            "baseline (bare Starlette 200)": bare["throughput"],
            "ratio": recv["throughput"] / bare["throughput"],
            "aim": ">= 3,000/s and >= 0.5x",
        },
        {
            "figure": f"receiver durable=True p99 ack latency at {RATE:.0f} events/s (ms)",
            "value": recv["open_p99_ms"],
            "baseline (bare Starlette 200)": bare["open_p99_ms"],
            "ratio": recv["open_p99_ms"] / bare["open_p99_ms"],
            "aim": "<= 5 ms",
        },
        {
            "figure": "receiver durable=False (synchronous=NORMAL) throughput over HTTP (events/s)",
            "value": fast["throughput"],
            "baseline (bare Starlette 200)": bare["throughput"],
            "ratio": fast["throughput"] / bare["throughput"],
            "aim": ">= 3,000/s and >= 0.5x",
        },
        {
            "figure": f"receiver durable=False p99 ack latency at {RATE:.0f} events/s (ms)",
            "value": fast["open_p99_ms"],
            "baseline (bare Starlette 200)": bare["open_p99_ms"],
            "ratio": fast["open_p99_ms"] / bare["open_p99_ms"],
            "aim": "<= 5 ms",
        },
        {
            "figure": "fsync of 4 KB on this disk, p50 / p99 (ms): the floor under a durable ack",
            "value": fsync_p50,
            "baseline (bare Starlette 200)": "",
            "ratio": "",
            "aim": f"p99 {fsync_p99:.1f} ms",
        },
        {
            "figure": f"receiver durable=True p50 ack latency at {RATE:.0f} events/s (ms)",
            "value": recv["open_p50_ms"],
            "baseline (bare Starlette 200)": bare["open_p50_ms"],
            "ratio": recv["open_p50_ms"] / bare["open_p50_ms"],
            "aim": "",
        },
        {
            "figure": "handle() direct, durable=True / synchronous=FULL (events/s)",
            "value": handle_full,
            "baseline (bare Starlette 200)": bare["throughput"],
            "ratio": handle_full / bare["throughput"],
            "aim": "",
        },
        {
            "figure": f"handle() from {CONNECTIONS} threads (group commit), durable=True (events/s)",
            "value": handle_threads,
            "baseline (bare Starlette 200)": bare["throughput"],
            "ratio": handle_threads / bare["throughput"],
            "aim": "",
        },
        {
            "figure": "handle() direct, durable=False / synchronous=NORMAL (events/s)",
            "value": handle_normal,
            "baseline (bare Starlette 200)": bare["throughput"],
            "ratio": handle_normal / bare["throughput"],
            "aim": "",
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke check, not figures)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from run_all import to_markdown

    print(to_markdown(run(quick=args.quick)))
    print(f"{os.cpu_count()} CPU(s); {CONNECTIONS} keep-alive connections; uvicorn in its own process")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
