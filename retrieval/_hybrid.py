"""``HybridSearch``: keyword + vector search over a mailbox, fused with reciprocal rank fusion.

Keyword side: the backend's full-text search where it has one (the sandbox's FTS5 route,
``client.messages.search``), else BM25 over the indexed chunks. Vector side: the
:class:`MailIndex`. Each side ranks chunks; chunks are rolled up to messages (best chunk
wins) and the two rankings are fused with RRF (Cormack et al., 2009), which needs no score
calibration between BM25 and cosine.

BM25 is written here (40 lines) rather than taken from ``rank-bm25``: that package is
unmaintained, pulls no weight we need, and ours tokenises the same way as our snippets.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agentmail_tools._validation import check_id

from ._index import Hit, MailIndex
from ._records import to_datetime

__all__ = ["BM25", "HybridSearch", "SearchResult", "reciprocal_rank_fusion", "tokenize"]

logger = logging.getLogger("retrieval")

_TOKEN_RE = re.compile(r"[^\W_]+", re.UNICODE)
_STOPWORDS = frozenset(
    "a an and are as at be but by for from has have i if in into is it its me my no not of on or our so "
    "that the their them then there these they this to was we were what when where which who will with "
    "you your".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without stop words (what BM25 indexes and matches)."""
    return [t for t in _TOKEN_RE.findall(text.casefold()) if t not in _STOPWORDS]


class BM25:
    """Okapi BM25 over a fixed list of token lists.

    Args:
        documents: One token list per document.
        k1, b: The usual BM25 parameters.
    """

    def __init__(self, documents: Sequence[Sequence[str]], *, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.term_freqs = [Counter(doc) for doc in documents]
        self.lengths = [len(doc) for doc in documents]
        self.avg_length = (sum(self.lengths) / len(self.lengths)) if self.lengths else 0.0
        df: Counter[str] = Counter()
        for tf in self.term_freqs:
            df.update(tf.keys())
        n = len(documents)
        # The +1 inside the log keeps idf positive for terms in more than half the documents.
        self.idf = {term: math.log(1.0 + (n - f + 0.5) / (f + 0.5)) for term, f in df.items()}
        self.postings: dict[str, list[int]] = {}
        for i, tf in enumerate(self.term_freqs):
            for term in tf:
                self.postings.setdefault(term, []).append(i)

    def scores(self, query: Sequence[str]) -> dict[int, float]:
        """Scores of the documents that contain at least one query term."""
        out: dict[int, float] = {}
        for term in set(query):
            idf = self.idf.get(term)
            if idf is None:
                continue
            for i in self.postings[term]:
                tf = self.term_freqs[i][term]
                norm = 1.0 - self.b + self.b * self.lengths[i] / (self.avg_length or 1.0)
                out[i] = out.get(i, 0.0) + idf * tf * (self.k1 + 1.0) / (tf + self.k1 * norm)
        return out

    def top(self, query: Sequence[str], n: int) -> list[tuple[int, float]]:
        """The ``n`` best ``(document index, score)`` pairs, best first."""
        return sorted(self.scores(query).items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def reciprocal_rank_fusion(rankings: Iterable[Sequence[str]], *, k: int = 60) -> list[tuple[str, float]]:
    """Fuse ranked id lists: ``score(id) = sum(1 / (k + rank))``; best first, ties by first rank."""
    scores: dict[str, float] = {}
    first_seen: dict[str, int] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
            first_seen[key] = min(first_seen.get(key, rank), rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], first_seen[kv[0]], kv[0]))


@dataclass(frozen=True)
class SearchResult:
    """One message found by :class:`HybridSearch` (shaped like ``agentmail_tools._types.SearchMatch``)."""

    message_id: str
    thread_id: str | None
    score: float
    snippet: str
    subject: str = ""
    from_: str = ""
    created_at: datetime | None = None
    matched_by: tuple[str, ...] = field(default=())


def _snippet(text: str, terms: Sequence[str], width: int = 200) -> str:
    flat = " ".join(text.split())
    lowered = flat.casefold()
    positions = [p for p in (lowered.find(t) for t in terms) if p >= 0]
    start = max(0, min(positions) - width // 4) if positions else 0
    piece = flat[start : start + width]
    return ("…" if start else "") + piece + ("…" if start + width < len(flat) else "")


class HybridSearch:
    """Keyword + semantic search over one mailbox at a time; implements ``MessageSearch``.

    Example:
        >>> search = HybridSearch(index, client=client)  # the sandbox's FTS5 + vectors  # doctest: +SKIP
        >>> search = HybridSearch(index)  # BM25 + vectors, offline  # doctest: +SKIP
        >>> for r in search.search(mailbox_id, "refund double charge", limit=5): print(r.message_id, r.snippet)  # doctest: +SKIP

    Args:
        index: The :class:`MailIndex` holding the mailbox's messages (vectors and BM25 text).
        client: A ``MailClient`` whose ``messages.search`` (the sandbox's full-text route) is
            used for the keyword side; the hosted API answers 404 and BM25 takes over.
        keyword: ``"auto"`` (backend when available, else BM25), ``"bm25"`` or ``"backend"``.
        candidates: How many chunks each side ranks before fusion.
        rrf_k: The RRF constant.
    """

    def __init__(
        self,
        index: MailIndex,
        *,
        client: Any | None = None,
        keyword: str = "auto",
        candidates: int = 50,
        rrf_k: int = 60,
    ) -> None:
        if keyword not in ("auto", "bm25", "backend"):
            msg = f"keyword must be 'auto', 'bm25' or 'backend', not {keyword!r}"
            raise ValueError(msg)
        if keyword == "backend" and client is None:
            msg = "keyword='backend' needs client="
            raise ValueError(msg)
        self.index = index
        self.client = client
        self.keyword = keyword
        self.candidates = candidates
        self.rrf_k = rrf_k
        self._backend_available = client is not None and keyword != "bm25"
        self._bm25: dict[str, tuple[int, BM25, list[Hit]]] = {}
        self._lock = threading.Lock()

    # -- keyword sides --------------------------------------------------------------------

    def _bm25_for(self, mailbox_id: str) -> tuple[BM25, list[Hit]]:
        with self._lock:
            cached = self._bm25.get(mailbox_id)
            if cached is not None and cached[0] == self.index.generation:
                return cached[1], cached[2]
        chunks = self.index.get_messages(mailbox_id)
        model = BM25([tokenize(f"{h.metadata.get('subject', '')} {h.text}") for h in chunks])
        with self._lock:
            self._bm25[mailbox_id] = (self.index.generation, model, chunks)
        return model, chunks

    def _keyword_bm25(self, mailbox_id: str, query: str, keep: Any) -> list[Hit]:
        model, chunks = self._bm25_for(mailbox_id)
        ranked = [
            chunks[i]
            for i, _ in sorted(model.scores(tokenize(query)).items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        return [h for h in ranked if keep(h.metadata)][: self.candidates]

    def _keyword_backend(self, mailbox_id: str, query: str, keep: Any, filtered: bool) -> list[Hit] | None:
        from agentmail_tools._errors import NotFoundError

        try:
            results = self.client.messages.search(mailbox_id, query, limit=min(self.candidates, 100))  # type: ignore[union-attr]
        except NotFoundError:
            if self.keyword == "backend":
                raise
            logger.info("backend has no full-text search (404); using BM25 over the index")
            self._backend_available = False
            return None
        hits: list[Hit] = []
        ids = [h.message_id for h in results.hits]
        known: dict[str, dict[str, Any]] = {}
        if ids:
            for h in self.index.get_messages(mailbox_id, where={"message_id": {"$in": ids}}):
                known.setdefault(str(h.metadata["message_id"]), h.metadata)
        for h in results.hits:
            meta = known.get(h.message_id)
            if meta is None:
                if filtered:
                    continue  # not indexed yet: its metadata cannot be checked against the filters
                meta = {
                    "message_id": h.message_id,
                    "thread_id": h.thread_id,
                    "subject": h.subject,
                    "from": getattr(h, "from_", ""),
                    "date": h.created_at.isoformat() if h.created_at else "",
                }
            elif not keep(meta):
                continue
            hits.append(
                Hit(
                    id=f"fts:{h.message_id}",
                    collection="messages",
                    text=h.snippet,
                    metadata=dict(meta),
                    distance=0.0,
                )
            )
        return hits

    # -- the protocol ---------------------------------------------------------------------

    def search(
        self,
        mailbox_id: str,
        query: str,
        *,
        limit: int = 10,
        thread_id: str | None = None,
        sender: str | None = None,
        direction: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[SearchResult]:
        """Messages of ``mailbox_id`` matching ``query`` by keywords and meaning, best first.

        Filters (all optional, combined with AND): ``thread_id``, ``sender`` (address, case-
        insensitive), ``direction`` (``INBOUND``/``OUTBOUND``), ``since``/``until`` (inclusive).
        """
        check_id(mailbox_id, "mailbox_id")
        if limit < 1 or not query.strip():
            return []
        conds: dict[str, Any] = {}
        if thread_id is not None:
            conds["thread_id"] = thread_id
        if sender is not None:
            conds["from"] = sender.strip().lower()
        if direction is not None:
            conds["direction"] = direction.upper()
        lo = to_datetime(since).timestamp() if since is not None else None  # type: ignore[union-attr]
        hi = to_datetime(until).timestamp() if until is not None else None  # type: ignore[union-attr]

        def keep(meta: Mapping[str, Any]) -> bool:
            if any(meta.get(key) != value for key, value in conds.items()):
                return False
            ts = float(meta.get("ts", 0) or 0)
            return (lo is None or ts >= lo) and (hi is None or ts <= hi)

        filtered = bool(conds) or lo is not None or hi is not None
        keyword_hits: list[Hit] | None = None
        matched_kw = "bm25"
        if self._backend_available:
            keyword_hits = self._keyword_backend(mailbox_id, query, keep, filtered)
            matched_kw = "fulltext"
        if keyword_hits is None:
            keyword_hits = self._keyword_bm25(mailbox_id, query, keep)
            matched_kw = "bm25"
        vector_hits = self.index.query(
            mailbox_id,
            query,
            k=self.candidates,
            where=_where(conds),
            thread_id=thread_id,
            since=since,
            until=until,
        )
        vector_hits = [h for h in vector_hits if keep(h.metadata)]
        best: dict[str, Hit] = {}
        sides: dict[str, set[str]] = {}
        rankings = []
        for side, hits in ((matched_kw, keyword_hits), ("vector", vector_hits)):
            ranking: list[str] = []
            for h in hits:
                mid = str(h.metadata.get("message_id", h.id))
                if mid in ranking:
                    continue
                ranking.append(mid)
                sides.setdefault(mid, set()).add(side)
                if mid not in best or (side == "vector" and best[mid].id.startswith("fts:")):
                    best[mid] = h
            rankings.append(ranking)
        terms = tokenize(query)
        out = []
        for mid, score in reciprocal_rank_fusion(rankings, k=self.rrf_k)[:limit]:
            h = best[mid]
            meta = h.metadata
            out.append(
                SearchResult(
                    message_id=mid,
                    thread_id=meta.get("thread_id"),
                    score=round(score, 6),
                    snippet=h.text if h.id.startswith("fts:") else _snippet(h.text, terms),
                    subject=str(meta.get("subject", "")),
                    from_=str(meta.get("from", "")),
                    created_at=to_datetime(meta.get("date")),
                    matched_by=tuple(sorted(sides[mid])),
                )
            )
        return out


def _where(conds: Mapping[str, Any]) -> dict[str, Any] | None:
    from ._index import where_all

    return where_all(*({k: v} for k, v in conds.items() if k != "thread_id"))
