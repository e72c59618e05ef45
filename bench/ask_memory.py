"""Memory of answering alone: the resident size of a process that opens a store and asks, step by step.

    .venv/bin/python bench/ask_memory.py --data-dir ~/.cache/news-qa/eval-store-full \
        --questions ../shared/eval/realtimeqa-2022/questions-test.jsonl [--limit 5] [--json OUT]

The eval's peak RSS also holds the harness (every article of the corpus read for the idempotent
ingest check, the records, a BM25 rebuild when it deletes gold articles); this is what a chat or
an ``ask()`` caller pays: the BM25 arrays, Chroma's index, the embedding model and the local model.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return round(int(next(line for line in f if line.startswith("VmRSS:")).split()[1]) / 1024, 1)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--questions", required=True)
    ap.add_argument("--limit", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    steps = {"start": rss_mb()}
    import qa
    from qa.eval.data import load_questions
    from qa.index import Index
    from qa.settings import Settings

    steps["imported"] = rss_mb()
    index = Index(Settings(data_dir=Path(args.data_dir).expanduser()))
    index.bm25()
    steps["store opened (BM25 arrays read)"] = rss_mb()
    questions = load_questions(args.questions)[: args.limit]
    for i, q in enumerate(questions, 1):
        qa.ask(q.question, as_of=q.date, index=index)
        steps[f"after question {i}"] = rss_mb()
    out = {"data_dir": args.data_dir, "chunks": index.refresh()[1], "rss_mb": steps,
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
