"""Other ways to fill the evidence budget, against the shipped greedy fill (``qa.evidence.select``).

    .venv/bin/python bench/selection_probe.py --questions Q.jsonl --data-dir STORE [--limit 60]
        [--clips 10,20,30] [--json OUT]

On the full corpus three test answers stand in sentences ranked 3rd to 6th that the greedy fill
skips for their length, while shorter, worse ones ("Carlos Barria/Reuters", a tweet) take the
room left. Two alternatives, scored like ``bench/evidence_probe.py`` (is a sentence holding the
gold answer among those the reader gets?):

- *clip*: a sentence too long for the room left is cut to it, at its last clause break (or word),
  when at least N tokens are left;
- *knapsack*: the sentences (at most 6, the 20 best with a positive score) whose scores add up to
  the most within the budget.

Same candidates, costs and repeat rule as the shipped fill; only the choice differs. Not shipped:
see README, "Session 14".
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa.answer import _memoised  # noqa: E402
from qa.citations import split_sentences  # noqa: E402
from qa.eval import metrics as M  # noqa: E402
from qa.eval.data import load_questions  # noqa: E402
from qa.evidence import CHARS_PER_TOKEN, _addresses_the_model, _context, select_with, word_key  # noqa: E402
from qa.extractive import score_sentences  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.retrieve import Filters, Fusion, retrieve  # noqa: E402
from qa.settings import Settings  # noqa: E402

_BREAK = re.compile(r"[,;:]\s|\s[–—-]\s|\s(?=(?:but|which|who|while|although|and|as|after|because|when)\b)")


def candidates(question, passages, embed, settings, top: int | None = None) -> list[tuple[float, str, int]]:
    """(score, text as shown with its context, token cost), best first, repeats and orders dropped."""
    by_passage = {n: split_sentences(p.text) for n, p in enumerate(passages, 1)}
    out, seen = [], []
    for score, n, sentence in score_sentences(question, passages, embed, rank_weight=settings.evidence_rank_weight):
        key = word_key(sentence)
        if any(key in k or k in key for k in seen) or _addresses_the_model(sentence):
            continue
        seen.append(key)
        context = _context(sentence, by_passage[n])
        out.append((score, f"{context} {sentence}".strip(), (len(sentence) + len(context)) // CHARS_PER_TOKEN + 4))
        if top and len(out) >= top:
            break
    return out


def clip(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    head = text[: max_chars + 1]
    breaks = [m.start() for m in _BREAK.finditer(head) if m.start() >= max_chars // 2]
    cut = breaks[-1] if breaks else head.rfind(" ")
    return text[:cut] if cut > 0 else ""


def fill_clipping(cands, budget: int, most: int, clip_tokens: int) -> list[str]:
    picked, used = [], 0
    for _score, text, cost in cands:
        if len(picked) >= most:
            break
        if picked and used + cost > budget:
            room = budget - used - 4
            text = clip(text, room * CHARS_PER_TOKEN) if room >= clip_tokens else ""
            if not text:
                continue
            cost = len(text) // CHARS_PER_TOKEN + 4
        picked.append(text)
        used += cost
    return picked


def fill_knapsack(cands, budget: int, most: int) -> list[str]:
    items = [c for c in cands[:20] if c[0] > 0]
    best: dict[tuple[int, int], tuple[float, tuple[int, ...]]] = {(0, 0): (0.0, ())}
    for i, (score, _text, cost) in enumerate(items):
        for (count, used), (total, chosen) in list(best.items()):
            key = (count + 1, used + cost)
            if count < most and used + cost <= budget and (key not in best or best[key][0] < total + score):
                best[key] = (total + score, chosen + (i,))
    _total, chosen = max(best.values(), key=lambda t: t[0])
    return [items[i][1] for i in chosen]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--limit", type=int, default=60)
    ap.add_argument("--clips", default="10,20,30")
    ap.add_argument("--json")
    args = ap.parse_args()
    s = Settings(data_dir=Path(args.data_dir).expanduser())
    index = Index(s)
    qs = [q for q in load_questions(args.questions)[: args.limit] if q.answers]
    clips = [int(x) for x in args.clips.split(",")]
    names = ["greedy (shipped)"] + [f"clip at >= {c} tokens" for c in clips] + ["knapsack"]
    hits: dict[str, list[str]] = {n: [] for n in names}
    for q in qs:
        passages = retrieve(q.question, index, k=s.k, filters=Filters(as_of=q.date), fusion=Fusion.from_settings(s))
        embed = _memoised(index.embeddings.embed)
        cands = candidates(q.question, passages, embed, s)
        shown = {names[0]: [e.shown for e in select_with(s, q.question, passages, embed)]}
        for c, name in zip(clips, names[1:-1]):
            shown[name] = fill_clipping(cands, s.evidence_token_budget, s.evidence_sentences, c)
        shown[names[-1]] = fill_knapsack(cands, s.evidence_token_budget, s.evidence_sentences)
        for name, texts in shown.items():
            if any(M.text_contains(M.padded_norm(t), a) for t in texts for a in q.answers):
                hits[name].append(q.id)
    base = set(hits[names[0]])
    rows = [{"selection": n, "answer_in_evidence": round(len(hits[n]) / len(qs), 3),
             "gained": sorted(set(hits[n]) - base), "lost": sorted(base - set(hits[n]))} for n in names]
    for r in rows:
        print(json.dumps(r))
    if args.json:
        Path(args.json).write_text(json.dumps({"questions": Path(args.questions).name, "n": len(qs), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
