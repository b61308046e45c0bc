"""Scale path: the same MailIndex code on a real ``chroma run`` server on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _rag_support import make_message

from retrieval import ContextBuilder, HybridSearch, MailIndex, MailRetriever, MiniLMEmbeddingFunction

pytestmark = pytest.mark.integration


def _chroma_cli() -> str | None:
    candidate = Path(sys.executable).with_name("chroma")
    return str(candidate) if candidate.exists() else shutil.which("chroma")


def _listening_port(pid: int) -> int | None:
    """The TCP port ``pid`` listens on (Linux /proc): the server is started on port 0."""
    try:
        inodes = {
            os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1]
            for fd in os.listdir(f"/proc/{pid}/fd")
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")
        }
    except OSError:
        return None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A = LISTEN
                return int(fields[1].rsplit(":", 1)[1], 16)
    return None


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    cli = _chroma_cli()
    if cli is None or not Path("/proc/self/fd").exists():
        pytest.skip("needs the chroma CLI from the chromadb package and Linux /proc")
    import chromadb

    data = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen(
        [cli, "run", "--path", str(data), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    try:
        deadline = time.monotonic() + 30
        client = None
        while time.monotonic() < deadline and proc.poll() is None:
            port = _listening_port(proc.pid)
            if port:
                try:
                    client = chromadb.HttpClient(host="127.0.0.1", port=port)
                    client.heartbeat()
                    break
                except Exception:  # noqa: BLE001 - not ready yet
                    client = None
            time.sleep(0.1)
        if client is None:
            pytest.fail("chroma server did not come up within 30 s")
        yield client
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _exercise(index: MailIndex) -> dict[str, Any]:
    msgs = [
        make_message(
            f"m{i}", f"Order {i} arrived damaged, please replace it.", thread_id=f"t{i % 2}", minutes=i
        )
        for i in range(6)
    ]
    msgs.append(make_message("x", "Other tenant damaged order", mailbox_id="mb-b"))
    first = index.index_messages(msgs)
    again = index.index_messages(msgs)
    index.add_document("# Damage\n\nDamaged items are replaced free of charge.", source="damage.md")
    hits = index.query("mb-a", "broken delivery", k=3, collections=("messages", "docs"))
    docs = MailRetriever(index=index, mailbox_id="mb-a", k=2).invoke("damaged order")
    ctx = ContextBuilder(index, budget_tokens=300).build("mb-a", msgs[0])
    search = HybridSearch(index).search("mb-a", "damaged", limit=3, thread_id="t1")
    return {
        "first": (first.indexed, first.chunks_written),
        "again": (again.indexed, again.unchanged),
        "hit_mailboxes": {h.metadata["mailbox_id"] for h in hits},
        "docs": len(docs),
        "ctx_ok": ctx.tokens <= 300 and "doc:damage.md#0" in ctx.source_ids,
        "search_threads": {r.thread_id for r in search},
    }


def test_same_code_on_server_and_embedded(
    chroma_server: Any, tmp_path: Path, embedder: MiniLMEmbeddingFunction
) -> None:
    server = MailIndex(chroma_client=chroma_server, embedding_function=embedder, collection_prefix="it_")
    embedded = MailIndex(tmp_path / "embedded", embedding_function=embedder)
    on_server, on_disk = _exercise(server), _exercise(embedded)
    assert on_server == on_disk
    assert on_server["first"] == (7, 7) and on_server["again"] == (0, 7)
    assert on_server["hit_mailboxes"] <= {"mb-a", "__shared__"}
    assert on_server["search_threads"] == {"t1"}
    assert on_server["ctx_ok"]
    # The data is really on the server: a fresh index object over the same collections sees it.
    reopened = MailIndex(chroma_client=chroma_server, embedding_function=embedder, collection_prefix="it_")
    assert reopened.count("messages", mailbox_id="mb-a") == 6
