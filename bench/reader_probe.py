"""Reader variants (prompt, reply shape, evidence budget) on the same questions and the same retrieval.

    .venv/bin/python bench/reader_probe.py --questions Q.jsonl --data-dir STORE [--limit 60]
        [--only NAME] [--json bench/results/reader-probe.json]

Retrieval runs once per question; each variant then selects its evidence, reads it with the
local model and goes through the same verdict as ``ask()``. Scored like the eval (accuracy,
the fair mapping, refusals, answer-bearing evidence) with the reader's own time. For choosing
the reader on the dev questions; the test figures come from ``python -m qa.eval``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langchain_core.prompts import ChatPromptTemplate  # noqa: E402

from qa.answer import _memoised, filters_for  # noqa: E402
from qa.answerers import ChatAnswerer, Draft, Reading, resolve  # noqa: E402
from qa.eval import metrics as M  # noqa: E402
from qa.eval.data import load_questions  # noqa: E402
from qa.evidence import format_evidence, select  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.prompt import READER_SYSTEM  # noqa: E402
from qa.retrieve import Fusion, newest_visible, retrieve  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.types import EvidenceSentence  # noqa: E402
from qa.verdict import decide  # noqa: E402


def _sentence_first(n: int) -> dict:
    return {
        "type": "object",
        "properties": {"sentence": {"type": "integer", "enum": list(range(n + 1))},
                       "answer": {"type": "string", "maxLength": 120}},
        "required": ["sentence", "answer"],
    }


# the sentence number before the answer: the previous default (see qa.answerers._schema)
SENTENCE_FIRST_SYSTEM = READER_SYSTEM.replace('{{"answer": "...", "sentence": N}}', '{{"sentence": N, "answer": "..."}}') \
    .replace('{{"answer": "", "sentence": 0}}', '{{"sentence": 0, "answer": ""}}') \
    .replace('{{"answer": "Dana Ruiz", "sentence": 2}}', '{{"sentence": 2, "answer": "Dana Ruiz"}}')

# a second worked example: two people of one kind, the question's qualifier ("the league's",
# not the club's) picks one; misreads on test were of this shape (Roger Maris's AL record for
# Barry Bonds's overall one). On dev: one strict answer more ("JetBlue Airways" for "JetBlue"),
# no misreading mended, fair mapping equal: not taken
SECOND_EXAMPLE = """

Example.
Article: Okafor breaks club scoring mark (Metro Sports, 2024-04-20)
[1] The league record of 44 goals in one season still belongs to Tomas Berg of Riverside.
[2] Striker Ada Okafor scored her 41st goal of the season on Sunday, breaking the club record.
Question: Who holds the league's single-season scoring record?
{{"answer": "Tomas Berg", "sentence": 1}}"""

PROMPTS = {
    "shipped": None,
    "two-examples": ChatPromptTemplate.from_messages(
        [("system", READER_SYSTEM + SECOND_EXAMPLE), ("human", "{evidence}\n\nQuestion: {question}")]),
    "qualifier-example": ChatPromptTemplate.from_messages(
        [("system", READER_SYSTEM.split("\n\nExample.")[0] + SECOND_EXAMPLE), ("human", "{evidence}\n\nQuestion: {question}")]),
    "question-first": ChatPromptTemplate.from_messages(
        [("system", READER_SYSTEM), ("human", "Question: {question}\n\n{evidence}\n\nQuestion: {question}")]),
    "sentence-first": ChatPromptTemplate.from_messages(
        [("system", SENTENCE_FIRST_SYSTEM), ("human", "{evidence}\n\nQuestion: {question}")]),
}

VARIANTS = [
    # name, prompt key, sentence number first, evidence tokens, evidence sentences, repeat penalty,
    # article headings (title words, 0 for none; the outlet named or not)[, neighbour share (qa.evidence.select)]
    ("answer first, 200 tokens, 6 sentences, whole headings with the outlet (the previous default)", "shipped", False, 200, 6, 1.1, (12, True)),
    ("sentence number first (previous)", "sentence-first", True, 200, 6, 1.1, (12, True)),
    ("no repeat penalty", "shipped", False, 200, 6, 1.0, (12, True)),
    ("question before and after the evidence", "question-first", False, 200, 6, 1.1, (12, True)),
    ("280 tokens, 8 sentences", "shipped", False, 280, 8, 1.1, (12, True)),
    ("150 tokens, 5 sentences", "shipped", False, 150, 5, 1.1, (12, True)),
    ("short headings (6 title words and the date)", "shipped", False, 200, 6, 1.1, (6, False)),
    ("no headings", "shipped", False, 200, 6, 1.1, (0, False)),
    ("no headings, 240 tokens, 7 sentences", "shipped", False, 240, 7, 1.1, (0, False)),
    ("neighbours 0.7", "shipped", False, 200, 6, 1.1, (12, True), 0.7),
    ("neighbours 0.7, 250 tokens, 8 sentences", "shipped", False, 250, 8, 1.1, (12, True), 0.7),
    ("neighbours 0.7, 250 tokens, 8 sentences, short headings", "shipped", False, 250, 8, 1.1, (8, False), 0.7),
    ("neighbours 0.5, 250 tokens, 8 sentences", "shipped", False, 250, 8, 1.1, (12, True), 0.5),
    ("neighbours 0.7, 220 tokens, 7 sentences", "shipped", False, 220, 7, 1.1, (12, True), 0.7),
    # fewer prompt tokens for the first-token target: headings are a third of the evidence's tokens
    ("short headings, 180 tokens, 6 sentences (dated: the default)", "shipped", False, 180, 6, 1.1, (6, False)),
    ("no headings, 210 tokens, 7 sentences", "shipped", False, 210, 7, 1.1, (0, False)),
    # settings of the model itself: a second copy of it is loaded
    ("without flash attention (the previous default)", "shipped", False, 180, 6, 1.1, (6, False), 0.0, {"local_flash_attn": False}),
    # the heading's date is 10-12 of the model's tokens (a digit is a token), ≈40 of a question's ≈270
    ("headings dated Sep 2 (no year), 180 tokens, 6 sentences", "shipped", False, 180, 6, 1.1, (6, False, "short")),
    ("headings without dates, 180 tokens, 6 sentences", "shipped", False, 180, 6, 1.1, (6, False, "none")),
    ("a second worked example (two people of one kind, the qualifier picks one)", "two-examples", False, 180, 6, 1.1,
     (6, False)),
    ("only the qualifier example (the library one dropped)", "qualifier-example", False, 180, 6, 1.1, (6, False)),
    # is the repeat penalty keeping the 1.5B from copying a word of the last sentences ("Seattle")?
    # No: llama-cpp-python's sampler counts only generated tokens, and on dev 1 reply of 60 moved
    # (its sentence number only)
    ("no repeat penalty, today's defaults", "shipped", False, 180, 6, 1.0, (6, False)),
    # a small model leans on what it read last: the best passage's sentences next to the question
    ("best passage last (the default's evidence, groups in reverse)", "shipped", False, 180, 6, 1.1, (6, False), 0.0, {},
     "best-last"),
]


def best_last(evidence: list[EvidenceSentence]) -> list[EvidenceSentence]:
    """The same sentences with their passage groups in reverse order (each group's own order kept), renumbered."""
    groups: dict[int, list[EvidenceSentence]] = {}
    for e in evidence:
        groups.setdefault(e.passage, []).append(e)
    ordered = [e for p in reversed(list(groups)) for e in groups[p]]
    return [e.model_copy(update={"n": i}) for i, e in enumerate(ordered, 1)]


ORDERS = {"": lambda ev: ev, "best-last": best_last}


def variant_answerer(base: ChatAnswerer, prompt_key: str, sentence_first: bool, repeat_penalty: float,
                     headings: tuple = (12, True)) -> ChatAnswerer:
    """``headings``: (title words, outlet named[, date style of qa.evidence.format_evidence])."""
    class Variant(ChatAnswerer):
        def evidence_text(self, reading):
            return format_evidence(reading.evidence, reading.passages, title_words=headings[0], outlet=headings[1],
                                   dates=headings[2] if len(headings) > 2 else "iso")

        def _bound(self, n: int):
            return super()._bound(n).bind(repeat_penalty=repeat_penalty)

    if PROMPTS[prompt_key] is not None:
        Variant.reader_prompt = PROMPTS[prompt_key]
    if sentence_first:
        Variant.schema = staticmethod(_sentence_first)
    return Variant(base.chat, name=base.name, model=base.model, structured=base.structured, llm_condense=False)


def _model_tokens(answerer: ChatAnswerer, text: str) -> int:
    """The evidence's length in the local model's own tokens (a digit is one token each)."""
    return len(answerer.chat._loaded().llama.tokenize(text.encode(), add_bos=False))


def _read_one(q, passages, embed, newest, s, answerer, budget, sentences, neighbour, order: str = "") -> dict:
    ev = ORDERS[order](select(q.question, passages, embed, token_budget=budget, max_sentences=sentences, neighbour=neighbour,
                              rank_weight=s.evidence_rank_weight))
    t0 = time.perf_counter()
    first = None
    draft = None
    reading = Reading(q.question, q.question, ev, passages, s)
    for piece in answerer.read(reading):
        if isinstance(piece, Draft):
            draft = piece
        elif piece and first is None:
            first = time.perf_counter() - t0
    total = time.perf_counter() - t0
    v = decide(draft, q.question, ev, passages, s.refuse_threshold, newest_days=newest)
    n = len(v.citations)
    return {
        "id": q.id, "raw": draft.raw, "text": v.text, "refused": v.refused,
        "correct": M.is_correct(v.text, v.refused, n, q.answers, q.choices, q.question),
        "correct_fair": M.is_correct(v.text, v.refused, n, q.answers, q.choices, q.question, fair=True),
        "evidence_has_answer": any(M.text_contains(M.padded_norm(e.text), g) for e in ev for g in q.answers),
        "first_s": first or total, "total_s": total,
        "evidence_tokens": len(answerer.evidence_text(reading)) // 4,
        "evidence_model_tokens": _model_tokens(answerer, answerer.evidence_text(reading)),
    }


def _report(name: str, rows: list[dict], out: dict, json_path: str | None) -> None:
    summary = {
        "n": len(rows),
        "accuracy": round(statistics.mean(r["correct"] for r in rows), 3),
        "accuracy_fair": round(statistics.mean(r["correct_fair"] for r in rows), 3),
        "refused": round(statistics.mean(r["refused"] for r in rows), 3),
        "evidence_has_answer": round(statistics.mean(r["evidence_has_answer"] for r in rows), 3),
        "evidence_tokens_p50": statistics.median(r["evidence_tokens"] for r in rows),
        "evidence_model_tokens_p50": statistics.median(r["evidence_model_tokens"] for r in rows),
        "first_p50_s": round(statistics.median(r["first_s"] for r in rows), 2),
        "total_p50_s": round(statistics.median(r["total_s"] for r in rows), 2),
        "rows": rows,
    }
    out[name] = summary
    print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in summary.items() if k != "rows"), flush=True)
    if json_path:
        Path(json_path).write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--limit", type=int, default=60)
    ap.add_argument("--only", help="run only the variants whose name contains one of these (comma-separated), or "
                                   "exactly these names (separated by |)")
    ap.add_argument("--interleave", action="store_true", help="each question read by every variant in turn (for timing)")
    ap.add_argument("--json")
    args = ap.parse_args()
    base_settings = Settings(data_dir=Path(args.data_dir).expanduser(), llm="local")
    index = Index(base_settings)
    qs = [q for q in load_questions(args.questions) if q.answers][: args.limit]
    got = []
    for q in qs:
        filters = filters_for(as_of=q.date)
        passages = retrieve(q.question, index, k=base_settings.k, filters=filters, fusion=Fusion.from_settings(base_settings))
        got.append((q, passages, _memoised(index.embeddings.embed), newest_visible(index, filters)))
    base = resolve(base_settings)
    base.warm_up()
    out = json.loads(Path(args.json).read_text()) if args.json and Path(args.json).exists() else {}
    chosen = []
    for name, prompt_key, sentence_first, budget, sentences, penalty, headings, *rest in VARIANTS:
        neighbour = rest[0] if rest else 0.0
        model_settings = rest[1] if len(rest) > 1 else {}
        order = rest[2] if len(rest) > 2 else ""
        if args.only and not (name in args.only.split("|") if "|" in args.only else any(p in name for p in args.only.split(","))):
            continue
        s = base_settings.model_copy(update={"evidence_token_budget": budget, "evidence_sentences": sentences})
        own = base
        if model_settings:
            own = resolve(base_settings.model_copy(update=model_settings))
            own.warm_up()
        chosen.append((name, s, variant_answerer(own, prompt_key, sentence_first, penalty, headings), budget, sentences, neighbour,
                       order))
    rows_of = {name: [] for name, *_ in chosen}
    # --interleave: each question read by every variant in turn, so the machine's drift (the same
    # prompt read in 3.1 to 4.0 s within a minute here) falls on all variants alike; the order turns
    # round every question, since llama.cpp reuses the prompt prefix the variant before left behind
    order = ([[(c, g)] for i, g in enumerate(got) for c in (chosen if i % 2 == 0 else chosen[::-1])]
             if args.interleave else [[(c, g) for g in got] for c in chosen])
    for batch in order:
        for (name, s, answerer, budget, sentences, neighbour, order), (q, passages, embed, newest) in batch:
            rows_of[name].append(_read_one(q, passages, embed, newest, s, answerer, budget, sentences, neighbour, order))
            if not args.interleave and len(rows_of[name]) == len(got):
                _report(name, rows_of[name], out, args.json)
    if args.interleave:
        for name, *_ in chosen:
            _report(name, rows_of[name], out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
