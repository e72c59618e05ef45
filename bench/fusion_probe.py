"""Tune how dense and BM25 candidates are fused, offline, over a built eval store, in both modes.

    .venv/bin/python bench/fusion_probe.py --questions DEV.jsonl [--data-dir ~/.cache/news-qa/eval-store]
        [--archive YYYY-MM-DD] [--cache C.json] [--objective mrr@10|answer@4] [--json bench/results/fusion-dev.json]

Each question's candidates (dense and BM25, ``--pool`` each) are fetched once as of its own
date and once as of the archive day (``--archive``, default: the newest question date + 30
days); every fusion setting on the grid then re-ranks those same candidates, so a grid of
hundreds of settings costs seconds. A setting is scored in both modes: ranking by the
mean of the two MRRs (or, ``--objective answer@4``, of the share of questions whose gold answer
stands in the reader's 4 passages), since a setting that wins one mode by losing the other is no win.
Ranking is ``qa.retrieve.fuse`` itself, so what wins here is what ships. Pick on dev,
confirm on test with ``qa.eval`` (and ``qa.eval --archive``).
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


def candidates(index: Index, q, pool: int, as_of) -> dict:
    """The question's candidates exactly as ``qa.retrieve`` gathers them (as JSON, for ``--cache``)."""
    c = gather(q.question, index, filters=Filters(as_of=as_of),
               fusion=Fusion.from_settings(index.settings, candidates=pool))
    # retrieval reads only light metadata for candidates (text for the few fusion reaches); the
    # probe re-ranks offline, so it reads every candidate's text and url once, here
    full = c.fetch(list(c.meta)) if c.fetch is not None else c.meta
    meta = {cid: {"url": m.get("url", ""), "article_id": m.get("article_id", cid), "title": m.get("title", ""),
                  "published_days": int(m.get("published_days", UNDATED)), "_text": m.get("_text", "")}
            for cid, m in full.items()}
    window = None if c.window is None else [c.window.start.isoformat(), c.window.end.isoformat(), c.window.phrase]
    return {"question": q.question, "ref": c.ref_days, "gold": q.gold_urls, "answers": q.answers, "dense": c.dense,
            "bm25": c.bm25, "meta": meta, "window": window}


def _window(w):
    if not w:
        return None
    import datetime as dt

    from qa.timewords import Window

    return Window(dt.date.fromisoformat(w[0]), dt.date.fromisoformat(w[1]), False, w[2])


def evaluate(cands: list[dict], depth: int = 100, k: int = 4, **kw) -> dict:
    """Gold-URL ranks (hit@n, MRR) and ``answer@k``: the share of questions whose gold answer stands
    in one of the ``k`` passages the reader gets. On the full corpus a miss by URL is often another
    article on the same story (CNN's daily digest, a second outlet) that answers just as well."""
    recs = []
    answered = []
    fusion = Fusion(candidates=depth, **kw)
    for c in cands:
        chosen = fuse(c["question"], c["dense"][:depth], c["bm25"][:depth], c["meta"], c["ref"], fusion, 10,
                      _window(c.get("window")))  # the cache holds every candidate's text: no fetch
        urls = [c["meta"][cid]["url"] for _, cid in chosen]
        recs.append({"gold_urls": c["gold"], "gold_rank": M.retrieval_ranks(urls, c["gold"])})
        if c.get("answers"):
            top = [c["meta"][cid]["_text"] for _, cid in chosen[:k]]
            answered.append(any(M.text_contains(M.padded_norm(t), a) for t in top for a in c["answers"]))
    out = {key: round(v, 3) for key, v in M.summarize_retrieval(recs).items()}
    if answered:
        out[f"answer@{k}"] = round(sum(answered) / len(answered), 3)
    return out


GRID = {
    "rrf_k": [10.0, 30.0, 60.0],
    "dense_weight": [0.5, 1.0],
    "recency_weight": [0.0, 0.25, 0.5, 1.0],
    "recency_tau_days": [7.0, 30.0],
    "depth": [40, 100],
}


def both(cands: dict, objective: str = "mrr@10", **kw) -> dict:
    """The setting scored as of question dates and in archive mode, and the mean of the two
    (``objective``: ``mrr@10``, or ``answer@4`` with MRR breaking ties)."""
    on_day, archive = evaluate(cands["day"], **kw), evaluate(cands["archive"], **kw)
    mean = (on_day[objective] + archive[objective]) / 2
    if objective != "mrr@10":
        mean += (on_day["mrr@10"] + archive["mrr@10"]) / 2000
    return {"day": on_day, "archive": archive, "objective": round(mean, 4),
            "gap_mrr": round(on_day["mrr@10"] - archive["mrr@10"], 3)}


def main() -> int:
    import datetime as dt

    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", required=True)
    ap.add_argument("--data-dir", default=str(Path.home() / ".cache/news-qa/eval-store"))
    ap.add_argument("--pool", type=int, default=max(GRID["depth"]))
    ap.add_argument("--archive", help="the archive day (default: newest question date + 30 days)")
    ap.add_argument("--cache", help="candidates JSON (written on first run, read after)")
    ap.add_argument("--json")
    ap.add_argument("--objective", default="mrr@10", choices=["mrr@10", "answer@4"],
                    help="what ranks the settings: gold-URL MRR, or the gold answer among the reader's 4 passages")
    args = ap.parse_args()
    qs = [q for q in load_questions(args.questions) if q.gold_urls]
    cache = Path(args.cache) if args.cache else None
    if cache and cache.exists():
        cands = json.loads(cache.read_text())
        answers = {q.question: q.answers for q in qs}  # a cache written before answer@4 was measured
        for c in cands["day"] + cands["archive"]:
            c.setdefault("answers", answers.get(c["question"], []))
    else:
        index = Index(Settings(data_dir=Path(args.data_dir).expanduser()))
        archive = dt.date.fromisoformat(args.archive) if args.archive else max(q.date for q in qs) + dt.timedelta(days=30)
        t0 = time.time()
        cands = {"archive_day": archive.isoformat(),
                 "day": [candidates(index, q, args.pool, q.date) for q in qs],
                 "archive": [candidates(index, q, args.pool, archive) for q in qs]}
        print(f"candidates for {len(qs)} questions, both modes, in {time.time() - t0:.0f}s", flush=True)
        if cache:
            cache.write_text(json.dumps(cands))
    rows = []
    keys = list(GRID)
    for values in itertools.product(*GRID.values()):
        kw = dict(zip(keys, values))
        if kw["recency_weight"] == 0 and kw["recency_tau_days"] != GRID["recency_tau_days"][0]:
            continue
        rows.append({**kw, **both(cands, args.objective, **kw)})
    rows.sort(key=lambda r: -r["objective"])
    s = Settings()
    current = {"rrf_k": s.rrf_k, "dense_weight": s.dense_weight, "recency_weight": s.recency_weight,
               "recency_tau_days": s.recency_tau_days, "depth": s.candidates}
    cur = {**current, **both(cands, args.objective, **current)}
    print("current defaults:", json.dumps(cur))
    for r in rows[:15]:
        print(json.dumps(r))
    if args.json:
        Path(args.json).write_text(json.dumps({"questions": Path(args.questions).name, "n": len(qs), "pool": args.pool,
                                               "objective": args.objective,
                                               "archive_day": cands["archive_day"], "current": cur, "top": rows[:30]},
                                              indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
