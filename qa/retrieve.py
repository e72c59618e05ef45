"""Hybrid retrieval: dense (Chroma) and BM25, fused by reciprocal rank, with dates.

``as_of`` hides articles published after it (undated ones stay visible) and
adds a small bonus for articles published shortly before it: news questions
are about what happened recently, and the gold article of a RealTimeQA
question is a median two days older than the question.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, replace

from .dates import UNDATED, to_days
from .index import Index, Stored
from .types import Passage

_TIME_WORDS = re.compile(
    r"\b(this (week|month|year|weekend)|last (week|month|weekend)|recent(ly)?|latest|newest|today|yesterday|"
    r"now|current(ly)?|just|new|so far|upcoming|announced|will)\b",
    re.I,
)


@dataclass
class Filters:
    as_of: dt.date | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    sources: list[str] | None = None

    @property
    def max_days(self) -> int | None:
        days = [to_days(d) for d in (self.as_of, self.until) if d is not None]
        return min(days) if days else None

    @property
    def min_days(self) -> int | None:
        return to_days(self.since) if self.since else None

    def chroma_where(self) -> dict | None:
        clauses = []
        if self.max_days is not None:
            # an explicit `until` is a range the user asked for: undated articles fall outside it
            if self.until is None:
                clauses.append({"$or": [{"published_days": {"$lte": self.max_days}}, {"published_days": {"$eq": UNDATED}}]})
            else:
                clauses.append({"published_days": {"$lte": self.max_days}})
                clauses.append({"published_days": {"$ne": UNDATED}})
        if self.min_days is not None:
            clauses.append({"published_days": {"$gte": self.min_days}})
        if self.sources:
            clauses.append({"source": {"$in": list(self.sources)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def passes(self, meta: dict) -> bool:
        """The same test as :meth:`chroma_where`, on one chunk's metadata."""
        days = int(meta.get("published_days", UNDATED))
        if self.max_days is not None:
            if days == UNDATED:
                if self.until is not None:
                    return False
            elif days > self.max_days:
                return False
        if self.min_days is not None and (days == UNDATED or days < self.min_days):
            return False
        return not self.sources or meta.get("source") in self.sources


@dataclass(frozen=True)
class Fusion:
    """How dense and BM25 ranks and the recency prior combine (tuned in bench/fusion_probe.py).

    Weighted reciprocal-rank fusion, plus a bonus of ``recency_weight / rrf_k`` times
    ``exp(-age / recency_tau_days)`` for dated articles, halved when the question has no
    time words. Age counts from the newest article the question can see (or ``as_of``), so
    an archive asked about today still favours its own latest week.
    """

    rrf_k: float  # the values come from Settings (QA_RRF_K, …): one place for the defaults
    dense_weight: float
    recency_weight: float
    recency_tau_days: float
    bm25_weight: float = 1.0
    per_article: int = 2

    @classmethod
    def from_settings(cls, s) -> "Fusion":
        return cls(rrf_k=s.rrf_k, dense_weight=s.dense_weight, recency_weight=s.recency_weight,
                   recency_tau_days=s.recency_tau_days)


def fuse(question: str, dense: list[str], bm25: list[str], meta: dict[str, dict], ref_days: int | None,
         fusion: Fusion, n: int) -> list[tuple[float, str]]:
    """(score, chunk id) of the best ``n``, at most ``per_article`` per article while others compete."""
    score: dict[str, float] = {}
    for ids, w in ((dense, fusion.dense_weight), (bm25, fusion.bm25_weight)):
        for rank, cid in enumerate(ids):
            score[cid] = score.get(cid, 0.0) + w / (fusion.rrf_k + rank + 1)
    if ref_days is not None and fusion.recency_tau_days > 0 and fusion.recency_weight > 0:
        weight = fusion.recency_weight * (1.0 if _TIME_WORDS.search(question) else 0.5) / fusion.rrf_k
        for cid in score:
            days = int(meta[cid].get("published_days", UNDATED))
            if days != UNDATED and days <= ref_days:
                score[cid] += weight * math.exp(-(ref_days - days) / fusion.recency_tau_days)
    chosen: list[tuple[float, str]] = []
    overflow: list[tuple[float, str]] = []
    per: dict[str, int] = {}
    seen_text: set[str] = set()
    for cid in sorted(score, key=lambda c: -score[c]):
        m = meta[cid]
        text = m.get("_text")
        if text is not None:
            if text in seen_text:
                continue
            seen_text.add(text)
        aid = m.get("article_id", cid)
        if per.get(aid, 0) >= fusion.per_article:
            overflow.append((score[cid], cid))
            continue
        per[aid] = per.get(aid, 0) + 1
        chosen.append((score[cid], cid))
        if len(chosen) >= n:
            break
    if len(chosen) < n:  # fewer articles than places: the best of the rest fill them
        chosen = sorted(chosen + overflow[: n - len(chosen)], key=lambda t: -t[0])
    return chosen


def retrieve(
    question: str,
    index: Index,
    *,
    k: int = 4,
    filters: Filters | None = None,
    candidates: int = 100,
    fusion: Fusion | None = None,
    recency_tau_days: float | None = None,
    mode: str = "hybrid",
) -> list[Passage]:
    """Top-k passages for the question; ``mode`` is hybrid, dense or bm25 (the last two for bench/)."""
    filters = filters or Filters()
    fusion = fusion or Fusion.from_settings(index.settings)
    if recency_tau_days is not None:
        fusion = replace(fusion, recency_tau_days=recency_tau_days)
    if index.count() == 0:
        return []
    cands = gather(question, index, filters=filters, candidates=candidates, mode=mode)
    chosen = fuse(question, cands.dense, cands.bm25, cands.meta, cands.ref_days, fusion, k)
    return [_passage(cid, cands.meta[cid], score, cands.dense, cands.bm25) for score, cid in chosen]


@dataclass
class Candidates:
    """What fusion ranks: each retriever's chunk ids, best first, and every candidate's metadata."""

    dense: list[str]
    bm25: list[str]
    meta: dict[str, dict]  # chunk id -> its metadata, plus "_text": the passage without its header
    ref_days: int | None  # the recency prior's "now": the newest article the question can see


def gather(question: str, index: Index, *, filters: Filters, candidates: int, mode: str = "hybrid") -> Candidates:
    meta: dict[str, dict] = {}
    dense_ids: list[str] = []
    bm25_ids: list[str] = []
    bm = index.bm25() if mode in ("hybrid", "bm25") or filters.as_of else None
    if mode in ("hybrid", "dense"):
        for item in _dense(question, index, candidates, filters):
            dense_ids.append(item.id)
            meta[item.id] = {**item.metadata, "_text": item.text}
    if mode in ("hybrid", "bm25"):
        mask = bm.mask(filters.min_days, filters.max_days, filters.sources, undated_ok=filters.until is None)
        bm25_ids = [cid for cid, _ in bm.search(question, candidates, mask)]
        for item in index.get([cid for cid in bm25_ids if cid not in meta]):
            meta[item.id] = {**item.metadata, "_text": item.text}
        bm25_ids = [cid for cid in bm25_ids if cid in meta]
    ref_days = bm.newest(filters.max_days) if bm is not None and filters.as_of else None
    return Candidates(dense_ids, bm25_ids, meta, ref_days)


def _passage(cid: str, meta: dict, score: float, dense: list[str], bm25: list[str]) -> Passage:
    return Passage(
        chunk_id=cid, article_id=meta.get("article_id", cid), title=meta.get("title", ""), url=meta.get("url", ""),
        source=meta.get("source", ""), published=meta.get("published", ""), text=meta["_text"], score=score,
        dense_rank=dense.index(cid) if cid in dense else None, bm25_rank=bm25.index(cid) if cid in bm25 else None,
    )


def _dense(question: str, index: Index, n: int, filters: Filters):
    """The ``n`` nearest chunks that pass the filters.

    Chroma's metadata filter costs time in proportion to the rows it lets through
    (≈400 ms at 57k chunks for an as-of date that keeps most of them, against ≈35 ms
    for a plain query of 300), so the nearest ``3n`` are fetched and filtered here;
    only when too few of them pass (a narrow source or date range) does Chroma filter.
    """
    vec = index.embeddings.embed([question])
    col = index.collection
    include = ["documents", "metadatas"]
    where = filters.chroma_where()
    if where is not None:
        res = index.call("Searching the index", col.query, query_embeddings=vec, n_results=3 * n, include=include)
        rows = [item for item in _stored(res) if filters.passes(item.metadata)]
        if len(rows) >= n or len(res["ids"][0]) < 3 * n:
            return rows[:n]
    res = index.call("Searching the index", col.query, query_embeddings=vec, n_results=n, where=where, include=include)
    return _stored(res)


def _stored(res: dict) -> list[Stored]:
    return [Stored(i, d or "", m or {}) for i, d, m in zip(res["ids"][0], res["documents"][0], res["metadatas"][0])]
