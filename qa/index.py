"""The one handle on the store that ingest writes and qa reads.

Chroma is the record. Every chunk carries the metadata both sides agree on
(``FIELDS``); the collection's own metadata records the embedding model (so
an index built with another model is refused, not silently mixed) and a
``revision`` counter that every write bumps, before and after, so derived
caches such as BM25 can tell they are stale, even across processes and crashes.
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from .embeddings import DEFAULT_MODEL, OnnxSentenceEmbeddings
from .errors import IndexMismatch, StoreUnavailable
from .settings import Settings, get_settings

# Metadata every chunk carries (strings are "" when unknown; dates see qa.dates).
FIELDS = (
    "article_id", "title", "url", "source", "published", "published_days",
    "authors", "position", "text_offset", "article_hash", "origin",
)
GET_BATCH = 2000
_BOOT = uuid.uuid4().hex[:12]


def writer_id() -> str:
    """This process, as bump_revision records it (the pid is read now, so a forked child differs)."""
    return f"{os.getpid()}-{_BOOT}"


@dataclass
class Stored:
    """One chunk as read back from the store."""

    id: str
    document: str
    metadata: dict

    @property
    def text(self) -> str:
        return self.document[int(self.metadata.get("text_offset", 0)) :]


class Index:
    def __init__(self, settings: Settings | None = None, embedding_model: str = DEFAULT_MODEL):
        self.settings = settings or get_settings()
        self.embedding_model = embedding_model
        self._client = None
        self._collection = None
        self._embeddings: OnnxSentenceEmbeddings | None = None
        self._bm25 = None
        self._lock = threading.RLock()
        self._signature: tuple | None = None
        self._state: tuple[int, int] | None = None
        self._seen_revision: int | None = None

    # --- connection ------------------------------------------------------
    @property
    def where(self) -> str:
        s = self.settings
        return f"Chroma server at {s.chroma_host}:{s.chroma_port}" if s.remote else f"local store {s.chroma_dir}"

    @property
    def client(self):
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self):
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        s = self.settings
        cfg = ChromaSettings(anonymized_telemetry=False)
        try:
            if s.remote:
                self._heartbeat()
                client = chromadb.HttpClient(host=s.chroma_host, port=s.chroma_port, settings=cfg)
                _bound_timeouts(client, s.chroma_timeout_s)
                return client
            s.chroma_dir.mkdir(parents=True, exist_ok=True)
            if not os.access(s.chroma_dir, os.W_OK):
                # Chroma's sqlite needs to write even to read; its own error on a read-only
                # folder is unclear and leaves a half-started client cached for the path.
                raise StoreUnavailable(
                    f"Cannot open the {self.where}: the folder is read-only (readonly database); "
                    f"make it writable or point QA_DATA_DIR elsewhere"
                )
            return chromadb.PersistentClient(path=str(s.chroma_dir), settings=cfg)
        except StoreUnavailable:
            raise
        except Exception as exc:  # chromadb raises several unrelated types here
            _forget_clients()
            raise StoreUnavailable(f"Cannot open the {self.where}: {exc}") from exc

    def _heartbeat(self) -> None:
        """Fail in seconds, not never, when the server is down or frozen."""
        import httpx

        s = self.settings
        try:
            httpx.get(f"http://{s.chroma_host}:{s.chroma_port}/api/v2/heartbeat", timeout=s.chroma_timeout_s)
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"Cannot reach the {self.where}: {type(exc).__name__} {exc}".rstrip()) from exc

    @property
    def collection(self):
        with self._lock:
            if self._collection is None:
                self._collection = self._open_collection()
            return self._collection

    def _open_collection(self):
        try:
            col = self.client.get_or_create_collection(
                self.settings.collection,
                metadata={"embedding_model": self.embedding_model, "revision": 0},
                configuration={"hnsw": {"space": "cosine"}},
                embedding_function=None,
            )
        except Exception as exc:
            raise StoreUnavailable(f"Cannot open collection {self.settings.collection!r} on the {self.where}: {exc}") from exc
        found = (col.metadata or {}).get("embedding_model")
        if found != self.embedding_model:
            raise IndexMismatch(
                f"Collection {self.settings.collection!r} on the {self.where} was built with embedding "
                f"model {found!r}, not {self.embedding_model!r}; re-index into a new QA_DATA_DIR or "
                f"QA_COLLECTION."
            )
        return col

    def call(self, what: str, fn, *args, **kwargs):
        """Run a store operation, turning connection failures into one clear error."""
        try:
            return fn(*args, **kwargs)
        except (IndexMismatch, StoreUnavailable):
            raise
        except Exception as exc:
            if _is_connection_error(exc):
                self._client = None
                self._collection = None
                raise StoreUnavailable(f"{what} failed: cannot reach the {self.where} ({exc})") from exc
            problem = self._disk_problem(exc)
            if problem:
                # a client that failed a write can hang on the next one (chromadb 1.5.9): start clean
                self.close()
                _forget_clients()
                raise StoreUnavailable(
                    f"{what} failed: the {self.where} is {problem} ({exc}). Nothing was half-written: "
                    f"fix that and run again"
                ) from exc
            raise

    def _disk_problem(self, exc: BaseException) -> str | None:
        """'full' or 'read-only' when the store's disk refused a write, else None."""
        errnos = {getattr(e, "errno", None) for e in _chain(exc)}
        text = " ".join(str(e) for e in _chain(exc)).lower()
        read_only = errno.EROFS in errnos or "readonly database" in text or "read-only" in text
        full = (errno.ENOSPC in errnos or errno.EDQUOT in errnos or "disk is full" in text
                or "no space left" in text or "compaction" in text)
        if not (read_only or full):
            return None
        if not self.settings.remote:
            try:
                if shutil.disk_usage(self.settings.chroma_dir).free < 1_000_000:
                    return "full (no space left on its disk)"
            except OSError:
                pass
            if not os.access(self.settings.chroma_dir, os.W_OK):
                return "read-only (readonly database)"
        return "read-only (readonly database)" if read_only else "full (no space left on its disk)"

    @property
    def embeddings(self) -> OnnxSentenceEmbeddings:
        with self._lock:
            if self._embeddings is None:
                self._embeddings = OnnxSentenceEmbeddings(
                    self.embedding_model, batch_size=self.settings.embed_batch_size
                )
            return self._embeddings

    # --- revision --------------------------------------------------------
    def _read_revision(self) -> tuple[int, str]:
        def read():
            _ = self.collection  # created on first use, so a fresh store starts at revision 0
            col = self.client.get_collection(self.settings.collection, embedding_function=None)
            meta = col.metadata or {}
            return int(meta.get("revision", 0)), str(meta.get("writer", ""))

        return self.call("Reading the index revision", read)

    def revision(self) -> int:
        return self._read_revision()[0]

    def bump_revision(self) -> int:
        def bump():
            _ = self.collection
            col = self.client.get_collection(self.settings.collection, embedding_function=None)
            meta = dict(col.metadata or {})
            meta["revision"] = int(meta.get("revision", 0)) + 1
            meta["writer"] = writer_id()  # so a reader can tell another process's writes from its own
            col.modify(metadata=meta)
            return meta["revision"]

        rev = self.call("Updating the index revision", bump)
        with self._lock:
            self._state = None  # our own write: the next state() reads again, no reopen needed
            self._seen_revision = rev
        return rev

    def state(self) -> tuple[int, int]:
        """(revision, chunk count), read from the store only when it may have moved.

        The embedded store's files change on every write, by any process, so an unchanged
        file signature means the last answer still holds (microseconds instead of two
        store round trips per question). A Chroma server is asked each time.
        """
        sig = self._disk_signature()
        with self._lock:
            if sig is not None and sig == self._signature and self._state is not None:
                return self._state
        rev, writer = self._read_revision()
        count = self.count()
        with self._lock:
            self._signature, self._state = sig, (rev, count)
        return rev, count

    def refresh(self) -> tuple[int, int]:
        """See writes made by other processes before answering.

        The embedded client keeps its vector segment in memory and does not notice what
        another process (``python -m ingest`` beside a running chat) wrote; BM25 would
        (it follows the revision) but dense search would not. When the revision moved and
        the last writer was not this process, reopen the client: its segments reload from
        disk. A Chroma server shares one segment between all clients, so it needs nothing.
        """
        rev, count = self.state()
        with self._lock:
            seen, self._seen_revision = self._seen_revision, rev
        if seen is None or seen == rev or self.settings.remote:
            return rev, count
        _, writer = self._read_revision()
        if writer != writer_id():
            self._reopen()
        return rev, count

    def _reopen(self) -> None:
        with self._lock:
            client = self._client
            if client is not None:
                _drop_cached_system(client)
            self._client = None
            self._collection = None
            self._state = None

    def _disk_signature(self) -> tuple | None:
        if self.settings.remote:
            return None
        sig = []
        for name in ("chroma.sqlite3", "chroma.sqlite3-wal"):
            try:
                st = os.stat(self.settings.chroma_dir / name)
                sig.append((st.st_mtime_ns, st.st_size))
            except OSError:
                sig.append(None)
        return tuple(sig) if sig[0] is not None else None

    # --- writes ----------------------------------------------------------
    def upsert(self, ids: list[str], documents: list[str], metadatas: list[dict], embeddings) -> None:
        col = self.collection
        self.call("Writing chunks", col.upsert, ids=ids, documents=documents, metadatas=metadatas, embeddings=embeddings)

    def delete_ids(self, ids: list[str]) -> None:
        if ids:
            col = self.collection
            for i in range(0, len(ids), GET_BATCH):
                self.call("Deleting chunks", col.delete, ids=ids[i : i + GET_BATCH])

    # --- reads -----------------------------------------------------------
    def count(self) -> int:
        return self.call("Counting chunks", self.collection.count)

    def ids_where(self, where: dict) -> list[str]:
        res = self.call("Reading chunk ids", self.collection.get, where=where, include=[])
        return list(res["ids"])

    def get(self, ids: list[str]) -> list[Stored]:
        if not ids:
            return []
        res = self.call("Reading chunks", self.collection.get, ids=ids, include=["documents", "metadatas"])
        found = {i: Stored(i, d, m) for i, d, m in zip(res["ids"], res["documents"], res["metadatas"])}
        return [found[i] for i in ids if i in found]

    @staticmethod
    def stored_rows(res: dict) -> list[Stored]:
        """A Chroma query result (one query) as Stored rows."""
        return [Stored(i, d or "", m or {}) for i, d, m in zip(res["ids"][0], res["documents"][0], res["metadatas"][0])]

    def iter_all(self, include=("documents", "metadatas")):
        """Every chunk, in batches, for rebuilding derived caches."""
        offset = 0
        col = self.collection
        while True:
            res = self.call("Reading chunks", col.get, limit=GET_BATCH, offset=offset, include=list(include))
            ids = res["ids"]
            if not ids:
                return
            docs = res.get("documents") or [""] * len(ids)
            metas = res.get("metadatas") or [{}] * len(ids)
            for i, d, m in zip(ids, docs, metas):
                yield Stored(i, d or "", m or {})
            offset += len(ids)

    def bm25(self):
        """The current BM25 snapshot (:class:`qa.bm25.BM25Snapshot`), rebuilt from Chroma when its
        revision is stale. Take it once per question: it never changes under the caller."""
        from .bm25 import BM25Cache

        with self._lock:
            if self._bm25 is None:
                self._bm25 = BM25Cache(self, self._bm25_dir())
            return self._bm25.ensure_fresh()

    def _bm25_dir(self) -> Path:
        s = self.settings
        key = f"{s.chroma_host}_{s.chroma_port}" if s.remote else "local"
        return s.cache_dir / "bm25" / f"{key}_{s.collection}"

    def close(self) -> None:
        self._collection = None
        self._client = None
        self._bm25 = None
        self._state = None
        self._signature = None


def _bound_timeouts(client, seconds: float) -> None:
    """chromadb 1.5's HttpClient waits forever (httpx timeout=None); give it a bound.

    Reads get at least a minute because a large upsert can legitimately take that long.
    This reaches into a private attribute; if chromadb renames it we keep its default.
    """
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(seconds, read=max(60.0, seconds), write=max(60.0, seconds))


def _is_connection_error(exc: Exception) -> bool:
    names = {type(e).__name__ for e in _chain(exc)}
    text = " ".join(str(e) for e in _chain(exc)).lower()
    return bool(
        names & {"ConnectError", "ConnectTimeout", "ReadTimeout", "RemoteProtocolError", "ConnectionError",
                 "ConnectionRefusedError", "ReadError", "WriteError", "PoolTimeout"}
        or "could not connect" in text
        or "connection refused" in text
    )


def _drop_cached_system(client) -> None:
    """Make the next PersistentClient for this path start a new system (segments read from disk).

    The old system is not stopped: another thread may be mid-query on it; it is freed when
    the last reference goes.
    """
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        ident = getattr(client, "_identifier", None)
        cache = SharedSystemClient._identifier_to_system
        if ident is not None and cache.get(ident) is getattr(client, "_system", None):
            cache.pop(ident, None)
    except Exception:  # noqa: BLE001 - a chromadb without this cache: the reopen is a no-op
        pass


def _forget_clients() -> None:
    """Drop chromadb's per-path client cache so the next open really starts again."""
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
    except Exception:  # noqa: BLE001 - best effort; the next open reports its own error
        pass


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


_default: Index | None = None
_default_lock = threading.Lock()


def get_index() -> Index:
    """The process-wide index for the current settings (reset with :func:`reset_index`)."""
    global _default
    with _default_lock:
        s = get_settings()
        if _default is None or _default.settings is not s:
            _default = Index(s)
        return _default


def reset_index() -> None:
    global _default
    with _default_lock:
        if _default is not None:
            _default.close()
        _default = None
