"""BM25 over the chunks in Chroma: a cache derived from the store, never a second record.

It is tagged with the collection's revision and chunk count; when either moved
(another process wrote, or a write crashed half-way) it is rebuilt from Chroma.
It is saved atomically (written beside, then renamed) so a crash never leaves
a half-written cache that looks fresh.
"""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from pathlib import Path

import numpy as np

from .dates import UNDATED

_stemmer = None
_stem_lock = threading.Lock()


def stemmer():
    global _stemmer
    with _stem_lock:
        if _stemmer is None:
            import Stemmer

            _stemmer = Stemmer.Stemmer("english")
        return _stemmer


def tokenize(texts: list[str], ids: bool = True):
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", stemmer=stemmer(), return_ids=ids, show_progress=False)


class BM25Snapshot:
    """One revision of the BM25 index and its per-chunk arrays, never changed after it is built.

    A question takes one snapshot and uses it throughout; a rebuild (another thread's upload)
    makes a new snapshot and swaps the reference, so a search can never pair the new arrays
    with the old retriever (that mismatch raised inside bm25s under concurrent chat and upload).
    """

    def __init__(self, revision, count: int, ids, days, sources, article_ids, retriever):
        self.revision = revision
        self.count = count
        self.ids: list[str] = list(ids)
        self.row: dict[str, int] = {cid: i for i, cid in enumerate(self.ids)}
        self.days = np.asarray(days, dtype=np.int64)
        self.sources: np.ndarray = np.asarray(sources, dtype=object)
        self.article_ids: list[str] = list(article_ids)
        self.retriever = retriever

    @classmethod
    def empty(cls) -> "BM25Snapshot":
        return cls(None, -1, [], [], [], [], None)

    def light_meta(self, cid: str) -> dict | None:
        """What fusion needs of a chunk (date, source, article), without a store round trip."""
        i = self.row.get(cid)
        if i is None:
            return None
        return {"published_days": int(self.days[i]), "source": self.sources[i], "article_id": self.article_ids[i]}

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> list[tuple[str, float]]:
        if self.retriever is None or not self.ids:
            return []
        q = tokenize([query], ids=False)
        if not q or not q[0]:
            return []
        k = min(k, len(self.ids))
        docs, scores = self.retriever.retrieve(
            q, k=k, weight_mask=None if mask is None else mask.astype(np.float32), show_progress=False, n_threads=1
        )
        return [(self.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]

    def newest(self, max_days: int | None) -> int | None:
        """The latest publication day at or before ``max_days`` (None: no dated chunk)."""
        dated = self.days[self.days != UNDATED]
        if max_days is not None:
            dated = dated[dated <= max_days]
        return int(dated.max()) if dated.size else None


class BM25Cache:
    """Keeps the current :class:`BM25Snapshot` in step with the store (rebuilt, or loaded from disk)."""

    def __init__(self, index, folder: Path):
        self.index = index
        self.folder = Path(folder)
        self.snap = BM25Snapshot.empty()
        self._lock = threading.Lock()

    def ensure_fresh(self) -> BM25Snapshot:
        with self._lock:
            rev, count = self.index.state()
            if self.snap.revision != rev or self.snap.count != count:
                self.snap = self._load(rev, count) or self._rebuild(rev)
            return self.snap

    # --- persistence -----------------------------------------------------
    def _load(self, rev: int, count: int) -> BM25Snapshot | None:
        meta_path = self.folder / "meta.json"
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("revision") != rev or meta.get("count") != count:
                return None
            retriever = self._load_retriever() if meta["ids"] else None
            return BM25Snapshot(rev, count, meta["ids"], meta["days"], meta["sources"], meta["article_ids"], retriever)
        except (OSError, ValueError, KeyError):
            return None

    def _load_retriever(self):
        import bm25s

        return bm25s.BM25.load(str(self.folder / "bm25"), show_progress=False)

    def _rebuild(self, rev: int) -> BM25Snapshot:
        ids, docs, days, sources, articles = [], [], [], [], []
        for item in self.index.iter_all():
            ids.append(item.id)
            docs.append(item.document)
            days.append(int(item.metadata.get("published_days", UNDATED)))
            sources.append(str(item.metadata.get("source", "")))
            articles.append(str(item.metadata.get("article_id", item.id)))
        retriever = None
        if ids:
            import bm25s

            retriever = bm25s.BM25()
            retriever.index(tokenize(docs), show_progress=False)
        # A write that landed while we read makes the revision move: tag with the
        # revision seen *before* reading so the next check rebuilds again.
        snap = BM25Snapshot(rev, len(ids), ids, days, sources, articles, retriever)
        self._save(snap)
        return snap

    def _save(self, snap: BM25Snapshot) -> None:
        tmp = self.folder.with_name(self.folder.name + f".tmp-{uuid.uuid4().hex[:8]}")
        try:
            tmp.mkdir(parents=True, exist_ok=True)
            if snap.retriever is not None:
                snap.retriever.save(str(tmp / "bm25"), show_progress=False)
            meta = {
                "revision": snap.revision,
                "count": snap.count,
                "ids": snap.ids,
                "days": snap.days.tolist(),
                "sources": list(snap.sources),
                "article_ids": list(snap.article_ids),
            }
            (tmp / "meta.json").write_text(json.dumps(meta))
            old = self.folder.with_name(self.folder.name + f".old-{uuid.uuid4().hex[:8]}")
            if self.folder.exists():
                self.folder.rename(old)
            tmp.rename(self.folder)
            shutil.rmtree(old, ignore_errors=True)
        except OSError:
            # The cache is an optimisation: a read-only or full disk only costs a rebuild later.
            shutil.rmtree(tmp, ignore_errors=True)
