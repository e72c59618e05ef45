"""Ingest throughput vs the embedding model's raw throughput on the same chunks.

    .venv/bin/python bench/ingest_throughput.py [--articles N] [--json bench/results/ingest.json]

Indexes the seed article and the first N articles of RealTimeQA-2022 into a
fresh temporary store, then times: raw embedding of exactly the chunks the
pipeline produced (the model alone), the full ingest (load, clean, chunk,
embed, write), and a re-ingest of the unchanged articles. Peak RSS is the
process's high-water mark.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=500)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="qa-ingest-bench-"))
    os.environ["QA_DATA_DIR"] = str(tmp)
    from ingest import add
    from ingest.chunking import chunk_article
    from ingest.loaders import load
    from qa.embeddings import OnnxSentenceEmbeddings
    from qa.index import Index
    from qa.settings import get_settings

    src = SHARED / "eval" / "realtimeqa-2022" / "articles.jsonl"
    subset = tmp / "subset.jsonl"
    with open(src) as f, open(subset, "w") as out:
        for i, line in enumerate(f):
            if i >= args.articles:
                break
            out.write(line)
    seed = SHARED / "corpus" / "000_6c5d0eca67019274.txt"
    results = {"threads": os.cpu_count()}
    settings = get_settings()
    model = OnnxSentenceEmbeddings(batch_size=settings.embed_batch_size)
    model.embed(["warm up"])
    for name, path in (("seed", seed), (f"realtimeqa_{args.articles}", subset)):
        arts = [a for a in load(str(path), settings) if hasattr(a, "text")]
        chunks = [c for a in arts for c in chunk_article(a, settings.chunk_size, settings.chunk_overlap)]
        t = time.perf_counter()
        model.embed([c.embed_text for c in chunks])
        raw = time.perf_counter() - t
        index = Index(settings)
        index._embeddings = model  # same warmed model for both timings
        t = time.perf_counter()
        report = add([str(path)], index=index)
        full = time.perf_counter() - t
        t = time.perf_counter()
        again = add([str(path)], index=index)
        reingest = time.perf_counter() - t
        assert again.chunks_added == 0 and len(again.unchanged) == len(report.indexed)
        results[name] = {
            "articles": len(report.indexed),
            "chunks": report.chunks_added,
            "embed_only_chunks_per_s": round(len(chunks) / raw, 2),
            "ingest_chunks_per_s": round(report.chunks_added / full, 2),
            "ratio": round((report.chunks_added / full) / (len(chunks) / raw), 3),
            "ingest_s": round(full, 2),
            "reingest_unchanged_s": round(reingest, 2),
        }
        print(name, json.dumps(results[name]), flush=True)
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
