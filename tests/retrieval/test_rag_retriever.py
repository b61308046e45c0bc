"""MailRetriever: the LangChain standard suite, MMR, near-duplicates and the token budget."""

from __future__ import annotations

from typing import Any

import pytest
from _rag_support import make_message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests

from agentmail_tools._tokens import count_tokens
from retrieval import MailIndex, MailRetriever, ThreadSummaries, build_query
from retrieval._index import Hit
from retrieval._retriever import drop_near_duplicates, fit_budget, mmr_select, relevant_mmr


def _seed(index: MailIndex) -> None:
    index.index_messages(
        [
            make_message(
                "m1", "I was charged twice for my March invoice, please refund one.", subject="Double charge"
            ),
            make_message("m2", "Our refund went through, thank you.", subject="Refund", thread_id="th-2"),
            make_message("m3", "When does my order ship to Canada?", subject="Shipping", thread_id="th-3"),
            make_message("m4", "How do I reset my password?", subject="Login", thread_id="th-4"),
            make_message(
                "x1", "Other tenant: refund my double charge", mailbox_id="mb-other", thread_id="t-x"
            ),
        ]
    )
    index.add_document(
        "# Refunds\n\nDuplicate charges are refunded within 5 business days.\n\n# Shipping\n\nWe ship to Canada in 7 days.",
        source="policy.md",
    )
    index.add_note("Dana is on the annual plan.", mailbox_id="mb-a")


class TestMailRetrieverStandard(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _index(self, index: MailIndex) -> None:
        _seed(index)
        self._ix = index

    @property
    def retriever_constructor(self) -> type[MailRetriever]:
        return MailRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"index": self._ix, "mailbox_id": "mb-a", "k": 2}

    @property
    def retriever_query_example(self) -> str:
        return "refund for a double charge"


def test_results_are_scoped_labelled_and_relevant(index: MailIndex) -> None:
    _seed(index)
    docs = MailRetriever(index=index, mailbox_id="mb-a", k=4).invoke(
        "Can I get my money back for the duplicate charge?"
    )
    assert all(isinstance(d, Document) for d in docs)
    ids = [d.metadata["source_id"] for d in docs]
    assert "msg:x1" not in ids
    assert {"msg:m1", "doc:policy.md#0"} <= set(ids)
    assert all(d.metadata["collection"] in ("messages", "docs", "notes") for d in docs)
    only_msgs = MailRetriever(index=index, mailbox_id="mb-a", k=3, collections=("messages",)).invoke("refund")
    assert {d.metadata["collection"] for d in only_msgs} == {"messages"}
    in_thread = MailRetriever(
        index=index, mailbox_id="mb-a", k=3, collections=("messages",), restrict_to_thread=True
    )
    assert [d.metadata["message_id"] for d in in_thread.invoke("anything", thread_id="th-3")] == ["m3"]


def test_unknown_invoke_arguments_are_refused(index: MailIndex) -> None:
    with pytest.raises(TypeError, match="unknown retriever arguments"):
        MailRetriever(index=index, mailbox_id="mb-a").invoke("q", colour="red")


def test_near_duplicates_are_removed(index: MailIndex) -> None:
    same = "Please refund the duplicate charge on invoice 1042."
    index.index_messages([make_message(f"d{i}", same, thread_id=f"t{i}", subject="Refund") for i in range(4)])
    index.index_message(
        make_message("other", "Refund status for invoice 1042 is pending.", thread_id="t9", subject="Refund")
    )
    docs = MailRetriever(index=index, mailbox_id="mb-a", k=3, collections=("messages",)).invoke(
        "refund invoice 1042"
    )
    texts = [d.page_content for d in docs]
    assert texts.count(same) == 1
    assert len(docs) == 2


def test_near_duplicate_by_vector() -> None:
    a = Hit("1", "messages", "alpha", {}, 0.1, [1.0, 0.0])
    b = Hit("2", "messages", "beta", {}, 0.2, [0.999, 0.01])
    c = Hit("3", "messages", "gamma", {}, 0.3, [0.0, 1.0])
    assert [h.id for h in drop_near_duplicates([a, b, c], 0.95)] == ["1", "3"]


def test_diversity_never_buys_a_weak_hit_a_place_over_a_strong_one() -> None:
    # Two strong hits that say nearly the same thing, one diverse but barely related hit.
    strong_a = Hit("a", "docs", "refund to card", {}, 0.45, [1.0, 0.0, 0.0])
    strong_b = Hit("b", "docs", "refund to the card", {}, 0.48, [0.9, 0.436, 0.0])
    weak = Hit("w", "docs", "reset your password", {}, 0.80, [0.0, 0.0, 1.0])
    query = [0.9, 0.3, 0.1]
    hits = [strong_a, strong_b, weak]
    plain = [h.id for h in mmr_select(query, hits, 2, lambda_mult=0.3)]
    assert "w" in plain  # plain MMR takes the unrelated chunk for its difference
    assert {h.id for h in relevant_mmr(query, hits, 2, lambda_mult=0.3)} == {"a", "b"}
    # Fewer strong hits than k: the rest is filled in rank order, never dropped.
    assert [h.id for h in relevant_mmr(query, hits, 3, lambda_mult=0.3)][2] == "w"
    assert relevant_mmr(query, [], 3) == []


def test_mmr_prefers_diversity(index: MailIndex) -> None:
    index.index_messages(
        [
            make_message(
                f"r{i}", f"Refund request number {i}: please refund my order {i}.", thread_id=f"r{i}"
            )
            for i in range(5)
        ]
        + [make_message("s1", "Refund and shipping: can you also ship the replacement?", thread_id="s1")]
    )
    plain = MailRetriever(
        index=index, mailbox_id="mb-a", k=3, use_mmr=False, collections=("messages",), duplicate_threshold=1.0
    )
    diverse = MailRetriever(
        index=index,
        mailbox_id="mb-a",
        k=3,
        lambda_mult=0.3,
        collections=("messages",),
        duplicate_threshold=1.0,
    )
    assert len(plain.invoke("refund")) == 3
    assert "s1" in {d.metadata["message_id"] for d in diverse.invoke("refund")}


def test_query_combines_inbound_summary_and_task(index: MailIndex) -> None:
    q = build_query(
        "Is it done?\n\nOn Mon, Jan 5, 2026 at 9:00 AM A <a@x.com> wrote:\n> old",
        "Customer asked for a refund.",
        "reply",
    )
    assert q.splitlines() == ["Is it done?", "reply", "Customer asked for a refund."]
    assert build_query("") == ""
    _seed(index)
    summaries = ThreadSummaries()
    summaries.update("mb-a", "th-1", index.thread_messages("mb-a", "th-1"))
    retriever = MailRetriever(
        index=index, mailbox_id="mb-a", k=1, collections=("docs",), summaries=summaries, thread_id="th-1"
    )
    # "Is it done?" alone says nothing; the thread summary steers it to the refund policy.
    assert retriever.invoke("Is it done?")[0].metadata["section"] == "Refunds"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.integers(0, 120))
def test_budget_is_never_exceeded(index: MailIndex, budget: int) -> None:
    if index.count("messages") == 0:
        _seed(index)
    docs = MailRetriever(index=index, mailbox_id="mb-a", k=6, token_budget=budget).invoke(
        "refund shipping password"
    )
    assert sum(count_tokens(d.page_content) for d in docs) <= budget


@given(sizes=st.lists(st.integers(0, 60), max_size=12), budget=st.integers(0, 200))
def test_fit_budget_property(sizes: list[int], budget: int) -> None:
    docs = [Document(page_content=" ".join(["word"] * n), id=str(i)) for i, n in enumerate(sizes)]
    kept = fit_budget(docs, budget)
    assert sum(count_tokens(d.page_content) for d in kept) <= budget
    positions = [int(d.id or 0) for d in kept]
    assert positions == sorted(positions)  # order preserved
    assert fit_budget(docs, None) == docs


def test_a_note_about_one_customer_is_retrieved_only_for_that_customer(index: MailIndex) -> None:
    index.add_note(
        "Li Wei was refunded twice in March.", mailbox_id="mb-a", metadata={"customer": "li@example.com"}
    )
    index.add_note("Refunds over $500 need a manager.", mailbox_id="mb-a")
    retriever = MailRetriever(index=index, mailbox_id="mb-a", k=5, collections=("notes",))
    anyone = " ".join(d.page_content for d in retriever.invoke("refund history"))
    assert "manager" in anyone and "Li Wei" not in anyone
    for_li = " ".join(d.page_content for d in retriever.invoke("refund history", customer="LI@example.com"))
    assert "Li Wei" in for_li
