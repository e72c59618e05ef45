"""The answerer with no LLM: the passage sentence that best answers the question.

It scores every sentence of the top passages by word overlap with the question
and by embedding similarity, favours higher-ranked passages, and refuses when
even the best sentence scores below ``QA_REFUSE_THRESHOLD``. Fast and always
available, and a floor that the LLM answerers must beat.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .citations import content_terms, split_sentences
from .types import REFUSAL, Passage

_QWORDS = {"who", "what", "when", "where", "which", "why", "how", "whom", "whose"}


def question_terms(question: str) -> set[str]:
    return {t for t in content_terms(question) if t not in _QWORDS}


_NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|dozens?|hundreds?|thousands?|millions?|billions?)\b", re.I)
_DATE = re.compile(r"\b(January|February|March|April|May|June|July|August|September|October|November|December|"
                   r"Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|\d{4}|yesterday|today|tomorrow)\b")
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+")


def answer_type_bonus(question: str, sentence: str) -> float:
    """A small nudge toward sentences holding the kind of thing asked for."""
    q = question.lower()
    m = re.search(r"\bhow (many|much|long|old|far|big)\b|\bwhat (number|percentage|share|amount) of\b", q)
    if m:
        # a number next to the thing counted ("170 million US users"), not any digit (dates)
        wanted = question_terms(question[m.end():])
        words = sentence.split()
        for i, w in enumerate(words):
            if _NUMBER.search(w):
                near = content_terms(" ".join(words[i + 1 : i + 5]))
                if near & wanted:
                    return 0.1
        return 0.0
    if re.search(r"\bwhen\b|\bwhat (date|day|year|month|time)\b", q):
        return 0.08 if _DATE.search(sentence) else 0.0
    if re.search(r"\bwho(m|se)?\b", q):
        names = {m.group(0).lower() for m in _NAME.finditer(sentence)}
        return 0.05 if any(n not in q for n in names) else 0.0
    return 0.0


@dataclass(frozen=True)
class SentenceFeatures:
    """What sentence scoring knows of one sentence: the parts ``score_sentences`` weighs, kept
    apart so that ``bench/sentence_learner.py`` can fit other weights over the same parts."""

    passage: int  # 1-based retrieval rank of its passage
    text: str
    position: int  # its place among its passage's sentences
    sim: float  # embedding cosine to the question (a follow-up's own words count double)
    lex: float  # IDF-weighted share of the question's words it holds
    novel: bool  # it holds a word the question does not
    bonus: float  # answer_type_bonus


def sentence_features(question: str, passages: list[Passage], embed, focus: str | None = None) -> list[SentenceFeatures]:
    """Every scorable sentence of the passages (20 to 600 characters), in passage order.

    ``focus`` is a follow-up's own wording: the standalone question finds the
    topic, but the sentence must answer what the follow-up adds, so its words
    count double.
    """
    q_terms = question_terms(question)
    f_terms = question_terms(focus) if focus else set()
    cands = []
    for n, p in enumerate(passages, 1):
        for i, s in enumerate(split_sentences(p.text)):
            if 20 <= len(s) <= 600:
                cands.append((n, i, s))
    if not cands:
        return []
    heads = [question] + ([focus] if focus else [])
    vecs = embed(heads + [s for _, _, s in cands])
    body = vecs[len(heads) :]
    sims = body @ vecs[0]
    if focus:
        sims = (sims + 2 * (body @ vecs[1])) / 3
    terms_of = [content_terms(s) for _, _, s in cands]
    # a question word that few of these sentences share says more than one they all repeat
    df: dict[str, int] = {}
    for terms in terms_of:
        for t in terms:
            df[t] = df.get(t, 0) + 1
    idf = {t: math.log(1 + len(cands) / df.get(t, 0.5)) for t in q_terms | f_terms}

    def overlap(wanted: set[str], terms: set[str]) -> float:
        total = sum(idf[t] for t in wanted)
        return sum(idf[t] for t in wanted & terms) / total if total else 0.0

    out = []
    for (n, i, s), sim, terms in zip(cands, sims, terms_of):
        lex = overlap(q_terms, terms)
        if f_terms:
            lex = (lex + 2 * overlap(f_terms, terms)) / 3
        out.append(SentenceFeatures(n, s, i, float(sim), lex, bool(terms - q_terms), answer_type_bonus(focus or question, s)))
    return out


def score_sentences(
    question: str, passages: list[Passage], embed, focus: str | None = None, *, rank_weight: float
) -> list[tuple[float, int, str]]:
    """(score, passage number, sentence) for every sentence of the passages, best first."""
    scored = []
    for f in sentence_features(question, passages, embed, focus):
        # a sentence that only repeats the question gives no answer: prefer ones adding new words
        novelty = 1.0 if f.novel else 0.5
        # weights and IDF chosen on 60 dev questions by bench/evidence_probe.py, confirmed on test;
        # ``rank_weight`` (QA_EVIDENCE_RANK_WEIGHT) is what each place down the retrieval ranking costs
        score = (0.3 * f.sim + 0.7 * f.lex) * novelty - rank_weight * (f.passage - 1) + f.bonus
        scored.append((score, f.passage, f.text))
    scored.sort(key=lambda t: -t[0])
    return scored


def best_sentences(
    question: str, passages: list[Passage], embed, limit: int = 3, focus: str | None = None, *, rank_weight: float
) -> list[tuple[float, int, str]]:
    return score_sentences(question, passages, embed, focus=focus, rank_weight=rank_weight)[:limit]


def cite_sentence(sentence: str, n: int) -> str:
    """The sentence as an answer, its [n] before the final stop."""
    sentence = re.sub(r"\s+", " ", sentence).strip()
    if not re.search(r"[.!?][\"”’)]*$", sentence):
        sentence += "."
    return f"{sentence[:-1]} [{n}]{sentence[-1]}" if sentence.endswith((".", "!", "?")) else f"{sentence} [{n}]"


def answer(question: str, passages: list[Passage], embed, threshold: float, *, rank_weight: float) -> str:
    """The best sentence of the passages, cited, or the refusal below ``threshold`` (the baseline's floor)."""
    best = best_sentences(question, passages, embed, limit=1, rank_weight=rank_weight)
    if not best or best[0][0] < threshold:
        return REFUSAL
    _, n, sentence = best[0]
    return cite_sentence(sentence, n)
