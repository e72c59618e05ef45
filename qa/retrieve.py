"""Hybrid retrieval: dense (Chroma) and BM25, fused by reciprocal rank, with dates as a prior.

Relevance decides; dates only reorder. The fused relevance of a passage is
multiplied by a bounded recency factor (at most ``1 ± recency_weight / 2``),
so a passage both retrievers rank at the top cannot be overtaken by one that
only a single retriever found far down, however new it is. Undated articles
get the neutral factor 1: neither favoured nor pushed down. A time expression
in the question ("last week", "in June") moves the prior's weight onto that
window instead of onto "newest".

``as_of`` hides articles published after it (undated ones stay visible).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from .dates import UNDATED, to_days
from .index import Index
from .timewords import Window, asks_for_latest, time_window
from .types import Passage

MODES = ("hybrid", "dense", "bm25")


@dataclass(frozen=True)
class Filters:
    """Which articles a question may see. One rule (:meth:`day_mask`) serves Chroma, BM25 and Python."""

    as_of: dt.date | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    sources: tuple[str, ...] | list[str] | None = None
    keep_undated: bool = False  # a range the question itself states ("since March") hides no undated article

    @property
    def max_days(self) -> int | None:
        days = [to_days(d) for d in (self.as_of, self.until) if d is not None]
        return min(days) if days else None

    @property
    def min_days(self) -> int | None:
        return to_days(self.since) if self.since else None

    @property
    def undated_ok(self) -> bool:
        # as_of is "what was known then": undated articles stay. An explicit range
        # (since/until) is a question about dated events: undated ones fall outside it.
        return self.keep_undated or (self.since is None and self.until is None)

    @property
    def active(self) -> bool:
        return self.max_days is not None or self.min_days is not None or bool(self.sources)

    def day_mask(self, days: np.ndarray) -> np.ndarray:
        """The date rule, on an array of ``published_days`` (``UNDATED`` for none)."""
        days = np.asarray(days, dtype=np.int64)
        undated = days == UNDATED
        keep = np.ones(days.shape, dtype=bool)
        if self.max_days is not None:
            keep &= days <= self.max_days
        if self.min_days is not None:
            keep &= days >= self.min_days
        return np.where(undated, self.undated_ok, keep)

    def mask(self, days: np.ndarray, sources: np.ndarray) -> np.ndarray | None:
        """Both rules over a whole store (the BM25 cache's arrays); None when nothing is filtered."""
        if not self.active:
            return None
        keep = self.day_mask(days)
        if self.sources:
            wanted = set(self.sources)
            keep &= np.fromiter((s in wanted for s in sources), dtype=bool, count=len(sources))
        return keep

    def passes(self, meta: dict) -> bool:
        days = np.array([int(meta.get("published_days", UNDATED))])
        return bool(self.day_mask(days)[0]) and (not self.sources or meta.get("source") in self.sources)

    def chroma_where(self) -> dict | None:
        """:meth:`day_mask` and the source rule written as a Chroma ``where``."""
        dated = []
        if self.max_days is not None:
            dated.append({"published_days": {"$lte": self.max_days}})
        if self.min_days is not None:
            dated.append({"published_days": {"$gte": self.min_days}})
        clauses = []
        if dated:
            dated.append({"published_days": {"$ne": UNDATED}})
            rule = {"$and": dated}
            clauses.append({"$or": [rule, {"published_days": {"$eq": UNDATED}}]} if self.undated_ok else rule)
        if self.sources:
            clauses.append({"source": {"$in": list(self.sources)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


@dataclass(frozen=True)
class Fusion:
    """How dense and BM25 ranks and dates combine (tuned in bench/fusion_probe.py, both modes).

    ``relevance`` = weighted reciprocal-rank fusion. The recency factor multiplies it:
    ``1 + w · (exp(−age/τ) − ½)`` for dated articles (``w`` = ``recency_weight``, halved
    unless the question asks for the latest; age from ``as_of``, or for such a question from
    the newest article it can see), 1 for undated. (Title weighting and article-level
    aggregation were tried on the same grid and lost in both modes: README "Benchmarks".)
    """

    rrf_k: float  # the values come from Settings (QA_RRF_K, …): one place for the defaults
    dense_weight: float
    recency_weight: float
    recency_tau_days: float
    candidates: int = 40
    mode: str = "hybrid"
    bm25_weight: float = 1.0
    per_article: int = 2
    near_duplicate: float = 0.6  # word-shingle Jaccard above which two passages are one story

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"retrieval mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if not 0 <= self.recency_weight <= 1:
            raise ValueError("recency_weight must be between 0 and 1: the prior may reorder near-ties, not beat relevance")

    @classmethod
    def from_settings(cls, s, **overrides) -> "Fusion":
        kw = dict(rrf_k=s.rrf_k, dense_weight=s.dense_weight, recency_weight=s.recency_weight,
                  recency_tau_days=s.recency_tau_days, candidates=s.candidates)
        kw.update(overrides)
        return cls(**kw)


@dataclass
class Candidates:
    """What fusion ranks: each retriever's chunk ids, best first, and what fusion needs of each.

    ``meta`` holds date, source and article of every candidate (from the BM25 cache, no store
    round trip); the passage text and full metadata are fetched only for the few that fusion
    reaches (``fetch``), since reading 100 documents cost more than everything else together.
    """

    dense: list[str]
    bm25: list[str]
    meta: dict[str, dict]
    ref_days: int | None  # the recency prior's "now": as_of, or the newest visible article for "latest" questions
    window: Window | None = None  # a time the question names ("last week"), relative to as_of
    fetch: Callable[[list[str]], dict[str, dict]] | None = None  # chunk ids -> full metadata + "_text"


def relevance(dense: list[str], bm25: list[str], fusion: Fusion) -> dict[str, float]:
    score: dict[str, float] = {}
    for ids, w in ((dense, fusion.dense_weight), (bm25, fusion.bm25_weight)):
        for rank, cid in enumerate(ids):
            score[cid] = score.get(cid, 0.0) + w / (fusion.rrf_k + rank + 1)
    return score


def recency_factor(days: int, ref_days: int | None, window: Window | None, fusion: Fusion, strong: bool) -> float:
    """The prior: between ``1 − w/2`` and ``1 + w/2``; exactly 1 for an undated article."""
    w = fusion.recency_weight
    if days == UNDATED or w <= 0:
        return 1.0
    if window is not None:
        return 1 + w / 2 if window.contains_days(days) else 1 - w / 2
    if ref_days is None or fusion.recency_tau_days <= 0 or days > ref_days:
        return 1.0
    w = w if strong else w / 2
    return 1 + w * (math.exp(-(ref_days - days) / fusion.recency_tau_days) - 0.5)


def fuse(question: str, dense: list[str], bm25: list[str], meta: dict[str, dict], ref_days: int | None,
         fusion: Fusion, n: int, window: Window | None = None,
         fetch: Callable[[list[str]], dict[str, dict]] | None = None) -> list[tuple[float, str]]:
    """(score, chunk id) of the best ``n``: one passage per story, at most ``per_article`` per article.

    ``fetch`` completes ``meta`` (text included) for the candidates fusion reaches, a few at a time.
    """
    rel = relevance(dense, bm25, fusion)
    strong = asks_for_latest(question)
    score = {cid: r * recency_factor(int(meta[cid].get("published_days", UNDATED)), ref_days, window, fusion, strong)
             for cid, r in rel.items()}
    order = sorted(score, key=lambda c: -score[c])
    chosen: list[tuple[float, str]] = []
    overflow: list[tuple[float, str]] = []
    per: dict[str, int] = {}
    shingles: list[set] = []
    for pos, cid in enumerate(order):
        if fetch is not None and "_text" not in meta[cid]:
            batch = [c for c in order[pos : pos + 3 * n] if "_text" not in meta[c]]
            for c, full in fetch(batch).items():
                meta[c] = {**meta[c], **full}
            if "_text" not in meta[cid]:
                continue  # deleted since the BM25 cache was read
        m = meta[cid]
        sh = _shingles(m.get("_text", ""))
        if sh and any(_jaccard(sh, other) >= fusion.near_duplicate for other in shingles):
            continue  # the same story, told again (a syndicated copy, a twin page)
        aid = m.get("article_id", cid)
        if per.get(aid, 0) >= fusion.per_article:
            overflow.append((score[cid], cid))
            continue
        per[aid] = per.get(aid, 0) + 1
        shingles.append(sh)
        chosen.append((score[cid], cid))
        if len(chosen) >= n:
            break
    if len(chosen) < n:  # fewer articles than places: the best of the rest fill them
        chosen = sorted(chosen + overflow[: n - len(chosen)], key=lambda t: -t[0])
    return chosen


def _shingles(text: str, size: int = 4) -> set:
    words = re.findall(r"\w+", text.lower())
    return {hash(tuple(words[i : i + size])) for i in range(max(0, len(words) - size + 1))}


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def retrieve(
    question: str,
    index: Index,
    *,
    k: int = 4,
    filters: Filters | None = None,
    fusion: Fusion | None = None,
    embed: Callable[[list[str]], np.ndarray] | None = None,
) -> list[Passage]:
    """Top-k passages for the question (``fusion.mode``: hybrid, or dense/bm25 alone for bench/).

    ``embed``: the embedding function to use, so a caller that embeds the question again
    (evidence selection) can share one memoised function and pay for it once."""
    filters = filters or Filters()
    fusion = fusion or Fusion.from_settings(index.settings)
    if index.refresh()[1] == 0:
        return []
    cands = gather(question, index, filters=filters, fusion=fusion, embed=embed)
    chosen = fuse(question, cands.dense, cands.bm25, cands.meta, cands.ref_days, fusion, k, cands.window, cands.fetch)
    return [_passage(cid, cands.meta[cid], score, cands.dense, cands.bm25) for score, cid in chosen]


def gather(question: str, index: Index, *, filters: Filters, fusion: Fusion,
           embed: Callable[[list[str]], np.ndarray] | None = None) -> Candidates:
    mode, n = fusion.mode, fusion.candidates
    bm = index.bm25()
    window = time_window(question, filters.as_of) if filters.as_of else None
    if window is not None and window.hard:
        # "since March": a bound the question states, kept as strictly as the user's own `since`
        filters = replace(filters, since=max(filters.since or window.start, window.start),
                          keep_undated=filters.since is None and filters.until is None)
    meta: dict[str, dict] = {}
    dense_ids: list[str] = []
    bm25_ids: list[str] = []
    if mode in ("hybrid", "dense"):
        dense_ids = _dense(question, index, bm, n, filters, meta, embed or index.embeddings.embed)
    if mode in ("hybrid", "bm25"):
        for cid, _ in bm.search(question, n, filters.mask(bm.days, bm.sources)):
            light = meta.get(cid) or bm.light_meta(cid)
            if light is not None:
                meta[cid] = light
                bm25_ids.append(cid)
    ref_days = None
    if filters.as_of:
        # age counts from the day asked; a question asking for "the latest" counts from the newest
        # article it can see, so an archive asked about later still finds its own last week
        ref_days = newest_visible(index, filters) if asks_for_latest(question) else to_days(filters.as_of)

    def fetch(ids: list[str]) -> dict[str, dict]:
        return {item.id: {**item.metadata, "_text": item.text} for item in index.get(ids)}

    return Candidates(dense_ids, bm25_ids, meta, ref_days, window if window is not None and not window.hard else None,
                      fetch)


def newest_visible(index: Index, filters: Filters) -> int | None:
    """The publication day of the newest article the filters let a question see: its "now"
    when it asks for the latest, so an archive read later still has its own last week."""
    return index.bm25().newest(filters.max_days)


def _passage(cid: str, meta: dict, score: float, dense: list[str], bm25: list[str]) -> Passage:
    return Passage(
        chunk_id=cid, article_id=meta.get("article_id", cid), title=meta.get("title", ""), url=meta.get("url", ""),
        source=meta.get("source", ""), published=meta.get("published", ""), text=meta["_text"], score=score,
        dense_rank=dense.index(cid) if cid in dense else None, bm25_rank=bm25.index(cid) if cid in bm25 else None,
    )


def _dense(question: str, index: Index, bm, n: int, filters: Filters, meta: dict[str, dict],
           embed: Callable[[list[str]], np.ndarray]) -> list[str]:
    """The ids of the ``n`` nearest chunks that pass the filters; their light metadata goes into ``meta``.

    Chroma's metadata filter costs time in proportion to the rows it lets through
    (≈400 ms at 57k chunks for an as-of date that keeps most of them), and reading documents
    and metadata for every hit costs more than the search itself; so the nearest ``3n`` ids
    are fetched bare and filtered here on the BM25 cache's arrays (the same rule as Chroma's
    ``where``); only when too few of them pass (a narrow source or date range) does Chroma filter.
    """
    vec = embed([question])
    col = index.collection
    where = filters.chroma_where()
    ask = 3 * n if where is not None else n
    res = index.call("Searching the index", col.query, query_embeddings=vec, n_results=ask, include=[])
    ids = [cid for cid in res["ids"][0] if cid in bm.row]
    if where is not None:
        rows = np.fromiter((bm.row[c] for c in ids), dtype=np.int64, count=len(ids))
        keep = filters.mask(bm.days[rows], bm.sources[rows]) if len(ids) else np.zeros(0, bool)
        passed = [c for c, ok in zip(ids, keep) if ok]
        if len(passed) < n and len(res["ids"][0]) >= ask:
            res = index.call("Searching the index", col.query, query_embeddings=vec, n_results=n, where=where, include=[])
            passed = [cid for cid in res["ids"][0] if cid in bm.row]
        ids = passed
    ids = ids[:n]
    for cid in ids:
        meta[cid] = bm.light_meta(cid)
    return ids
