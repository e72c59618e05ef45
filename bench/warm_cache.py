"""Embed a corpus's chunks into the eval embedding cache (resumable; run once, reused by every bench run).

    python bench/warm_cache.py ARTICLES.jsonl [--embedding-model M] [--baseline] [--shard i/n --threads 1]

--baseline warms the chunks of the plain LangChain recipe (RecursiveCharacterTextSplitter(1000, 200)).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa.eval.cache import CachedEmbeddings, warm  # noqa: E402
from qa.eval.data import read_jsonl, to_articles  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("articles")
    ap.add_argument("--embedding-model", default="all-MiniLM-L6-v2-int8")
    ap.add_argument("--baseline", action="store_true")
    ap.add_argument("--shard", default="0/1", help="i/n: embed every n-th missing text from the i-th (run n processes)")
    ap.add_argument("--questions", help="embed the gold articles of these questions first, then the rest in file order")
    ap.add_argument("--limit", type=int, help="with --questions: only the first N questions")
    ap.add_argument("--max-articles", type=int, help="with --questions: their gold articles plus the first M others")
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime threads (1 per shard is best on a busy machine)")
    args = ap.parse_args()
    recs = read_jsonl(args.articles)
    if args.questions:
        # gold articles first, then file order: a --max-articles M run is cached early
        from qa.eval.data import load_questions, select_articles

        qs = load_questions(args.questions)[: args.limit]
        recs = select_articles(recs, qs, args.max_articles)
        gold = {u for q in qs for u in q.gold_urls}
        recs = [r for r in recs if r.get("url") in gold] + [r for r in recs if r.get("url") not in gold]
    if args.baseline:
        from qa.eval.baseline import baseline_chunks

        texts = [d.page_content for d in baseline_chunks(recs)]
    else:
        from ingest.chunking import chunk_article
        from qa.settings import get_settings

        s = get_settings()
        arts, _ = to_articles(recs, args.articles)
        texts = [c.embed_text for a in arts for c in chunk_article(a, s.chunk_size, s.chunk_overlap)]
    i, n = (int(x) for x in args.shard.split("/"))
    texts = list(dict.fromkeys(texts))[i::n]  # first-seen order; warm() sorts each piece by length
    emb = CachedEmbeddings(args.embedding_model, threads=args.threads)
    t0 = time.time()

    def progress(done, total):
        el = time.time() - t0
        print(f"{done}/{total} chunks cached  ({el:.0f}s, model {emb.misses / max(emb.model_seconds, 1e-9):.1f} chunks/s)", flush=True)

    warm(texts, emb, progress=progress)
    print(f"done: {len(texts)} chunks, {emb.misses} embedded in {emb.model_seconds:.0f}s")


if __name__ == "__main__":
    main()
