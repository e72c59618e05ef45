"""Tune retrieval on the dev split: one index, a grid of recency_tau_days × candidates.

    python bench/tune.py --articles ARTICLES.jsonl --questions questions-dev.jsonl \
        [--data-dir DIR] [--json bench/results/tune-dev.json]

Builds (or reuses, with --data-dir) one store, then scores hybrid retrieval with dates for
every setting on the grid. Pick on dev, report on test (bench/run.sh does the test run).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa.eval import metrics as M  # noqa: E402
from qa.eval.cache import CachedEmbeddings  # noqa: E402
from qa.eval.data import load_questions, read_jsonl  # noqa: E402
from qa.eval.systems import OurSystem  # noqa: E402
from qa.settings import Settings  # noqa: E402

TAUS = [0.0, 3.0, 7.0, 14.0, 30.0, 60.0]
CANDIDATES = [20, 40, 80]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", required=True)
    ap.add_argument("--questions", required=True)
    ap.add_argument("--data-dir")
    ap.add_argument("--json")
    args = ap.parse_args()
    tmp = None if args.data_dir else tempfile.mkdtemp(prefix="qa-tune-")
    settings = Settings(data_dir=Path(args.data_dir or tmp).expanduser())
    emb = CachedEmbeddings(batch_size=settings.embed_batch_size)
    system = OurSystem(settings, embedding_model=emb.name, mode="hybrid", dates=True, k=settings.k, emb=emb)
    questions = [q for q in load_questions(args.questions) if q.gold_urls]
    try:
        t0 = time.time()
        info = system.build(read_jsonl(args.articles), args.articles, lambda n: None)
        print(f"index: {info['chunks']:,} chunks in {time.time() - t0:.0f}s", flush=True)
        rows = []
        for cand in CANDIDATES:
            for tau in TAUS:
                settings.candidates = cand
                settings.recency_tau_days = tau
                system.dates = True
                recs = []
                for q in questions:
                    urls, _ = system.retrieve(q)
                    recs.append({"gold_urls": q.gold_urls, "gold_rank": M.retrieval_ranks(urls, q.gold_urls)})
                m = M.summarize_retrieval(recs)
                row = {"candidates": cand, "recency_tau_days": tau, **{k: round(v, 3) for k, v in m.items()}}
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        system.close()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    best = max(rows, key=lambda r: (r["mrr@10"], r["hit@5"]))
    out = {"questions": Path(args.questions).name, "n": len(questions), "grid": rows, "best_by_mrr@10": best}
    print("best on dev:", json.dumps(best))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
