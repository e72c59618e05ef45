"""Sentence scoring with learned weights, against the hand-set ``score_sentences``.

    .venv/bin/python bench/sentence_learner.py --train Q_DEV.jsonl --eval Q_TEST.jsonl --data-dir STORE
        [--train-limit N] [--eval-limit 60] [--l2 0.01] [--json OUT]

On the full corpus the four passages hold the gold answer for ≈0.85 of questions and the six
sentences the reader gets for ≈0.73: selection loses more than retrieval does. The shipped score is
a hand-weighed sum of a few parts (``qa.extractive.sentence_features``: embedding similarity, IDF
word overlap, whether the sentence adds a word, the passage's rank, the answer-kind nudge). This
fits a listwise logistic model (softmax over one question's sentences, the answer-bearing ones as
the target) over those parts and a few more (place in the passage, length, figures, new names) on
the training questions, then fills the same budget with ``qa.evidence.select`` from its scores, and
reports on the held-out questions: is a sentence holding the gold answer among those given?
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa.answer import _memoised  # noqa: E402
from qa.eval import metrics as M  # noqa: E402
from qa.eval.data import load_questions  # noqa: E402
from qa.citations import content_terms  # noqa: E402
from qa.evidence import select  # noqa: E402
from qa.extractive import SentenceFeatures, question_terms, score_sentences, sentence_features  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.retrieve import Filters, Fusion, retrieve  # noqa: E402
from qa.settings import Settings  # noqa: E402

_CAPS = re.compile(r"\b[A-Z][a-z]+")
NAMES = ["sim", "lex", "novel", "sim*novel", "lex*novel", "rank", "bonus", "first", "position", "length", "figure",
         "new_names", "quote", "title_overlap", "passage_best_lex", "neighbour_lex"]


def vectors(feats: list[SentenceFeatures], question: str, passages) -> np.ndarray:
    asked = {w.lower() for w in _CAPS.findall(question)}
    q_terms = question_terms(question)
    title = {n: len(q_terms & content_terms(p.title)) / max(1, len(q_terms)) for n, p in enumerate(passages, 1)}
    best: dict[int, float] = {}
    at = {(f.passage, f.position): f.lex for f in feats}
    for f in feats:
        best[f.passage] = max(best.get(f.passage, 0.0), f.lex)
    rows = []
    for f in feats:
        new_names = len({w.lower() for w in _CAPS.findall(f.text)} - asked)
        near = max(at.get((f.passage, f.position - 1), 0.0), at.get((f.passage, f.position + 1), 0.0))
        rows.append([f.sim, f.lex, float(f.novel), f.sim * f.novel, f.lex * f.novel, f.passage - 1, f.bonus,
                     float(f.position == 0), min(f.position, 10) / 10, min(len(f.text), 400) / 200,
                     float(bool(re.search(r"\d", f.text))), min(new_names, 5) / 5, float(bool(re.search(r"[\"“”]", f.text))),
                     title[f.passage], best[f.passage], near])
    return np.array(rows) if rows else np.zeros((0, len(NAMES)))


def gather(path: str, limit: int | None, index: Index, s: Settings) -> list[dict]:
    out = []
    for q in [q for q in load_questions(path)[:limit] if q.answers]:
        passages = retrieve(q.question, index, k=s.k, filters=Filters(as_of=q.date), fusion=Fusion.from_settings(s))
        embed = _memoised(index.embeddings.embed)
        feats = sentence_features(q.question, passages, embed)
        x = vectors(feats, q.question, passages)
        y = np.array([any(M.text_contains(M.padded_norm(f.text), a) for a in q.answers) for f in feats], dtype=float)
        out.append({"q": q, "passages": passages, "embed": embed, "feats": feats, "x": x, "y": y})
    return out


def fit(rows: list[dict], l2: float, steps: int = 3000, lr: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights, and the mean and spread the features were standardised with."""
    xs = [r["x"] for r in rows if r["y"].any()]
    ys = [r["y"] for r in rows if r["y"].any()]
    allx = np.vstack(xs)
    mu, sd = allx.mean(0), allx.std(0) + 1e-9
    xs = [(x - mu) / sd for x in xs]
    w = np.zeros(allx.shape[1])
    for _ in range(steps):
        grad = l2 * w
        for x, y in zip(xs, ys):
            z = x @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            t = y / y.sum()
            grad += x.T @ (p - t) / len(xs)
        w -= lr * grad
    return w, mu, sd


def evidence_hits(rows: list[dict], s: Settings, weights=None) -> list[bool]:
    hits = []
    for r in rows:
        q = r["q"]
        scored = None
        if weights is not None and len(r["feats"]):
            w, mu, sd = weights
            z = ((r["x"] - mu) / sd) @ w
            scored = sorted(((float(v), f.passage, f.text) for v, f in zip(z, r["feats"])), key=lambda t: -t[0])
        ev = select(q.question, r["passages"], r["embed"], token_budget=s.evidence_token_budget,
                    max_sentences=s.evidence_sentences, rank_weight=s.evidence_rank_weight, scored=scored)
        hits.append(any(M.text_contains(M.padded_norm(e.shown), a) for e in ev for a in q.answers))
    return hits


def first_answer_rank(r: dict, s: Settings) -> int | None:
    order = score_sentences(r["q"].question, r["passages"], r["embed"], rank_weight=s.evidence_rank_weight)
    for i, (_, _, text) in enumerate(order, 1):
        if any(M.text_contains(M.padded_norm(text), a) for a in r["q"].answers):
            return i
    return None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--train-limit", type=int)
    ap.add_argument("--eval-limit", type=int, default=60)
    ap.add_argument("--l2", default="0.01")
    ap.add_argument("--json")
    args = ap.parse_args()
    s = Settings(data_dir=Path(args.data_dir).expanduser())
    index = Index(s)
    train = gather(args.train, args.train_limit, index, s)
    held = gather(args.eval, args.eval_limit, index, s)
    report: dict = {"train": Path(args.train).name, "eval": Path(args.eval).name, "n_train": len(train), "n_eval": len(held)}
    shipped_hits = {"train": evidence_hits(train, s), "eval": evidence_hits(held, s)}
    for name, rows in (("train", train), ("eval", held)):
        ranks = [first_answer_rank(r, s) for r in rows]
        shipped = shipped_hits[name]
        report[f"{name}_answer_in_passages"] = round(M.mean(r["y"].any() for r in rows), 3)
        report[f"{name}_answer_in_evidence_shipped"] = round(M.mean(shipped), 3)
        report[f"{name}_missed_ranks"] = sorted((rk for rk, hit in zip(ranks, shipped) if rk and not hit))
    report["fits"] = []
    for l2 in (float(x) for x in args.l2.split(",")):
        weights = fit(train, l2)
        row = {"l2": l2, "weights": dict(zip(NAMES, np.round(weights[0], 3).tolist()))}
        for name, rows in (("train", train), ("eval", held)):
            learned, shipped = evidence_hits(rows, s, weights), shipped_hits[name]
            row[f"{name}_answer_in_evidence"] = round(M.mean(learned), 3)
            row[f"{name}_gained"] = [r["q"].id for r, a, b in zip(rows, learned, shipped) if a and not b]
            row[f"{name}_lost"] = [r["q"].id for r, a, b in zip(rows, learned, shipped) if b and not a]
        report["fits"].append(row)
        print(json.dumps(row), flush=True)
    print(json.dumps({k: v for k, v in report.items() if k != "fits"}), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
