"""HybridSearch: BM25 + vectors fused with RRF, the sandbox's full-text search, filters, MessageSearch."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from _rag_support import T0, make_message

from agentmail_tools._types import MessageSearch
from retrieval import BM25, HybridSearch, MailIndex, reciprocal_rank_fusion
from retrieval._hybrid import tokenize


def _seed(index: MailIndex) -> None:
    index.index_messages(
        [
            make_message(
                "inv",
                "Invoice INV-2291 was paid twice.",
                subject="Billing",
                sender="ann@example.com",
                minutes=0,
            ),
            make_message(
                "money",
                "I would like my money back for the duplicate payment.",
                subject="Help",
                thread_id="th-2",
                minutes=10,
            ),
            make_message(
                "ship",
                "Where is my parcel? Tracking says nothing.",
                subject="Parcel",
                thread_id="th-3",
                minutes=20,
            ),
            make_message(
                "reply",
                "We refunded INV-2291 today.",
                subject="Re: Billing",
                direction="OUTBOUND",
                sender="support@x.test",
                minutes=30,
            ),
            make_message("other", "Invoice INV-2291 belongs to another tenant", mailbox_id="mb-b"),
        ]
    )


def test_bm25_ranks_rare_terms_higher() -> None:
    docs = [
        tokenize(t)
        for t in ("the refund policy", "refund refund refund", "shipping policy", "INV-2291 refund")
    ]
    model = BM25(docs)
    top = model.top(tokenize("INV-2291 refund"), 2)
    assert top[0][0] == 3
    assert model.scores(tokenize("nothing matches")) == {}
    assert tokenize("The INV-2291, déjà!") == ["inv", "2291", "déjà"]


def test_rrf() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "c", "d"]], k=60)
    # b: 1/62 + 1/61, c: 1/63 + 1/62, a: 1/61, d: 1/63
    assert [key for key, _ in fused] == ["b", "c", "a", "d"]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)
    assert reciprocal_rank_fusion([]) == []


def test_hybrid_finds_exact_ids_and_paraphrases(index: MailIndex) -> None:
    _seed(index)
    search = HybridSearch(index)
    assert isinstance(search, MessageSearch)
    exact = search.search("mb-a", "INV-2291", limit=2)
    assert {r.message_id for r in exact} == {"inv", "reply"}
    assert all("bm25" in r.matched_by for r in exact)
    meaning = search.search("mb-a", "refund for a double charge", limit=2)
    assert {"money", "inv"} & {r.message_id for r in meaning}
    hit = exact[0]
    assert hit.thread_id == "th-1" and hit.snippet and hit.created_at is not None and hit.score > 0


def test_filters_and_scope(index: MailIndex) -> None:
    _seed(index)
    search = HybridSearch(index)
    assert [r.message_id for r in search.search("mb-a", "INV-2291", direction="outbound")] == ["reply"]
    assert [r.message_id for r in search.search("mb-a", "INV-2291", sender="ANN@example.com")] == ["inv"]
    assert {r.message_id for r in search.search("mb-a", "payment", thread_id="th-2")} == {"money"}
    later = search.search("mb-a", "invoice parcel money", since=T0 + timedelta(minutes=15))
    assert {r.message_id for r in later} <= {"ship", "reply"}
    earlier = search.search("mb-a", "invoice parcel money", until=T0 + timedelta(minutes=5))
    assert {r.message_id for r in earlier} == {"inv"}
    assert all(r.message_id != "other" for r in search.search("mb-a", "another tenant INV-2291", limit=10))
    assert search.search("mb-a", "   ") == []


def test_bm25_cache_follows_writes(index: MailIndex) -> None:
    _seed(index)
    search = HybridSearch(index)
    assert all("bm25" not in r.matched_by for r in search.search("mb-a", "zebra"))
    index.index_message(make_message("zebra", "A zebra crossing near the depot.", thread_id="th-9"))
    assert "bm25" in search.search("mb-a", "zebra", limit=1)[0].matched_by


def test_sandbox_full_text_search_is_used(index: MailIndex) -> None:
    sandbox_mod = pytest.importorskip("agentmail_tools.sandbox")
    with sandbox_mod.Sandbox() as sb:
        client = sb.client()
        box = client.mailboxes.create("support")
        sb.inject(
            {
                "from": "a@example.com",
                "to": box.full_address,
                "subject": "Invoice",
                "bodyText": "Invoice INV-77 paid twice",
            }
        )
        sb.inject(
            {"from": "b@example.com", "to": box.full_address, "subject": "Parcel", "bodyText": "Parcel lost"}
        )
        from retrieval import sync_mailbox

        sync_mailbox(client, index, box.id)
        results = HybridSearch(index, client=client).search(box.id, "INV-77", limit=2)
        assert results[0].subject == "Invoice"
        assert "fulltext" in results[0].matched_by


def test_hosted_api_without_search_falls_back_to_bm25(index: MailIndex) -> None:
    from agentmail_tools import MailClient

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": "Not found", "code": "NOT_FOUND"})

    _seed(index)
    client = MailClient(
        api_key="k",
        base_url="https://api.robotomail.com/v1",
        transport=httpx.MockTransport(handler),
        max_retries=0,
    )
    search = HybridSearch(index, client=client)
    results = search.search("mb-a", "INV-2291", limit=1)
    assert "bm25" in results[0].matched_by
    strict = HybridSearch(index, client=client, keyword="backend")
    from agentmail_tools._errors import NotFoundError

    with pytest.raises(NotFoundError):
        strict.search("mb-a", "INV-2291")


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"keyword": "grep"}, "keyword"), ({"keyword": "backend"}, "client")]
)
def test_bad_configuration(index: MailIndex, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        HybridSearch(index, **kwargs)
