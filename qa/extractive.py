"""The answerer with no LLM: the passage sentence that best answers the question.

It scores every sentence of the top passages by word overlap with the question
and by embedding similarity, favours higher-ranked passages, and refuses when
even the best sentence scores below ``QA_REFUSE_THRESHOLD``. Fast and always
available, and a floor that the LLM answerers must beat.
"""

from __future__ import annotations

import re

import numpy as np

from .citations import content_terms, split_sentences
from .types import REFUSAL, Passage

_QWORDS = {"who", "what", "when", "where", "which", "why", "how", "whom", "whose"}


def question_terms(question: str) -> set[str]:
    return {t for t in content_terms(question) if t not in _QWORDS}


def best_sentences(question: str, passages: list[Passage], embed, limit: int = 3) -> list[tuple[float, int, str]]:
    """(score, passage number, sentence) for the best sentences, best first."""
    q_terms = question_terms(question)
    cands = []
    for n, p in enumerate(passages, 1):
        for s in split_sentences(p.text):
            if 20 <= len(s) <= 600:
                cands.append((n, s))
    if not cands:
        return []
    vecs = embed([question] + [s for _, s in cands])
    sims = vecs[1:] @ vecs[0]
    scored = []
    for (n, s), sim in zip(cands, sims):
        terms = content_terms(s)
        lex = len(q_terms & terms) / len(q_terms) if q_terms else 0.0
        # a sentence that only repeats the question gives no answer: prefer ones adding new words
        novelty = 1.0 if terms - q_terms else 0.5
        score = (0.5 * float(sim) + 0.5 * lex) * novelty - 0.02 * (n - 1)
        scored.append((score, n, s))
    scored.sort(key=lambda t: -t[0])
    return scored[:limit]


def answer(question: str, passages: list[Passage], embed, threshold: float) -> str:
    best = best_sentences(question, passages, embed, limit=2)
    if not best or best[0][0] < threshold:
        return REFUSAL
    score, n, sentence = best[0]
    sentence = re.sub(r"\s+", " ", sentence).strip()
    if not re.search(r"[.!?][\"”’)]*$", sentence):
        sentence += "."
    return f"{sentence[:-1]} [{n}]{sentence[-1]}" if sentence.endswith((".", "!", "?")) else f"{sentence} [{n}]"
