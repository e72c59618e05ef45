"""The two systems the benchmark can run: ours (ingest → Chroma + BM25 → ask) and the baseline.

Both expose the same small interface so the runner scores them alike:
``build(records)``, ``retrieve(question)`` (top-10 urls + latency), ``answer(question)``
(a result dict), ``remove(urls)`` (for made-unanswerable cases), ``sample_texts()``
(chunks to measure the embedding model's raw throughput on).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from qa.citations import MARKER, is_refusal, split_sentences

from .cache import CachedEmbeddings
from .data import Question

RETRIEVE_K = 10  # hit@k / MRR are measured on the top 10


class OurSystem:
    name = "ours"

    def __init__(self, settings, *, embedding_model: str, mode: str, dates: bool, k: int, emb: CachedEmbeddings,
                 ask_as_of: dt.date | None = None):
        from qa.index import Index
        from qa.retrieve import Fusion

        self.settings = settings
        self.mode = mode
        self.dates = dates
        # archive mode: every question asked as of one later day instead of its own date
        self.ask_as_of = ask_as_of
        overrides = {"mode": mode} if dates else {"mode": mode, "recency_weight": 0.0}
        self.fusion = Fusion.from_settings(settings, **overrides)
        self.k = k
        self.index = Index(settings, embedding_model=embedding_model)
        self.index._embeddings = emb  # every embedding (ingest, queries, extractive) goes through the cache
        self.emb = emb
        self._answerer = None

    # --- ingest ----------------------------------------------------------------
    def build(self, records: list[dict], where: str, advance) -> dict:
        from ingest.indexer import add_articles

        from .data import to_articles

        arts, failed = to_articles(records, where)

        def feed():
            for a in arts:
                yield a
                advance(1)

        t0 = time.perf_counter()
        if self._store_matches(arts):
            # a reused --data-dir that already holds exactly these chunks: nothing to ingest
            advance(len(arts))
            chunks_added, skipped = 0, True
        else:
            chunks_added, skipped = add_articles(feed(), index=self.index).chunks_added, False
        ingest_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        self.index.bm25()  # build (or load) the BM25 cache now, not inside the first query's latency
        bm25_s = time.perf_counter() - t1
        return {
            "articles": len(arts), "articles_failed": len(failed), "chunks": self.index.count(),
            "chunks_added": chunks_added, "ingest_s": ingest_s, "bm25_build_s": bm25_s, "ingest_skipped": skipped,
        }

    def _store_matches(self, arts) -> bool:
        """True when the store holds exactly the chunks (ids and article hashes) these articles make."""
        from ingest.chunking import chunk_article

        if self.index.count() == 0:
            return False
        s = self.settings
        want = {(c.id, a.content_hash) for a in arts for c in chunk_article(a, s.chunk_size, s.chunk_overlap)}
        have = {(item.id, item.metadata.get("article_hash", "")) for item in self.index.iter_all(include=("metadatas",))}
        return want == have

    def sample_texts(self, n: int) -> list[str]:
        res = self.index.collection.get(limit=n, include=["documents"])
        return list(res["documents"] or [])

    # --- retrieval ---------------------------------------------------------------
    def as_of(self, q: Question) -> dt.date | None:
        """The day the question is asked: its own date, the archive day, or None (nothing hidden)."""
        if not self.dates:
            return None
        return self.ask_as_of or q.date

    def retrieve(self, q: Question) -> tuple[list[str], float]:
        from qa.retrieve import Filters, retrieve

        t0 = time.perf_counter()
        passages = retrieve(q.question, self.index, k=RETRIEVE_K, filters=Filters(as_of=self.as_of(q)), fusion=self.fusion)
        return [p.url or p.article_id for p in passages], time.perf_counter() - t0

    # --- answers -------------------------------------------------------------------
    @property
    def answerer(self):
        if self._answerer is None:
            from qa.answerers import resolve

            self._answerer = resolve(self.settings)
        return self._answerer

    def warm_up(self) -> None:
        """Load the LLM before timing starts (joining and loading a GGUF takes seconds)."""
        self.answerer.warm_up()

    def answer(self, q: Question) -> dict:
        from qa.answer import ask

        a = ask(q.question, k=self.k, as_of=self.as_of(q), index=self.index, answerer=self.answerer, fusion=self.fusion)
        cited = sum(1 for s in split_sentences(a.text) if MARKER.search(s)) if not a.refused else 0
        return {
            "text": a.text, "raw_text": a.raw_text, "refused": a.refused, "answerer": a.answerer, "model": a.model,
            "citations": [{"url": c.url, "passage": c.passage, "quote": c.quote} for c in a.citations],
            "total_markers": a.total_markers, "invalid_markers": a.invalid_markers,
            "cited_sentences": cited, "flagged_sentences": len(a.flagged),
            "answer_s": a.timings.get("total"), "first_token_s": a.timings.get("first_token"),
            "evidence_s": a.timings.get("evidence"), "condense_s": a.timings.get("condense"),
            "second_look_s": a.timings.get("second_look"),
            "evidence_urls": [a.passages[e.passage - 1].url for e in a.evidence] if a.evidence else [],
            "evidence_text": [e.text for e in a.evidence],
            "passage_urls": [p.url for p in a.passages],
        }

    def remove(self, urls: list[str]) -> int:
        from ingest.indexer import delete_many

        return sum(delete_many(urls, index=self.index).values())

    def close(self) -> None:
        self.index.close()


def today() -> dt.date:
    return dt.date.today()


__all__ = ["OurSystem", "RETRIEVE_K", "Path"]
