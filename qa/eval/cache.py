"""An on-disk embedding cache for the benchmark, keyed by (model, sha256(text)).

Embedding the RealTimeQA corpus (~54k chunks) takes about an hour on 2 CPU
cores; with this cache a rerun (another retrieval mode, another answerer, a
made-unanswerable index) only pays for texts it has never seen. The cache is
a SQLite file (WAL mode, so two bench processes can share it) outside the repo:
``$QA_EVAL_CACHE`` or ``~/.cache/news-qa/eval-embeddings/embeddings.sqlite``.

:class:`CachedEmbeddings` is an :class:`OnnxSentenceEmbeddings` (so also a
LangChain ``Embeddings``): set it on an index with ``index._embeddings = ...``
and ingest, retrieval and the extractive answerer all go through it.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np

from qa.embeddings import DEFAULT_MODEL, OnnxSentenceEmbeddings


def default_cache_path() -> Path:
    env = os.environ.get("QA_EVAL_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return root / "news-qa" / "eval-embeddings" / "embeddings.sqlite"


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class EmbeddingCache:
    """(model, sha256(text)) -> float32 vector, in one SQLite file."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS vec (model TEXT NOT NULL, key TEXT NOT NULL, dim INTEGER NOT NULL,"
                " data BLOB NOT NULL, PRIMARY KEY (model, key))"
            )

    def _conn(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(str(self.path), timeout=60)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = con
        return con

    def get_many(self, model: str, keys: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        con = self._conn()
        uniq = list(dict.fromkeys(keys))
        for i in range(0, len(uniq), 500):
            part = uniq[i : i + 500]
            q = f"SELECT key, dim, data FROM vec WHERE model=? AND key IN ({','.join('?' * len(part))})"
            for key, dim, data in con.execute(q, [model, *part]):
                out[key] = np.frombuffer(data, dtype=np.float32, count=dim)
        return out

    def put_many(self, model: str, items: list[tuple[str, np.ndarray]]) -> None:
        if not items:
            return
        con = self._conn()
        rows = [(model, k, int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes()) for k, v in items]
        for attempt in range(5):
            try:
                with con:
                    con.executemany("INSERT OR REPLACE INTO vec (model, key, dim, data) VALUES (?,?,?,?)", rows)
                return
            except sqlite3.OperationalError:  # locked by another bench process
                if attempt == 4:
                    raise
                time.sleep(1 + attempt)

    def count(self, model: str | None = None) -> int:
        con = self._conn()
        if model:
            return con.execute("SELECT COUNT(*) FROM vec WHERE model=?", [model]).fetchone()[0]
        return con.execute("SELECT COUNT(*) FROM vec").fetchone()[0]


class CachedEmbeddings(OnnxSentenceEmbeddings):
    """The project's embedding model with a disk cache in front; counts hits, misses and model time."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32, threads: int = 0,
                 cache: EmbeddingCache | None = None, min_len_to_cache: int = 0):
        super().__init__(model, batch_size=batch_size, threads=threads)
        self.cache = cache or EmbeddingCache()
        self.hits = 0
        self.misses = 0
        self.model_seconds = 0.0  # time spent running the model on misses
        self.caching = True  # the runner turns it off after ingest, so query latency is the model's
        self._stat_lock = threading.Lock()

    def reset_stats(self) -> None:
        with self._stat_lock:
            self.hits = self.misses = 0
            self.model_seconds = 0.0

    def embed(self, texts: list[str]) -> np.ndarray:
        texts = list(texts)
        if not texts or not self.caching:
            return super().embed(texts)
        keys = [text_key(t) for t in texts]
        found = self.cache.get_many(self.name, keys)
        missing: dict[str, str] = {}
        for k, t in zip(keys, texts):
            if k not in found and k not in missing:
                missing[k] = t
        if missing:
            # longest first and in length order: batches of similar length waste less padding
            order = sorted(missing.items(), key=lambda kv: len(kv[1]))
            t0 = time.perf_counter()
            vecs = super().embed([t for _, t in order])
            took = time.perf_counter() - t0
            new = [(k, v) for (k, _), v in zip(order, vecs)]
            self.cache.put_many(self.name, new)
            found.update(new)
            with self._stat_lock:
                self.model_seconds += took
        with self._stat_lock:
            self.misses += len(missing)
            self.hits += len(texts) - len(missing)
        return np.vstack([found[k] for k in keys]).astype(np.float32)

    def raw_embed(self, texts: list[str]) -> np.ndarray:
        """The model with no cache (to measure its own throughput)."""
        return super().embed(list(texts))


def warm(texts: list[str], emb: CachedEmbeddings, chunk: int = 512, progress=None) -> None:
    """Embed texts into the cache in pieces (so an interrupted warm-up keeps what it did)."""
    keys = [text_key(t) for t in texts]
    have = emb.cache.get_many(emb.name, keys)
    todo = list({k: t for k, t in zip(keys, texts) if k not in have}.values())
    if progress:
        progress(len(texts) - len(todo), len(texts))
    done = len(texts) - len(todo)
    for i in range(0, len(todo), chunk):
        part = sorted(todo[i : i + chunk], key=len)  # similar lengths batch with less padding
        emb.embed(part)
        done += len(part)
        if progress:
            progress(done, len(texts))
