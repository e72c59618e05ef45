"""Sentence selection on its own: is an answer-bearing sentence among those the reader is given?

    .venv/bin/python bench/evidence_probe.py --questions Q.jsonl --data-dir STORE [--limit 60]
        [--budgets 100,150,200,250,350] [--sentences 4,6,8] [--neighbours 0,0.7]

Measured before tuning the reader's prompt (issue 11): the reader cannot pick a sentence it
never sees, so the share of questions whose gold answer stands in a given sentence bounds
the reader's accuracy. Retrieval is `qa.retrieve` and selection `qa.evidence.select`, as shipped;
the token count is the evidence as the reader sees it (`format_evidence`), at 4 characters a token.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa.answer import _memoised  # noqa: E402
from qa.eval import metrics as M  # noqa: E402
from qa.eval.data import load_questions  # noqa: E402
from qa.evidence import format_evidence, select  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.retrieve import Filters, Fusion, retrieve  # noqa: E402
from qa.settings import Settings  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--budgets", default="100,150,200,250,350")
    ap.add_argument("--sentences", default="4,6,8")
    ap.add_argument("--neighbours", default="0", help="shares of a neighbour's score (qa.evidence.select)")
    ap.add_argument("--rank-weights", help="what a retrieval place costs a sentence (default QA_EVIDENCE_RANK_WEIGHT)")
    ap.add_argument("--k", type=int, help="passages retrieved (default QA_K)")
    ap.add_argument("--json")
    args = ap.parse_args()
    s = Settings(data_dir=Path(args.data_dir).expanduser())
    index = Index(s)
    qs = [q for q in load_questions(args.questions)[: args.limit] if q.answers]
    rows = []
    got = []
    for q in qs:
        passages = retrieve(q.question, index, k=args.k or s.k, filters=Filters(as_of=q.date), fusion=Fusion.from_settings(s))
        embed = _memoised(index.embeddings.embed)
        got.append((q, passages, embed))
    passage_hit = M.mean(any(M.text_contains(M.padded_norm(p.text), a) for p in ps for a in q.answers) for q, ps, _ in got)
    weights = [float(x) for x in args.rank_weights.split(",")] if args.rank_weights else [s.evidence_rank_weight]
    for rw, nb, b, n in itertools.product(weights, (float(x) for x in args.neighbours.split(",")),
                                          [int(x) for x in args.budgets.split(",")], [int(x) for x in args.sentences.split(",")]):
        hits, tokens = [], []
        for q, passages, embed in got:
            ev = select(q.question, passages, embed, token_budget=b, max_sentences=n, neighbour=nb, rank_weight=rw)
            hits.append(any(M.text_contains(M.padded_norm(e.shown), a) for e in ev for a in q.answers))
            tokens.append(len(format_evidence(ev, passages)) / 4)
        row = {"rank_weight": rw, "neighbour": nb, "budget": b, "max_sentences": n, "answer_in_evidence": round(M.mean(hits), 3),
               "answer_in_passages": round(passage_hit, 3), "evidence_tokens_p50": round(M.percentile(tokens, 50))}
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.json:
        Path(args.json).write_text(json.dumps({"questions": Path(args.questions).name, "n": len(qs), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
