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
from dataclasses import dataclass

from .dates import UNDATED, to_days
from .index import Index
from .types import Passage

RRF_K = 60
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


def retrieve(
    question: str,
    index: Index,
    *,
    k: int = 4,
    filters: Filters | None = None,
    candidates: int = 40,
    recency_tau_days: float = 14.0,
    mode: str = "hybrid",
    per_article: int = 2,
) -> list[Passage]:
    """Top-k passages for the question; ``mode`` is hybrid, dense or bm25 (the last two for bench/)."""
    filters = filters or Filters()
    if index.count() == 0:
        return []
    ranked: dict[str, dict] = {}
    if mode in ("hybrid", "dense"):
        for rank, (cid, doc, meta) in enumerate(_dense(question, index, candidates, filters.chroma_where())):
            ranked.setdefault(cid, {"doc": doc, "meta": meta})["dense"] = rank
    if mode in ("hybrid", "bm25"):
        bm = index.bm25()
        mask = bm.mask(filters.min_days, filters.max_days, filters.sources, undated_ok=filters.until is None)
        hits = bm.search(question, candidates, mask)
        missing = [cid for cid, _ in hits if cid not in ranked]
        for item in index.get(missing):
            ranked[item.id] = {"doc": item.document, "meta": item.metadata}
        for rank, (cid, _) in enumerate(hits):
            if cid in ranked:
                ranked[cid]["bm25"] = rank
    ref_days = to_days(filters.as_of) if filters.as_of else None
    recency_weight = 2.0 if _TIME_WORDS.search(question) else 1.0
    scored = []
    for cid, r in ranked.items():
        score = sum(1.0 / (RRF_K + r[key] + 1) for key in ("dense", "bm25") if key in r)
        days = int(r["meta"].get("published_days", UNDATED))
        if ref_days is not None and days != UNDATED and days <= ref_days and recency_tau_days > 0:
            age = ref_days - days
            score += recency_weight * (1.0 / RRF_K) * 0.5 * math.exp(-age / recency_tau_days)
        scored.append((score, cid, r))
    scored.sort(key=lambda t: -t[0])
    # At most `per_article` chunks of one article while others compete; if the store holds
    # fewer articles than that allows, the rest of the best chunks fill the remaining places.
    chosen: list[tuple[float, str, dict]] = []
    overflow: list[tuple[float, str, dict]] = []
    per: dict[str, int] = {}
    seen_text: set[str] = set()
    for item in scored:
        meta, doc = item[2]["meta"], item[2]["doc"]
        aid = meta.get("article_id", item[1])
        text = doc[int(meta.get("text_offset", 0)) :]
        if text in seen_text:
            continue
        seen_text.add(text)
        if per.get(aid, 0) >= per_article:
            overflow.append(item)
            continue
        per[aid] = per.get(aid, 0) + 1
        chosen.append(item)
        if len(chosen) >= k:
            break
    if len(chosen) < k:
        chosen = sorted(chosen + overflow[: k - len(chosen)], key=lambda t: -t[0])
    return [_passage(cid, r, score) for score, cid, r in chosen]


def _passage(cid: str, r: dict, score: float) -> Passage:
    meta, doc = r["meta"], r["doc"]
    return Passage(
        chunk_id=cid, article_id=meta.get("article_id", cid), title=meta.get("title", ""), url=meta.get("url", ""),
        source=meta.get("source", ""), published=meta.get("published", ""),
        text=doc[int(meta.get("text_offset", 0)) :], score=score,
        dense_rank=r.get("dense"), bm25_rank=r.get("bm25"),
    )


def _dense(question: str, index: Index, n: int, where: dict | None):
    vec = index.embeddings.embed([question])
    col = index.collection
    res = index.call(
        "Searching the index", col.query, query_embeddings=vec, n_results=n, where=where,
        include=["documents", "metadatas", "distances"],
    )
    return list(zip(res["ids"][0], res["documents"][0], res["metadatas"][0]))
