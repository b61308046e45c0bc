"""MailIndex: stable ids, idempotent upserts, filters, tenant isolation, persistence."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from _rag_support import T0, make_message

from agentmail_tools._errors import InvalidRequestError
from retrieval import SHARED, MailIndex, MiniLMEmbeddingFunction


def test_stable_ids_and_idempotent_upserts(index: MailIndex) -> None:
    msgs = [make_message(f"m{i}", f"Body number {i} about invoices.", minutes=i) for i in range(5)]
    first = index.index_messages(msgs)
    assert (first.indexed, first.unchanged, first.chunks_written) == (5, 0, 5)
    ids = sorted(index.collection("messages", "mb-a").get(include=[])["ids"])
    assert ids == [f"msg:mb-a:m{i}:0" for i in range(5)]
    generation = index.generation
    again = index.index_messages(msgs)
    assert (again.indexed, again.unchanged, again.chunks_written) == (0, 5, 0)
    assert index.generation == generation  # nothing was written
    assert sorted(index.collection("messages", "mb-a").get(include=[])["ids"]) == ids


def test_changed_message_is_rewritten_and_stale_chunks_removed(embedder: MiniLMEmbeddingFunction) -> None:
    with MailIndex(embedding_function=embedder, chunk_tokens=30, chunk_overlap=5) as index:
        long_body = " ".join(f"Paragraph {i} explains the refund rules in detail." for i in range(20))
        index.index_message(make_message("m1", long_body))
        assert index.count("messages", mailbox_id="mb-a") > 3
        stats = index.index_message(make_message("m1", "Short now."))
        assert stats.indexed == 1 and stats.chunks_deleted > 0
        assert index.count("messages", mailbox_id="mb-a") == 1
        assert index.thread_messages("mb-a", "th-1")[0]["text"] == "Short now."


def test_long_message_chunks_rejoin_without_duplicated_overlap(embedder: MiniLMEmbeddingFunction) -> None:
    with MailIndex(embedding_function=embedder, chunk_tokens=30, chunk_overlap=10) as index:
        body = " ".join(f"Sentence {i} is unique." for i in range(40))
        index.index_message(make_message("m1", body))
        assert index.thread_messages("mb-a", "th-1")[0]["text"] == body


def test_metadata_and_and_filters(index: MailIndex) -> None:
    index.index_messages(
        [
            make_message("in1", "Where is my parcel?", sender="Dana@Example.com", minutes=0),
            make_message(
                "out1", "Your parcel ships today.", direction="OUTBOUND", sender="support@x.test", minutes=5
            ),
            make_message("in2", "Parcel arrived, thanks.", thread_id="th-2", minutes=60),
        ]
    )
    meta = index.collection("messages", "mb-a").get(ids=["msg:mb-a:in1:0"], include=["metadatas"])[
        "metadatas"
    ][0]
    assert {
        k: meta[k] for k in ("mailbox_id", "thread_id", "message_id", "direction", "from", "subject")
    } == {
        "mailbox_id": "mb-a",
        "thread_id": "th-1",
        "message_id": "in1",
        "direction": "INBOUND",
        "from": "dana@example.com",
        "subject": "Question",
    }
    assert meta["date"].startswith("2026-03-02T09:00")
    hits = index.query("mb-a", "parcel", k=10, where={"direction": "OUTBOUND"})
    assert [h.metadata["message_id"] for h in hits] == ["out1"]
    hits = index.query("mb-a", "parcel", k=10, thread_id="th-1", where={"direction": "INBOUND"})
    assert [h.metadata["message_id"] for h in hits] == ["in1"]
    hits = index.query("mb-a", "parcel", k=10, since=T0 + timedelta(minutes=1))
    assert {h.metadata["message_id"] for h in hits} == {"out1", "in2"}
    hits = index.query("mb-a", "parcel", k=10, until=T0 + timedelta(minutes=5))
    assert {h.metadata["message_id"] for h in hits} == {"in1", "out1"}


def test_mailbox_isolation(index: MailIndex) -> None:
    index.index_messages(
        [make_message(f"a{i}", f"Secret plan {i} of tenant A", mailbox_id="mb-a") for i in range(5)]
        + [make_message(f"b{i}", f"Secret plan {i} of tenant B", mailbox_id="mb-b") for i in range(5)]
    )
    index.add_document("Tenant A private pricing: 10% off.", source="a-pricing.md", mailbox_id="mb-a")
    index.add_note("Tenant A's customer is a VIP.", mailbox_id="mb-a")
    index.add_document("Everyone: support hours are 9-5.", source="hours.md")  # shared
    for query in ("Secret plan of tenant A", "private pricing", "VIP customer", "tenant A"):
        hits = index.query("mb-b", query, k=50, collections=("messages", "docs", "notes"))
        assert hits, query
        assert {h.metadata["mailbox_id"] for h in hits} <= {"mb-b", SHARED}
        assert not any("Tenant A" in h.text or "tenant A" in h.text for h in hits)
    # Crossing mailboxes takes an explicit call holding both ids.
    both = index.query_across(["mb-a", "mb-b"], "Secret plan", k=20)
    assert {h.metadata["mailbox_id"] for h in both} == {"mb-a", "mb-b"}
    twice = index.query_across(["mb-a", "mb-a"], "Secret plan", k=20)
    assert len({h.id for h in twice}) == len(twice) == 5  # named twice, searched once
    with pytest.raises(ValueError, match="non-empty list"):
        index.query_across([], "x")
    with pytest.raises(ValueError, match="non-empty list"):
        index.query_across("mb-a", "x")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", " ", "..", "a\nb", None, SHARED])
def test_queries_need_a_real_mailbox(index: MailIndex, bad: object) -> None:
    with pytest.raises((InvalidRequestError, ValueError)):
        index.query(bad, "anything")  # type: ignore[arg-type]


def test_bad_message_is_refused_and_nothing_is_lost(index: MailIndex) -> None:
    index.index_message(make_message("ok", "kept"))
    with pytest.raises(ValueError, match="no mailbox_id"):
        index.index_messages([make_message("m2", "x", mailbox_id=""), make_message("m3", "y")])
    with pytest.raises(ValueError, match="belongs to mailbox"):
        index.index_message(make_message("m4", "z", mailbox_id="mb-b"), mailbox_id="mb-a")
    with pytest.raises(ValueError, match="no id"):
        index.index_message({"mailboxId": "mb-a", "bodyText": "x"})
    assert index.count("messages") == 1


def test_documents_replace_by_source_and_notes_dedupe(index: MailIndex) -> None:
    index.add_document("# A\n\none\n\n# B\n\ntwo\n\n# C\n\nthree", source="doc.md", mailbox_id="mb-a")
    assert index.count("docs", mailbox_id="mb-a") == 3
    unchanged = index.add_document(
        "# A\n\none\n\n# B\n\ntwo\n\n# C\n\nthree", source="doc.md", mailbox_id="mb-a"
    )
    assert unchanged.chunks_written == 0 and unchanged.unchanged == 1
    shrunk = index.add_document("# A\n\none", source="doc.md", mailbox_id="mb-a")
    assert shrunk.chunks_deleted == 2
    hit = index.query("mb-a", "one", collections=("docs",), k=1)[0]
    assert hit.source_id == "doc:doc.md#0" and hit.metadata["section"] == "A"
    first = index.add_note("Prefers email over phone.", mailbox_id="mb-a")
    assert index.add_note("Prefers email over phone.", mailbox_id="mb-a") == first
    assert index.count("notes", mailbox_id="mb-a") == 1
    index.add_note("Now prefers phone.", mailbox_id="mb-a", note_id="contact-pref")
    index.add_note("Prefers chat.", mailbox_id="mb-a", note_id="contact-pref")
    assert index.count("notes", mailbox_id="mb-a") == 2
    assert index.delete_document("doc.md", mailbox_id="mb-a") == 1
    assert index.delete_mailbox("mb-a") == 2


def test_two_in_memory_indexes_are_separate(embedder: MiniLMEmbeddingFunction) -> None:
    with MailIndex(embedding_function=embedder) as one, MailIndex(embedding_function=embedder) as two:
        one.index_message(make_message("m1", "only in one"))
        assert two.count("messages") == 0


def test_persistent_index_survives_reopen(tmp_path: Path, embedder: MiniLMEmbeddingFunction) -> None:
    first = MailIndex(tmp_path / "rag", embedding_function=embedder)
    first.index_message(make_message("m1", "Persisted refund note"))
    del first
    reopened = MailIndex(tmp_path / "rag", embedding_function=embedder)
    assert reopened.index_message(make_message("m1", "Persisted refund note")).unchanged == 1
    assert reopened.query("mb-a", "refund", k=1)[0].metadata["message_id"] == "m1"


def test_path_and_client_are_exclusive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="either"):
        MailIndex(tmp_path, chroma_client=object())


def test_message_shapes_models_rest_and_event_data(index: MailIndex) -> None:
    from agentmail_tools import Message

    model = Message.model_validate(make_message("model", "From the typed model."))
    html_only = {**make_message("html", ""), "bodyHtml": "<p>Only <b>HTML</b> here</p>"}
    event_data = {
        "message_id": "event",
        "mailbox_id": "mb-a",
        "from": "Eve@Example.com",
        "subject": "From an event",
        "body_text": "Event payload body.",
        "thread_id": "th-1",
        "received_at": "2026-03-02T10:00:00Z",
    }
    assert index.index_messages([model, html_only, event_data]).indexed == 3
    by_id = {m["id"]: m for m in index.thread_messages("mb-a", "th-1")}
    assert by_id["model"]["text"] == "From the typed model."
    assert "Only HTML here" in by_id["html"]["text"].replace("**", "")
    assert by_id["event"]["from"] == "eve@example.com" and by_id["event"]["date"].startswith(
        "2026-03-02T10:00"
    )


def test_identical_texts_are_embedded_once() -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding

    class Counting(DeterministicFakeEmbedding):
        calls: list[int] = []

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            self.calls.append(len(texts))
            return super().embed_documents(texts)

    fake = Counting(size=16)
    with MailIndex(embedding_function=fake) as index:
        index.index_messages(
            [make_message(f"t{i}", "Thanks!", thread_id=f"t{i}", subject="") for i in range(10)]
        )
        assert fake.calls == [1]
        assert index.count("messages") == 10
        # Any LangChain Embeddings plugs in: queries use it too.
        assert index.query("mb-a", "Thanks!", k=3)[0].text == "Thanks!"


def test_each_mailbox_is_a_partition_of_its_own(index: MailIndex) -> None:
    odd = "Mailbox With Spaces/and:colons+ünïcode"  # any id the API allows, not a collection name
    index.index_messages(
        [make_message("a1", "Refund for order 1", mailbox_id="mb-a")]
        + [make_message("o1", "Refund for order 2", mailbox_id=odd)]
    )
    index.add_document("Refunds take 5 days.", source="refunds.md")  # shared with every mailbox
    # Structure, not filters: a mailbox's collection holds its own chunks and nothing else.
    assert index.collection("messages", "mb-a").get(include=[])["ids"] == ["msg:mb-a:a1:0"]
    assert index.collection("messages", odd).get(include=[])["ids"] == [f"msg:{odd}:o1:0"]
    assert index.count("messages") == 2 and index.count("messages", mailbox_id=odd) == 1
    [hit] = index.query(odd, "refund", k=5)
    assert hit.metadata["message_id"] == "o1"
    assert {h.collection for h in index.query(odd, "refund", k=5, collections=("messages", "docs"))} == {
        "messages",
        "docs",
    }
    # Dropping a mailbox drops its partitions; the other mailbox and the shared docs stay.
    assert index.delete_mailbox(odd) == 1
    assert index.query(odd, "refund", k=5) == [] and index.count("messages", mailbox_id=odd) == 0
    assert index.count("messages") == 1 and index.count("docs") == 1
    # A mailbox never written to has no partition and no hits, and reading creates none.
    before = len(index.chroma.list_collections())
    assert index.query("mb-new", "refund", k=5) == [] and index.thread_messages("mb-new", "t") == []
    assert len(index.chroma.list_collections()) == before


def test_a_partition_dropped_by_another_process_is_looked_up_again(
    embedder: MiniLMEmbeddingFunction,
) -> None:
    import chromadb

    shared = chromadb.EphemeralClient()
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    worker = MailIndex(chroma_client=shared, embedding_function=embedder, collection_prefix=prefix)
    admin = MailIndex(chroma_client=shared, embedding_function=embedder, collection_prefix=prefix)
    worker.index_message(make_message("m1", "Where is my refund?"))
    assert len(worker.query("mb-a", "refund")) == 1  # the worker now holds a handle
    assert admin.delete_mailbox("mb-a") == 1  # another process drops the mailbox
    assert worker.query("mb-a", "refund") == [] and worker.count("messages", mailbox_id="mb-a") == 0
    worker.index_message(make_message("m2", "Refund arrived, thanks"))  # and writes again
    assert [h.metadata["message_id"] for h in admin.query("mb-a", "refund")] == ["m2"]
    for name in admin._partition_names():
        shared.delete_collection(name)
