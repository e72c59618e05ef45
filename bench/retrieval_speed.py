"""Retrieval latency next to the plain recipe, in the same run, on the same store and questions.

    .venv/bin/python bench/retrieval_speed.py --questions Q.jsonl --data-dir STORE [--repeat 3]
        [--json bench/results/retrieval-speed.json]

"Plain recipe" is LangChain's ``Chroma(...).similarity_search(question, k=4)`` over our own
collection and embedding model, so the two differ only in what retrieval does (BM25, fusion,
dates, filters, fetching). The two are timed alternately, question by question, so machine
load hits both alike; where our time goes is measured the same way, step by step.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa.eval.data import load_questions  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.retrieve import Filters, Fusion, gather, retrieve  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.timewords import time_window  # noqa: E402


class _Embeddings:
    """Our embedding model behind LangChain's Embeddings interface (what the recipe is given)."""

    def __init__(self, index: Index):
        self.index = index

    def embed_query(self, text: str) -> list[float]:
        return self.index.embeddings.embed([text])[0].tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [v.tolist() for v in self.index.embeddings.embed(texts)]


def main() -> int:
    from langchain_chroma import Chroma

    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    s = Settings(data_dir=Path(args.data_dir).expanduser())
    index = Index(s)
    fusion = Fusion.from_settings(s)
    recipe = Chroma(client=index.client, collection_name=s.collection, embedding_function=_Embeddings(index))
    qs = load_questions(args.questions)
    retrieve(qs[0].question, index, k=4, filters=Filters(as_of=qs[0].date), fusion=fusion)  # warm: BM25 cache, model
    recipe.similarity_search(qs[0].question, k=4)
    ours, plain = [], []
    steps: dict[str, list[float]] = {"embed": [], "time words": [], "freshness": [], "gather": []}
    for _ in range(args.repeat):
        for q in qs:
            f = Filters(as_of=q.date)
            t = time.perf_counter()
            retrieve(q.question, index, k=4, filters=f, fusion=fusion)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            recipe.similarity_search(q.question, k=4)
            plain.append(time.perf_counter() - t)
            t = time.perf_counter()
            index.embeddings.embed([q.question])
            steps["embed"].append(time.perf_counter() - t)
            t = time.perf_counter()
            time_window(q.question, q.date)
            steps["time words"].append(time.perf_counter() - t)
            t = time.perf_counter()
            index.refresh()
            steps["freshness"].append(time.perf_counter() - t)
            t = time.perf_counter()
            gather(q.question, index, filters=f, fusion=fusion)
            steps["gather"].append(time.perf_counter() - t)

    def p50(xs):
        return round(statistics.median(xs) * 1000, 1)

    out = {"questions": Path(args.questions).name, "n": len(ours), "chunks": index.count(),
           "ours_p50_ms": p50(ours), "recipe_p50_ms": p50(plain), "ratio": round(p50(ours) / p50(plain), 2),
           "steps_p50_ms": {k: p50(v) for k, v in steps.items()}, "load_avg_1m_end": os.getloadavg()[0]}
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
