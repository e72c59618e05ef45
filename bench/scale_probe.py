"""Retrieval latency and memory as the store grows: embedded Chroma and a `chroma run` server.

    .venv/bin/python bench/scale_probe.py                       # sizes the embedding cache can cover
    .venv/bin/python bench/scale_probe.py --sizes 5000,20000,54000 --queries 60
    .venv/bin/python bench/scale_probe.py --embed-missing       # embed what the cache lacks (~1 h for 54k on 2 cores)

The corpus is /work/shared/eval/realtimeqa-2022/articles.jsonl, chunked exactly as
``ingest`` does (≈54k chunks). Embeddings come from the eval harness's cache
(qa/eval/cache.py, ``$QA_EVAL_CACHE`` or ~/.cache/news-qa/eval-embeddings/), so
nothing is embedded twice; by default only articles whose chunks are all cached
are used, and a size the cache cannot fill is recorded as skipped, with the count.

For each mode (embedded ``PersistentClient``, ``chroma run`` on 127.0.0.1) the
store is grown to each size through the real ingest path (``add_articles``), then
``--queries`` RealTimeQA questions are asked of ``qa.retrieve`` as of their dates:

* ``hybrid``: the production path (query embedding + Chroma + BM25 + fusion);
* ``dense``:  the production dense path alone (query embedding + over-fetched Chroma query + date filter);
* ``chroma_where_filter``: one Chroma query with its own metadata filter and a precomputed vector
  (what the over-fetch replaces);

and memory is read: this process's RSS (embedded: the store lives here) and the
server's RSS. Results go to ``--json`` (default bench/results/scale.json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "eval" / "realtimeqa-2022"


def rss_mb(pid: int | str = "self") -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def tree_rss_mb(pid: int) -> float | None:
    """RSS of a process and its children (chroma run may fork)."""
    total, found = 0.0, False
    for p in [pid, *_children(pid)]:
        r = rss_mb(p)
        if r is not None:
            total, found = total + r, True
    return round(total, 1) if found else None


def _children(pid: int) -> list[int]:
    out = []
    try:
        for t in Path(f"/proc/{pid}/task").iterdir():
            kids = (t / "children").read_text().split()
            for k in kids:
                out.append(int(k))
                out.extend(_children(int(k)))
    except OSError:
        pass
    return out


def du_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6, 1)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


def ms(values: list[float]) -> dict:
    return {"p50_ms": round(pct(values, 50) * 1000, 1), "p95_ms": round(pct(values, 95) * 1000, 1),
            "mean_ms": round(statistics.mean(values) * 1000, 1), "n": len(values)}


class Server:
    def __init__(self, path: Path):
        from tests.chroma_server import ChromaServer

        self.s = ChromaServer(path)

    def __enter__(self):
        self.s.start(timeout=120)
        return self.s

    def __exit__(self, *exc):
        self.s.stop()


def plan(articles, chunk_counts: list[int], cached: list[bool], sizes: list[int], cached_only: bool):
    """Articles to use, in file order, and for each size the article count that reaches it."""
    usable = [i for i, ok in enumerate(cached) if ok or not cached_only]
    cum, marks, total = [], {}, 0
    for i in usable:
        total += chunk_counts[i]
        cum.append(i)
        for s in sizes:
            if s not in marks and total >= s:
                marks[s] = (len(cum), total)
    return usable, marks, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="5000,20000,54000")
    ap.add_argument("--modes", default="embedded,server")
    ap.add_argument("--queries", type=int, default=60)
    ap.add_argument("--embed-missing", action="store_true", help="embed chunks the cache lacks (slow)")
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "scale.json"))
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="qa-scale-"))
    os.environ["QA_DATA_DIR"] = str(tmp / "data")
    os.environ.pop("QA_CHROMA_HOST", None)

    from ingest.chunking import chunk_article
    from ingest.indexer import add_articles
    from qa.eval.cache import CachedEmbeddings, EmbeddingCache, text_key
    from qa.eval.data import load_questions, read_jsonl, to_articles
    from qa.index import Index
    from qa.retrieve import Filters, Fusion, retrieve
    from qa.settings import Settings, get_settings

    t0 = time.perf_counter()
    arts, _failed = to_articles(read_jsonl(DATA / "articles.jsonl"), str(DATA / "articles.jsonl"))
    s = get_settings()
    chunks = [chunk_article(a, s.chunk_size, s.chunk_overlap) for a in arts]
    n_total = sum(len(c) for c in chunks)
    cache = EmbeddingCache()
    emb = CachedEmbeddings(cache=cache)
    have = cache.get_many(emb.name, [text_key(c.embed_text) for cs in chunks for c in cs])
    cached = [all(text_key(c.embed_text) in have for c in cs) for cs in chunks]
    n_cached = len(have)
    print(f"{len(arts)} articles, {n_total} chunks; the embedding cache ({cache.path}) holds {n_cached} of them; "
          f"{sum(len(c) for c, ok in zip(chunks, cached) if ok)} chunks in fully cached articles "
          f"({time.perf_counter() - t0:.0f}s to chunk and look up)", flush=True)
    usable, marks, reachable = plan(arts, [len(c) for c in chunks], cached, sizes, not args.embed_missing)
    questions = [q for q in load_questions(DATA / "questions.jsonl")][: args.queries]
    out: dict = {
        "date": dt.datetime.now().isoformat(timespec="seconds"), "cpus": os.cpu_count(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "corpus": {"articles": len(arts), "chunks": n_total, "cached_chunks": n_cached,
                   "chunks_in_fully_cached_articles": reachable if not args.embed_missing else None},
        "command": " ".join([Path(sys.executable).name, *sys.argv]), "queries": len(questions),
        "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip(),
        "rows": [], "skipped": [],
    }
    for size in sizes:
        if size not in marks:
            out["skipped"].append({"size": size, "reason": f"the embedding cache covers only {reachable} chunks "
                                   f"in whole articles ({n_cached} of {n_total} cached); run bench/warm_cache.py "
                                   "or pass --embed-missing"})
            print(f"skip {size}: {out['skipped'][-1]['reason']}", flush=True)
    qvecs = emb.raw_embed([q.question for q in questions])  # for the store-only timing
    base_rss = rss_mb()
    for mode in args.modes.split(","):
        store = tmp / f"{mode}-store"
        server = Server(store) if mode == "server" else None
        ctx = server if server else _null()
        with ctx as srv:
            settings = Settings(data_dir=tmp / f"{mode}-data",
                                **({"chroma_host": "127.0.0.1", "chroma_port": srv.port, "chroma_timeout_s": 120}
                                   if srv else {}))
            index = Index(settings)
            index._embeddings = emb
            done = 0
            for size in sizes:
                if size not in marks:
                    continue
                upto, _ = marks[size]
                emb.caching = True
                t1 = time.perf_counter()
                add_articles((arts[i] for i in usable[done:upto]), index=index)
                ingest_s = time.perf_counter() - t1
                done = upto
                emb.caching = False  # queries pay for the model, as in production
                t2 = time.perf_counter()
                index.bm25()
                bm25_s = time.perf_counter() - t2
                hybrid, dense, filtered = [], [], []
                fusion = Fusion.from_settings(s)
                for q, vec in zip(questions, qvecs):
                    f = Filters(as_of=q.date)
                    t = time.perf_counter()
                    retrieve(q.question, index, k=s.k, filters=f, candidates=s.candidates, fusion=fusion)
                    hybrid.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    retrieve(q.question, index, k=s.k, filters=f, candidates=s.candidates, fusion=fusion, mode="dense")
                    dense.append(time.perf_counter() - t)
                    t = time.perf_counter()  # what Chroma's own metadata filter would cost (not used: see qa/retrieve.py)
                    index.collection.query(query_embeddings=[vec.tolist()], n_results=s.candidates,
                                           where=f.chroma_where(), include=["documents", "metadatas"])
                    filtered.append(time.perf_counter() - t)
                row = {
                    "mode": mode, "chunks": index.count(), "articles": upto,
                    "ingest_s": round(ingest_s, 1), "bm25_build_s": round(bm25_s, 2),
                    "hybrid": ms(hybrid), "dense": ms(dense), "chroma_where_filter": ms(filtered),
                    "rss_mb": rss_mb(), "rss_delta_mb": round((rss_mb() or 0) - (base_rss or 0), 1),
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                    "server_rss_mb": tree_rss_mb(srv.proc.pid) if srv else None,
                    "store_mb": du_mb(store if srv else settings.chroma_dir),
                    "loadavg": round(os.getloadavg()[0], 2),
                }
                out["rows"].append(row)
                print(json.dumps(row), flush=True)
            index.close()
    out["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.json}")
    shutil.rmtree(tmp, ignore_errors=True)


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    main()
