"""The local reader's speed levers, one at a time, on the same questions and the same evidence.

    .venv/bin/python bench/reader_levers.py --questions Q.jsonl --data-dir STORE [--limit 20]
        [--json bench/results/reader-levers.json]

Retrieval and evidence selection run once per question (not timed here); each lever then
reads the same input. Times are the reader's own: first answer character and total. Levers:
the old free-text passage prompt (≈700 tokens), the structured reader over evidence
sentences at two budgets, with and without the reused system-prompt prefix (the KV cache
reset before each question), prompt-lookup decoding, one thread instead of all, and today's
defaults, to run under each llama.cpp build (with and without the AMX tile kernels of
scripts/install.sh; the row records which).
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

import llama_cpp  # noqa: E402

from qa.answer import _memoised  # noqa: E402
from qa.answerers import Draft, Reading, resolve  # noqa: E402
from qa.eval.data import load_questions  # noqa: E402
from qa.evidence import select_with  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.retrieve import Filters, Fusion, retrieve  # noqa: E402
from qa.settings import Settings  # noqa: E402

LEVERS = [
    # name, settings overrides, reset the KV cache before each question
    ("free text over passages (the old reader)", {"local_reader": "free"}, False),
    ("structured, evidence 250 tokens, no prefix reuse", {"evidence_token_budget": 250, "evidence_sentences": 8}, True),
    ("structured, evidence 250 tokens", {"evidence_token_budget": 250, "evidence_sentences": 8}, False),
    ("structured, evidence 200 tokens (default)", {"evidence_token_budget": 200, "evidence_sentences": 6}, False),
    ("structured, evidence 150 tokens", {"evidence_token_budget": 150, "evidence_sentences": 5}, False),
    ("structured, 200 + prompt lookup (10)", {"evidence_token_budget": 200, "evidence_sentences": 6, "local_prompt_lookup": 10}, False),
    ("structured, 200, one thread", {"evidence_token_budget": 200, "evidence_sentences": 6, "local_threads": 1}, False),
    # run once with each llama.cpp build (PYTHONPATH=<a target dir holding the other wheel>): the row says which
    ("structured, today's defaults (180 tokens, 6 sentences, 6-word dated headings)", {}, False),
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--only", help="run only the levers whose name contains this")
    ap.add_argument("--json")
    args = ap.parse_args()
    base = Settings(data_dir=Path(args.data_dir).expanduser(), llm="local")
    index = Index(base)
    qs = load_questions(args.questions)[: args.limit]
    got = []
    for q in qs:
        passages = retrieve(q.question, index, k=base.k, filters=Filters(as_of=q.date), fusion=Fusion.from_settings(base))
        got.append((q, passages, _memoised(index.embeddings.embed)))
    rows = []
    for name, overrides, reset in LEVERS:
        if args.only and args.only not in name:
            continue
        s = base.model_copy(update=overrides)
        answerer = resolve(s)
        answerer.warm_up()
        model = answerer.chat._loaded()
        firsts, totals, prompt_tokens = [], [], []
        for q, passages, embed in got:
            ev = select_with(s, q.question, passages, embed)
            if reset:
                with model.lock:
                    model.llama.reset()
            t0 = time.perf_counter()
            first = None
            for piece in answerer.read(Reading(q.question, q.question, ev, passages, s)):
                if not isinstance(piece, Draft) and piece and first is None:
                    first = time.perf_counter() - t0
            total = time.perf_counter() - t0
            firsts.append(first or total)
            totals.append(total)
            prompt_tokens.append(model.llama.n_tokens)
        row = {"lever": name, "first_token_p50_s": round(statistics.median(firsts), 2),
               "total_p50_s": round(statistics.median(totals), 2), "total_p95_s": round(sorted(totals)[int(0.95 * (len(totals) - 1))], 2),
               "context_tokens_p50": int(statistics.median(prompt_tokens)), "n": len(totals),
               "amx": "AMX_INT8 = 1" in llama_cpp.llama_print_system_info().decode()}
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.json:
        Path(args.json).write_text(json.dumps({"questions": Path(args.questions).name, "cpu_count": os.cpu_count(),
                                               "load_avg_1m_end": os.getloadavg()[0], "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
