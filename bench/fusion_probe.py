"""Tune how dense and BM25 candidates are fused, offline, over a built eval store.

    .venv/bin/python bench/fusion_probe.py --questions DEV.jsonl [--data-dir ~/.cache/news-qa/eval-store]
        [--grid] [--json bench/results/fusion-dev.json]

Each question's candidates (dense and BM25, ``--pool`` each, as of its date) are fetched
once; every fusion setting on the grid then re-ranks those same candidates, so a grid of
hundreds of settings costs seconds. Ranking is ``qa.retrieve.fuse`` itself, so what wins here
is what ships. Pick on dev, confirm on test with ``qa.eval``.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa.dates import UNDATED  # noqa: E402
from qa.eval import metrics as M  # noqa: E402
from qa.eval.data import load_questions  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.retrieve import Filters, Fusion, fuse, gather  # noqa: E402
from qa.settings import Settings  # noqa: E402


def candidates(index: Index, q, pool: int) -> dict:
    """The question's candidates exactly as ``qa.retrieve`` gathers them (as JSON, for ``--cache``)."""
    c = gather(q.question, index, filters=Filters(as_of=q.date), candidates=pool)
    meta = {cid: {"url": m.get("url", ""), "article_id": m.get("article_id", cid),
                  "published_days": int(m.get("published_days", UNDATED)), "_text": m["_text"]}
            for cid, m in c.meta.items()}
    return {"question": q.question, "ref": c.ref_days, "gold": q.gold_urls, "dense": c.dense, "bm25": c.bm25,
            "meta": meta}


def evaluate(cands: list[dict], depth: int = 100, **kw) -> dict:
    recs = []
    fusion = Fusion(**kw)
    for c in cands:
        chosen = fuse(c["question"], c["dense"][:depth], c["bm25"][:depth], c["meta"], c["ref"], fusion, 10)
        urls = [c["meta"][cid]["url"] for _, cid in chosen]
        recs.append({"gold_urls": c["gold"], "gold_rank": M.retrieval_ranks(urls, c["gold"])})
    return {k: round(v, 3) for k, v in M.summarize_retrieval(recs).items()}


GRID = {
    "rrf_k": [10.0, 30.0, 60.0],
    "dense_weight": [0.5, 1.0, 1.5],
    "recency_weight": [0.0, 1.0, 2.0, 4.0, 8.0],
    "recency_tau_days": [7.0, 14.0, 30.0, 60.0],
    "depth": [40, 100],
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", required=True)
    ap.add_argument("--data-dir", default=str(Path.home() / ".cache/news-qa/eval-store"))
    ap.add_argument("--pool", type=int, default=max(GRID["depth"]))
    ap.add_argument("--cache", help="candidates JSON (written on first run, read after)")
    ap.add_argument("--json")
    args = ap.parse_args()
    qs = [q for q in load_questions(args.questions) if q.gold_urls]
    cache = Path(args.cache) if args.cache else None
    if cache and cache.exists():
        cands = json.loads(cache.read_text())
    else:
        index = Index(Settings(data_dir=Path(args.data_dir).expanduser()))
        t0 = time.time()
        cands = [candidates(index, q, args.pool) for q in qs]
        print(f"candidates for {len(qs)} questions in {time.time() - t0:.0f}s", flush=True)
        if cache:
            cache.write_text(json.dumps(cands))
    rows = []
    keys = list(GRID)
    for values in itertools.product(*GRID.values()):
        kw = dict(zip(keys, values))
        if kw["recency_weight"] == 0 and kw["recency_tau_days"] != GRID["recency_tau_days"][0]:
            continue
        rows.append({**kw, **evaluate(cands, **kw)})
    rows.sort(key=lambda r: (-r["mrr@10"], -r["hit@5"]))
    s = Settings()
    current = {"rrf_k": s.rrf_k, "dense_weight": s.dense_weight, "recency_weight": s.recency_weight,
               "recency_tau_days": s.recency_tau_days, "depth": s.candidates}
    cur = {**current, **evaluate(cands, **current)}
    print("current defaults:", json.dumps(cur))
    for r in rows[:15]:
        print(json.dumps(r))
    if args.json:
        Path(args.json).write_text(json.dumps({"questions": Path(args.questions).name, "n": len(qs), "pool": args.pool,
                                               "current": cur, "top": rows[:30]}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
