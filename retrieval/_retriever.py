"""``MailRetriever``: a LangChain retriever over one mailbox's mail, documents and notes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from ._index import Hit, MailIndex, note_applies

__all__ = ["MailRetriever", "build_query", "drop_near_duplicates", "fit_budget", "mmr_select", "relevant_mmr"]

# Shares of the embedding model's window when a query is assembled from several parts:
# the inbound text says most about what to look up, the task and summary steer it.
_QUERY_PARTS = (("inbound", 140), ("task", 40), ("summary", 60))


def build_query(inbound: str, summary: str | None = None, task: str | None = None) -> str:
    """The retrieval query for a reply: the inbound message, the task and the thread summary.

    Each part is stripped of quoted history and cut to its share of the embedding model's
    window (MiniLM reads 256 word pieces), the inbound message first.
    """
    from agentmail_tools._quoting import strip_quoted
    from agentmail_tools._tokens import truncate_to_tokens

    parts = {"inbound": strip_quoted(inbound or ""), "task": task or "", "summary": summary or ""}
    out = [
        truncate_to_tokens(parts[name].strip(), limit) for name, limit in _QUERY_PARTS if parts[name].strip()
    ]
    return "\n".join(out)


def _normalise(text: str) -> str:
    return re.sub(r"\W+", " ", text.casefold()).strip()


def _unit(vectors: Any) -> Any:
    import numpy as np

    arr = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.maximum(norms, 1e-12)


def drop_near_duplicates(hits: Sequence[Hit], threshold: float = 0.95) -> list[Hit]:
    """Keep the best-ranked of any hits whose texts are equal or whose vectors are this close.

    The same paragraph arrives in several messages (a quoted reply that escaped stripping, a
    template answer sent twice); showing it once leaves room for something new.
    """
    kept: list[Hit] = []
    seen_texts: set[str] = set()
    kept_vectors: list[Any] = []
    for hit in hits:
        norm = _normalise(hit.text)
        if norm in seen_texts:
            continue
        if hit.embedding is not None and kept_vectors:
            import numpy as np

            vec = _unit([hit.embedding])[0]
            if float(np.max(np.stack(kept_vectors) @ vec)) >= threshold:
                continue
            kept_vectors.append(vec)
        elif hit.embedding is not None:
            kept_vectors.append(_unit([hit.embedding])[0])
        seen_texts.add(norm)
        kept.append(hit)
    return kept


def mmr_select(
    query_vector: Sequence[float], hits: Sequence[Hit], k: int, lambda_mult: float = 0.6
) -> list[Hit]:
    """Maximal marginal relevance: relevant to the query, unlike what was already picked.

    Uses ``langchain_core``'s implementation; hits without vectors keep their rank order.
    """
    if k <= 0 or not hits:
        return []
    if any(h.embedding is None for h in hits):
        return list(hits[:k])
    import numpy as np
    from langchain_core.vectorstores.utils import maximal_marginal_relevance

    order = maximal_marginal_relevance(
        np.asarray(query_vector, dtype=np.float32),
        [h.embedding for h in hits if h.embedding is not None],
        lambda_mult=lambda_mult,
        k=min(k, len(hits)),
    )
    return [hits[i] for i in order]


def relevant_mmr(
    query_vector: Sequence[float],
    hits: Sequence[Hit],
    k: int,
    lambda_mult: float = 0.6,
    min_relative_score: float = 0.6,
) -> list[Hit]:
    """MMR among the hits that are relevant enough, then the best of the rest by rank.

    Plain MMR trades relevance for diversity with no floor, so a barely related chunk can
    displace a strong one just for being different. Here only hits scoring at least
    ``min_relative_score`` times the best hit's score compete for diversity; if fewer than
    ``k`` qualify, the remaining places go to the next hits in rank order.
    """
    if k <= 0 or not hits:
        return []
    best = max(h.score for h in hits)
    floor = best * min_relative_score if best > 0 else float("-inf")
    strong = [h for h in hits if h.score >= floor]
    chosen = mmr_select(query_vector, strong, k, lambda_mult)
    if len(chosen) < k:
        ids = {h.id for h in chosen}
        chosen += [h for h in hits if h.id not in ids][: k - len(chosen)]
    return chosen


def fit_budget(docs: Sequence[Document], budget: int | None, model: str | None = None) -> list[Document]:
    """Keep documents in order while their texts fit ``budget`` tokens in total.

    A document that does not fit is skipped (a later, shorter one may still fit); the sum of
    the kept texts' token counts never exceeds the budget.
    """
    if budget is None:
        return list(docs)
    from agentmail_tools._tokens import count_tokens

    kept, used = [], 0
    for doc in docs:
        cost = count_tokens(doc.page_content, model)
        if used + cost <= budget:
            kept.append(doc)
            used += cost
    return kept


def _document(hit: Hit) -> Document:
    meta = dict(hit.metadata)
    meta.update(
        {"id": hit.id, "source_id": hit.source_id, "collection": hit.collection, "score": round(hit.score, 4)}
    )
    meta.pop("hash", None)
    return Document(id=hit.id, page_content=hit.text, metadata=meta)


class MailRetriever(BaseRetriever):
    """Retrieves mail, policy documents and notes for one mailbox, diverse and within budget.

    Every search is scoped to ``mailbox_id`` by :class:`~retrieval.MailIndex`. Candidates are
    fetched (``fetch_k`` per collection), near-duplicates dropped, ``k`` picked by MMR among
    the hits scoring at least ``min_relative_score`` times the best one (diversity never
    buys a barely related chunk a place over a strong one), and the result cut to
    ``token_budget``. ``thread_id`` picks the thread whose rolling summary
    joins the query; with ``restrict_to_thread=True`` messages come from that thread only
    (by default similar past threads of the same mailbox are searched too).

    Instantiate:
        >>> retriever = MailRetriever(index=index, mailbox_id=mailbox.id, k=4, token_budget=800)  # doctest: +SKIP

    Use:
        >>> docs = retriever.invoke("Can I get a refund for the double charge?")  # doctest: +SKIP
        >>> docs = retriever.invoke(query, k=2, thread_id=thread.id, task="draft a reply")  # doctest: +SKIP
        >>> docs = await retriever.ainvoke(query)  # doctest: +SKIP

    Each ``Document`` carries ``source_id`` (``msg:…``, ``doc:…#n``, ``note:…``) for citations,
    the ``collection``, the cosine ``score`` and the chunk's metadata. ``invoke`` accepts
    ``k``, ``thread_id``, ``task``, ``summary``, ``token_budget`` and ``customer`` as per-call
    overrides. Notes tied to one customer (``metadata={"customer": address}``) are returned
    only when ``customer`` is that address.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: MailIndex
    mailbox_id: str
    k: int = Field(default=4, ge=1)
    fetch_k: int = Field(default=20, ge=1)
    collections: tuple[str, ...] = ("messages", "docs", "notes")
    thread_id: str | None = None
    restrict_to_thread: bool = False
    task: str | None = None
    summaries: Any | None = None
    use_mmr: bool = True
    lambda_mult: float = Field(default=0.6, ge=0.0, le=1.0)
    min_relative_score: float = Field(default=0.6, ge=0.0, le=1.0)
    duplicate_threshold: float = Field(default=0.95, gt=0.0, le=1.0)
    token_budget: int | None = Field(default=None, ge=0)
    token_model: str | None = None
    customer: str | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun | None = None, **kwargs: Any
    ) -> list[Document]:
        unknown = set(kwargs) - {"k", "thread_id", "task", "summary", "token_budget", "customer"}
        if unknown:
            msg = f"unknown retriever arguments: {sorted(unknown)}"
            raise TypeError(msg)
        k = int(kwargs.get("k", self.k))
        thread_id = kwargs.get("thread_id", self.thread_id)
        budget = kwargs.get("token_budget", self.token_budget)
        summary = kwargs.get("summary")
        if summary is None and self.summaries is not None and thread_id is not None:
            stored = self.summaries.get(self.mailbox_id, thread_id)
            summary = stored.text if stored is not None else None
        text = build_query(query, summary, kwargs.get("task", self.task))
        if not text:
            return []
        vector = self.index.embedder.embed_query(text)
        hits = self.index.query(
            self.mailbox_id,
            text,
            k=max(self.fetch_k, k),
            collections=self.collections,  # type: ignore[arg-type]
            thread_id=thread_id if self.restrict_to_thread else None,
            include_embeddings=True,
            query_embedding=vector,
        )
        customer = kwargs.get("customer", self.customer)
        # A note tied to one customer is never retrieved for anyone else (see ContextBuilder).
        hits = [h for h in hits if h.collection != "notes" or note_applies(h.metadata, customer)]
        hits = drop_near_duplicates(hits, self.duplicate_threshold)
        if self.use_mmr:
            chosen = relevant_mmr(vector, hits, k, self.lambda_mult, self.min_relative_score)
        else:
            chosen = hits[:k]
        return fit_budget([_document(h) for h in chosen], budget, self.token_model)
