"""Write articles to the index idempotently (chunk ids come from content).

For each article: chunks whose ids are already stored are skipped, new ones
are embedded and added, then ids of that article that are no longer produced
are deleted. Adding before deleting means a crash leaves extra chunks, never
missing ones, and the next run finishes the job. Chunks of several small
articles are embedded together so the model sees full batches.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

from qa.index import Index, get_index

from .chunking import chunk_article
from .fetch import Fetcher
from .loaders import LoadFailure, check_article, load
from .models import Article, Chunk
from .urls import canonical_url

BATCH_CHUNKS = 64
log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    indexed: list[str] = field(default_factory=list)  # article ids written or updated
    unchanged: list[str] = field(default_factory=list)
    failed: list[LoadFailure] = field(default_factory=list)
    chunks_added: int = 0
    chunks_deleted: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> dict:
        return {
            "indexed": len(self.indexed),
            "unchanged": len(self.unchanged),
            "failed": len(self.failed),
            "chunks_added": self.chunks_added,
            "chunks_deleted": self.chunks_deleted,
        }


Progress = Callable[[str, Article | LoadFailure], None]


def add(sources: Iterable[str] | str, *, index: Index | None = None, progress: Progress | None = None,
        fetcher: Fetcher | None = None) -> IngestReport:
    """Index every article found in the sources; bad inputs are reported, not raised.

    One call is one request: all its URLs, feeds and feed entries share one fetcher, so
    one budget of fetches and seconds (QA_MAX_FETCHES_PER_REQUEST, QA_INGEST_BUDGET_S)
    bounds how long a slow or sprawling feed can hold the ingest lock.
    """
    if isinstance(sources, (str, Path)):
        sources = [str(sources)]
    index = index or get_index()
    fetcher = fetcher or Fetcher(index.settings)
    report = IngestReport()
    pending: list[tuple[Article, list[Chunk]]] = []
    pending_ids: set[str] = set()
    n_pending = 0
    for source in sources:
        for item in load(str(source), index.settings, fetcher):
            if isinstance(item, LoadFailure):
                report.failed.append(item)
                if progress:
                    progress("failed", item)
                continue
            if item.id in pending_ids:  # same article twice in one batch: the later one wins
                _flush(index, pending, report, progress)
                pending, pending_ids, n_pending = [], set(), 0
            chunks = chunk_article(item, index.settings.chunk_size, index.settings.chunk_overlap)
            pending.append((item, chunks))
            pending_ids.add(item.id)
            n_pending += len(chunks)
            if n_pending >= BATCH_CHUNKS:
                _flush(index, pending, report, progress)
                pending, pending_ids, n_pending = [], set(), 0
    _flush(index, pending, report, progress)
    if report.chunks_added or report.chunks_deleted:
        _refresh_search_cache(index)
    return report


def add_articles(articles: Iterable[Article], *, index: Index | None = None) -> IngestReport:
    """Index Article objects built in code (the eval and the sample articles use it).

    Each goes through the same :func:`~ingest.loaders.check_article` as a loaded file, on a
    copy (the caller's object is left as it was): a title, source or author built in code
    reaches every chunk and the prompt just as a file's does, so it gets the same one-line
    cleaning, and an empty or oversize article is reported in ``failed``, not embedded.
    """
    index = index or get_index()
    report = IngestReport()
    batch: list[tuple[Article, list[Chunk]]] = []
    seen: set[str] = set()
    for art in articles:
        art = replace(art, authors=list(art.authors))
        problem = check_article(art, index.settings)
        if problem:
            report.failed.append(LoadFailure(art.origin or art.id, problem))
            continue
        if art.id in seen:
            _flush(index, batch, report, None)
            batch, seen = [], set()
        batch.append((art, chunk_article(art, index.settings.chunk_size, index.settings.chunk_overlap)))
        seen.add(art.id)
        if sum(len(c) for _, c in batch) >= BATCH_CHUNKS:
            _flush(index, batch, report, None)
            batch, seen = [], set()
    _flush(index, batch, report, None)
    if report.chunks_added or report.chunks_deleted:
        _refresh_search_cache(index)
    return report


def _refresh_search_cache(index: Index) -> None:
    """Rebuild BM25 now if this run wrote anything, so the writer pays for it, not the next question.

    The cache is saved to disk, so other processes (the app, ``python -m qa``) load it instead
    of rebuilding. A failure here loses nothing: the next search rebuilds.
    """
    try:
        index.bm25()
    except Exception as exc:  # noqa: BLE001 - the chunks are written; the cache is optional
        log.warning("Could not refresh the BM25 cache (the next question rebuilds it): %s", exc)


def _flush(index: Index, batch: list[tuple[Article, list[Chunk]]], report: IngestReport, progress: Progress | None) -> None:
    if not batch:
        return
    existing = _stored_hashes(index, [art.id for art, _ in batch])
    to_add: list[Chunk] = []
    to_delete: list[str] = []
    changed: list[Article] = []
    for art, chunks in batch:
        stored = existing[art.id]  # chunk id -> article_hash it was written with
        have = set(stored)
        want = {c.id for c in chunks}
        # Chunk ids hash the passage only; a new title, date or source leaves them equal but
        # changes the embedded header and metadata, so those chunks are rewritten too.
        current = {cid for cid, h in stored.items() if h == art.content_hash}
        if have == want and current == want:
            report.unchanged.append(art.id)
            if progress:
                progress("unchanged", art)
            continue
        to_add.extend(c for c in chunks if c.id not in current)
        to_delete.extend(sorted(have - want))
        changed.append(art)
    if to_add or to_delete:
        index.bump_revision()  # before the write: a crash mid-write leaves derived caches stale
        if to_add:
            vectors = index.embeddings.embed([c.embed_text for c in to_add])
            index.upsert(
                ids=[c.id for c in to_add],
                documents=[c.embed_text for c in to_add],
                metadatas=[c.metadata for c in to_add],
                embeddings=vectors,
            )
        index.delete_ids(to_delete)
        index.bump_revision()
    report.chunks_added += len(to_add)
    report.chunks_deleted += len(to_delete)
    for art in changed:
        report.indexed.append(art.id)
        if progress:
            progress("indexed", art)


def _stored_hashes(index: Index, article_ids: list[str]) -> dict[str, dict[str, str]]:
    """article id -> {chunk id: article_hash it was written with}, in one read for the batch."""
    out: dict[str, dict[str, str]] = {aid: {} for aid in article_ids}
    where = {"article_id": {"$in": list(out)}}
    res = index.call("Reading chunk ids", index.collection.get, where=where, include=["metadatas"])
    for cid, meta in zip(res["ids"], res.get("metadatas") or []):
        meta = meta or {}
        if meta.get("article_id") in out:
            out[meta["article_id"]][cid] = meta.get("article_hash", "")
    return out


def delete(id_or_url: str, *, index: Index | None = None) -> int:
    """Remove one article by its id, URL or file path; returns the number of chunks removed."""
    return delete_many([id_or_url], index=index)[id_or_url]


def delete_many(ids_or_urls: Iterable[str], *, index: Index | None = None) -> dict[str, int]:
    """Remove several articles; chunks removed per id/URL/path given. The BM25 cache is rebuilt
    once at the end: rebuilt after each article, removing the 60 gold articles of a 57k-chunk
    store took over 15 minutes (the eval's made-unanswerable step, issue 11)."""
    index = index or get_index()
    removed: dict[str, int] = {}
    for id_or_url in ids_or_urls:
        candidates = [canonical_url(id_or_url), id_or_url]
        p = Path(id_or_url).expanduser()
        if not id_or_url.startswith(("http://", "https://")):
            candidates.append(str(p.resolve()))
        ids: list[str] = []
        for key in dict.fromkeys(candidates):
            ids = index.ids_where({"article_id": key}) or index.ids_where({"url": key})
            if ids:
                break
        if ids:
            index.bump_revision()
            index.delete_ids(ids)
            index.bump_revision()
        removed[id_or_url] = removed.get(id_or_url, 0) + len(ids)
    if any(removed.values()):
        _refresh_search_cache(index)
    return removed


def stats(*, index: Index | None = None) -> dict:
    """Counts, sources and date range of what is indexed (for the CLI and the UI panel)."""
    index = index or get_index()
    articles: dict[str, dict] = {}
    chunks = 0
    for item in index.iter_all(include=("metadatas",)):
        chunks += 1
        m = item.metadata
        articles.setdefault(m.get("article_id", item.id), m)
    sources: dict[str, int] = {}
    dates = []
    for m in articles.values():
        src = m.get("source") or "(no source)"
        sources[src] = sources.get(src, 0) + 1
        if m.get("published"):
            dates.append(m["published"])
    return {
        "articles": len(articles),
        "chunks": chunks,
        "sources": dict(sorted(sources.items(), key=lambda kv: -kv[1])),
        "first_published": min(dates) if dates else None,
        "last_published": max(dates) if dates else None,
    }
