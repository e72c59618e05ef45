"""The reply's fixed opening generated or written into the prompt: interleaved A/B in one process.

    .venv/bin/python bench/opening_ab.py --questions Q.jsonl --data-dir STORE [--limit 20]

Every reply under the reader's schema starts '{"answer":'. A: llama.cpp's chat completion under
the whole grammar (the model generates the opening, three tokens). B: ``qa.llm.LlamaCppChat``,
which writes the opening into the prompt and constrains only the rest. Same model, same evidence
(the shipped selection), the order alternating per question, and the KV cache cut back to the
shared system prefix before each call, so neither reads the other's prompt. Reports the time to
the first character of the answer and to the end, and whether the replies are identical.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa.answer import _memoised, filters_for  # noqa: E402
from qa.answerers import Reading, _schema, resolve  # noqa: E402
from qa.eval.data import load_questions  # noqa: E402
from qa.evidence import select_with  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.retrieve import Fusion, retrieve  # noqa: E402
from qa.settings import Settings  # noqa: E402


def timed(pieces) -> tuple[str, float, float]:
    t0, first, raw = time.perf_counter(), None, ""
    for piece in pieces:
        raw += piece
        if first is None and '"answer": "' in raw and not raw.endswith('"answer": "'):
            first = time.perf_counter() - t0
    total = time.perf_counter() - t0
    return raw, first or total, total


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--limit", type=int, default=20)
    args = ap.parse_args()
    s = Settings(data_dir=Path(args.data_dir).expanduser(), llm="local")
    index = Index(s)
    answerer = resolve(s)
    chat = answerer.chat
    model = chat._loaded()
    llama = model.llama
    prompts = []
    for q in [q for q in load_questions(args.questions) if q.answers][: args.limit]:
        embed = _memoised(index.embeddings.embed)
        passages = retrieve(q.question, index, k=s.k, filters=filters_for(as_of=q.date), fusion=Fusion.from_settings(s), embed=embed)
        ev = select_with(s, q.question, passages, embed)
        reading = Reading(q.question, q.question, ev, passages, s)
        messages = answerer.reader_prompt.invoke({"evidence": answerer.evidence_text(reading), "question": q.question}).to_messages()
        prompts.append((messages, {"type": "json_object", "schema": _schema(len(ev))}))
    a, b = (llama.tokenize(model.chat_prompt(chat._messages(m)).encode(), add_bos=False, special=True) for m, _ in prompts[:2])
    shared = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    answerer.warm_up()

    def generated(messages, fmt):
        return timed(p["choices"][0]["delta"].get("content") or "" for p in llama.create_chat_completion(
            messages=chat._messages(messages), response_format=fmt, temperature=0.0, top_k=1, repeat_penalty=1.1,
            max_tokens=80, stream=True))

    def written(messages, fmt):
        return timed(chat._deltas(model, messages, None, {"response_format": fmt, "max_tokens": 80}))

    times = {"generated": [], "written": []}
    same = 0
    for i, (messages, fmt) in enumerate(prompts):
        runs = [("generated", generated), ("written", written)]
        replies = {}
        for name, run in runs if i % 2 == 0 else runs[::-1]:
            llama.n_tokens = shared  # keep only the system prefix every question shares
            raw, first, total = run(messages, fmt)
            replies[name] = raw
            times[name].append((first, total))
        same += replies["generated"] == replies["written"]
        print(i, replies["generated"] == replies["written"], *(f"{k} {v[-1][0]:.2f}/{v[-1][1]:.2f} s" for k, v in times.items()),
              flush=True)
    for name, v in times.items():
        print(f"{name}: first answer character p50 {statistics.median(x[0] for x in v):.2f} s, "
              f"reply p50 {statistics.median(x[1] for x in v):.2f} s")
    diffs = [w[0] - g[0] for g, w in zip(times["generated"], times["written"])]
    print(f"paired difference in first character, written − generated: p50 {statistics.median(diffs):+.2f} s; "
          f"identical replies {same} of {len(prompts)}; shared prefix {shared} tokens")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
