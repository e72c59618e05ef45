"""Markdown tables from bench/results/*.json (what bench/README.md shows).

    python bench/compare.py bench/results/*.json                 # every run, grouped
    python bench/compare.py --pair OURS.json BASELINE.json       # side by side, with time ratios
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _f(v, nd=3):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def label(s: dict, name: str) -> str:
    c = s["settings"]
    parts = [c["system"], c["mode"], "dates" if c["dates"] else "no dates"]
    if c.get("embedding_model") and c["embedding_model"] != "all-MiniLM-L6-v2-int8":
        parts.append(c["embedding_model"])
    if c.get("model"):
        parts.append(c["model"])
    return f"{' · '.join(parts)} ({name})"


def retrieval_table(runs: list[tuple[str, dict]]) -> str:
    out = ["| run | questions | n | hit@1 | hit@5 | hit@10 | MRR@10 | retrieval p50 / p95 ms |", "|---|---|---|---|---|---|---|---|"]
    for name, s in runs:
        if s.get("hit@5") is None:
            continue
        out.append(
            f"| {label(s, name)} | {s['settings']['questions_file']} | {s['n']} | {_f(s['hit@1'])} | {_f(s['hit@5'])} | "
            f"{_f(s['hit@10'])} | {_f(s['mrr@10'])} | {_f(s['retrieval_p50_ms'], 0)} / {_f(s['retrieval_p95_ms'], 0)} |"
        )
    return "\n".join(out)


def answer_table(runs: list[tuple[str, dict]]) -> str:
    out = [
        "| run | n | accuracy | token F1 | refused (answerable) | verbatim acc (n) | made-unans. refused (n) | "
        "written-unans. refused (n) | citation validity (markers) | supported | citation gold | answer p50 / p95 s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in runs:
        if s.get("accuracy") is None:
            continue
        out.append(
            f"| {label(s, name)} | {s['n']} | {_f(s['accuracy'])} | {_f(s['token_f1'])} | {_f(s['refusal_rate'])} | "
            f"{_f(s['verbatim_accuracy'])} ({s['verbatim_n']}) | {_f(s['made_unanswerable_refusal_rate'])} ({s['made_unanswerable_n']}) | "
            f"{_f(s['written_unanswerable_refusal_rate'])} ({s['written_unanswerable_n']}) | "
            f"{_f(s['citation_validity'])} ({s['citation_markers']}) | {_f(s['supported_rate'])} | {_f(s['citation_gold_rate'])} | "
            f"{_f(s['answer_p50_s'], 2)} / {_f(s['answer_p95_s'], 2)} |"
        )
    return "\n".join(out)


def cost_table(runs: list[tuple[str, dict]]) -> str:
    out = ["| run | articles | chunks | ingest s | ingest chunks/s (cached / uncached est.) | embed chunks/s | peak RSS MB |",
           "|---|---|---|---|---|---|---|"]
    for name, s in runs:
        out.append(
            f"| {label(s, name)} | {s['ingest_articles']} | {s['ingest_chunks']} | {_f(s['ingest_s'], 0)} | "
            f"{_f(s['ingest_chunks_per_s'], 1)} / {_f(s['ingest_chunks_per_s_uncached_est'], 1)} | "
            f"{_f(s['embed_chunks_per_s'], 1)} | {_f(s['peak_rss_mb'], 0)} |"
        )
    return "\n".join(out)


PAIR_ROWS = [
    ("hit@1", "hit@1"), ("hit@5", "hit@5"), ("hit@10", "hit@10"), ("MRR@10", "mrr@10"), ("accuracy", "accuracy"),
    ("token F1", "token_f1"), ("refusal rate (answerable)", "refusal_rate"),
    ("made-unanswerable refused", "made_unanswerable_refusal_rate"),
    ("written-unanswerable refused", "written_unanswerable_refusal_rate"),
    ("answers citing a gold passage", "citation_gold_rate"),
    ("retrieval p50 ms", "retrieval_p50_ms"), ("retrieval p95 ms", "retrieval_p95_ms"),
    ("answer p50 s", "answer_p50_s"), ("answer p95 s", "answer_p95_s"), ("first token p50 s", "first_token_p50_s"),
    ("chunks", "ingest_chunks"), ("ingest s", "ingest_s"), ("peak RSS MB", "peak_rss_mb"),
]
RATIO = {"ingest_s", "retrieval_p50_ms", "retrieval_p95_ms", "answer_p50_s", "answer_p95_s", "first_token_p50_s", "ingest_chunks", "peak_rss_mb"}


def pair_table(ours: dict, base: dict) -> str:
    out = [f"| metric | ours | baseline | ours / baseline |", "|---|---|---|---|"]
    for name, key in PAIR_ROWS:
        a, b = ours.get(key), base.get(key)
        ratio = f"{a / b:.2f}×" if key in RATIO and isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else ""
        out.append(f"| {name} | {_f(a)} | {_f(b)} | {ratio} |")
    return "\n".join(out)


def _rows(summary: dict) -> list[dict] | None:
    path = summary.get("results_file")
    if not path or not Path(path).exists():
        return None
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    fps = {r.get("fp") for r in rows}
    if len(fps) > 1:  # keep the latest run's rows
        last = rows[-1].get("fp")
        rows = [r for r in rows if r.get("fp") == last]
    return rows


def common_subset(ours: dict, base: dict) -> tuple[dict, dict, int] | None:
    """Both summaries recomputed on the questions both runs answered (runs cut by --max-minutes differ)."""
    from qa.eval import metrics as M

    a, b = _rows(ours), _rows(base)
    if a is None or b is None:
        return None
    keys = {r["key"] for r in a if "correct" in r} & {r["key"] for r in b if "correct" in r}

    def summ(rows):
        rows = [r for r in rows if r["key"] in keys]
        main = [r for r in rows if r["kind"] == "main"]
        out = {**M.summarize_retrieval(main), **M.summarize_answers(main)}
        for kind in ("made_unanswerable", "written_unanswerable"):
            sub = [r for r in rows if r["kind"] == kind]
            out[f"{kind}_refusal_rate"] = M.mean(r["refused"] for r in sub) if sub else None
            out[f"{kind}_n"] = len(sub)
        lat = [r["retrieval_ms"] for r in rows if r.get("retrieval_ms") is not None]
        out["retrieval_p50_ms"], out["retrieval_p95_ms"] = M.percentile(lat, 50), M.percentile(lat, 95)
        out["n"] = len(main)
        return out

    return summ(a), summ(b), len(keys)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*")
    ap.add_argument("--pair", nargs=2, metavar=("OURS", "BASELINE"))
    args = ap.parse_args()
    if args.pair:
        a, b = (json.loads(Path(p).read_text()) for p in args.pair)
        common = common_subset(a, b)
        if common and (a.get("partial") or b.get("partial")):
            ca, cb, n = common
            for key in ("ingest_chunks", "ingest_s", "peak_rss_mb"):
                ca[key], cb[key] = a.get(key), b.get(key)
            print(f"On the {n} questions (incl. unanswerable ones) both runs answered:\n")
            print(pair_table(ca, cb))
        else:
            print(pair_table(a, b))
        return 0
    runs = []
    for f in args.files:
        s = json.loads(Path(f).read_text())
        if "settings" in s and "hit@1" in s:
            runs.append((Path(f).stem, s))
    print("### Retrieval\n\n" + retrieval_table(runs) + "\n")
    print("### Answers\n\n" + answer_table(runs) + "\n")
    print("### Cost\n\n" + cost_table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
