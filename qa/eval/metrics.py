"""Scoring rules (DESIGN.md, "Evaluation rules"): so the numbers can fail.

* :func:`normalize` — SQuAD-style: NFKC, casefold, punctuation and symbols
  (curly quotes, ``$``, ``%`` included) out, a/an/the dropped. "&" reads as
  "and", thousands separators and dots inside words/numbers ("U.S.", "1,000")
  are deleted rather than split, and a possessive "'s" is dropped.
* :func:`choice_correct` — a quiz answer: the first sentence of the answer is
  mapped onto the choices by token overlap. Each choice scores the share of its
  own tokens (as a set, so "X and Y" == "Y, X") found in the sentence.
  Correct only when the gold choice alone scores highest and covers ≥ 0.8 of
  its tokens; a tie counts for the gold choice only against a choice whose
  tokens it contains ("Sweden and Finland" named in full also covers "Finland").
* :func:`contains_answer` — no choices: an acceptable answer's normalised
  tokens appear as a whole-token run in the normalised answer.
* :func:`token_f1` — SQuAD token F1, best over the acceptable answers.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter

from ingest.urls import canonical_url
from qa.citations import MARKER, split_sentences

ARTICLES = {"a", "an", "the"}
CONNECTIVES = {"and", "or"}  # ignored when a choice is compared as a set ("X and Y")
COVERAGE = 0.8


def _is_punct_or_symbol(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PS"


_SCALE = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}


def _scaled(m: re.Match) -> str:
    value = float(m.group(1)) * _SCALE[m.group(2)]
    return str(int(round(value)))


def normalize(text: str) -> str:
    s = unicodedata.normalize("NFKC", text or "").casefold()
    s = s.replace("&", " and ")
    s = re.sub(r"(?<=\d),(?=\d{3}\b)", "", s)  # 1,000 -> 1000
    s = re.sub(r"(\d+(?:\.\d+)?)\s*(thousand|million|billion|trillion)\b", _scaled, s)  # 12.6 million -> 12600000
    s = re.sub(r"(?<=[\w”\"])['’`]s\b", "", s)  # Biden's -> Biden
    s = re.sub(r"(?<=\w)['’`](?=\w)", "", s)  # don't -> dont
    s = re.sub(r"(?<=\w)\.(?=\w)", "", s)  # U.S. -> US. ; 5.9 -> 59 (both sides alike)
    s = "".join(" " if _is_punct_or_symbol(ch) else ch for ch in s)
    return " ".join(w for w in s.split() if w not in ARTICLES)


def tokens(text: str) -> list[str]:
    return normalize(text).split()


def strip_markers(text: str) -> str:
    return re.sub(r"\s+([.,;:!?])", r"\1", MARKER.sub("", text or "")).strip()


def first_sentence(text: str) -> str:
    sents = split_sentences(strip_markers(text))
    return sents[0] if sents else ""


def contains_answer(answer_text: str, gold: str) -> bool:
    g = tokens(gold)
    if not g:
        return False
    a = tokens(strip_markers(answer_text))
    return f" {' '.join(g)} " in f" {' '.join(a)} "


def _choice_set(choice: str, question: set[str] = frozenset()) -> set[str]:
    toks = set(tokens(choice))
    toks = (toks - CONNECTIVES) or toks
    return (toks - question) or toks


def choice_scores(answer_text: str, choices: list[str], question: str = "") -> list[tuple[float, int]]:
    """(coverage of the choice's own tokens, tokens matched) for each choice, from the first sentence.

    Words shared with the question choose nothing: "China and Russia are forging closer ties
    since the war in Ukraine began" names Russia and China, not also "Russia and Ukraine"; and
    "Columbia" answers "which Ivy League university" for the choice "Columbia University".
    """
    q = set(tokens(question))
    sent = set(tokens(first_sentence(answer_text))) - q
    out = []
    for c in choices:
        cs = _choice_set(c, q)
        got = len(cs & sent)
        out.append((got / len(cs) if cs else 0.0, got))
    return out


def choice_correct(answer_text: str, choices: list[str], gold: str, question: str = "") -> bool:
    try:
        gi = [normalize(c) for c in choices].index(normalize(gold))
    except ValueError:
        return contains_answer(first_sentence(answer_text), gold)
    scores = choice_scores(answer_text, choices, question)
    g = scores[gi][0]
    if g < COVERAGE:
        return False
    q = set(tokens(question))
    gold_set = _choice_set(choices[gi], q)
    for i, (cov, _) in enumerate(scores):
        if i == gi or cov < g:
            continue
        # a tie is only won against a choice the gold choice contains ("Finland" in "Sweden and Finland")
        if cov == g and _choice_set(choices[i], q) < gold_set:
            continue
        return False
    return True


def choice_correct_fair(answer_text: str, choices: list[str], gold: str, question: str = "") -> bool:
    """The fairer mapping, reported beside :func:`choice_correct`: the answer names the gold choice's
    distinctive words (those no other choice and not the question has) and no other choice's.

    A short answer that names the right choice in fewer words ("William" for "Prince William",
    "Times Square" for "New York City's Times Square") counts; one that also names another
    choice's distinctive words does not. So do the article's exact figure for a quiz's rounded
    one (within 5%, nearest of all choices) and a choice's initials ("ISS").
    """
    if choice_correct(answer_text, choices, gold, question):
        return True
    try:
        gi = [normalize(c) for c in choices].index(normalize(gold))
    except ValueError:
        return False
    if _nearest_figure(answer_text, choices) == gi or _initials(answer_text, choices) == gi:
        return True
    q = set(tokens(question))
    sent = set(tokens(first_sentence(answer_text))) - q
    sets = [_choice_set(c, q) for c in choices]
    distinct = []
    for i, cs in enumerate(sets):
        others = set().union(*(sets[j] for j in range(len(sets)) if j != i))
        distinct.append(cs - others)
    return bool(distinct[gi] & sent) and not any(distinct[i] & sent for i in range(len(sets)) if i != gi)


_FIGURE = re.compile(r"(\d+(?:\.\d+)?)")
FIGURE_TOLERANCE = 0.05


def _figure(text: str) -> float | None:
    """The one number a text states ("$2.5 million" → 2500000), None when it states none or several."""
    found = _FIGURE.findall(re.sub(r"(?<=\d),(?=\d{3}\b)", "", text.replace("−", "-")))
    if len(found) != 1:
        return None
    m = re.search(rf"{re.escape(found[0])}\s*(thousand|million|billion|trillion)\b", text, re.I)
    return float(found[0]) * (_SCALE[m.group(1).lower()] if m else 1)


def _nearest_figure(answer_text: str, choices: list[str]) -> int | None:
    """A quiz of rounded figures ("$300,000") answered with the article's exact one ("$310,605"):
    the choice strictly nearest the answer's figure, when within 5% of it."""
    figures = [_figure(c) for c in choices]
    sentence = first_sentence(answer_text)
    got = _figure(sentence)
    if got is None or got <= 0 or any(f is None or f <= 0 for f in figures):
        return None
    gaps = [abs(math.log(got / f)) for f in figures]
    best = min(range(len(gaps)), key=gaps.__getitem__)
    if sorted(gaps)[1] == gaps[best] or abs(got - figures[best]) > FIGURE_TOLERANCE * figures[best]:
        return None
    return best


def _initials(answer_text: str, choices: list[str]) -> int | None:
    """"ISS" for "International Space Station": an answer word spelling one choice's initials only."""
    words = set(re.findall(r"\b[A-Z]{2,6}\b", first_sentence(answer_text)))
    hits = [i for i, c in enumerate(choices)
            if len(c.split()) >= 2 and "".join(w[0] for w in re.findall(r"[A-Za-z]+", c) if w[0].isupper()) in words]
    return hits[0] if len(hits) == 1 else None


def token_f1(answer_text: str, golds: list[str]) -> float:
    pred = tokens(strip_markers(answer_text))
    best = 0.0
    for gold in golds:
        g = tokens(gold)
        common = Counter(pred) & Counter(g)
        same = sum(common.values())
        if same == 0 or not pred or not g:
            continue
        p, r = same / len(pred), same / len(g)
        best = max(best, 2 * p * r / (p + r))
    return best


def is_correct(answer_text: str, refused: bool, n_citations: int, golds: list[str], choices: list[str],
               question: str = "", fair: bool = False) -> bool:
    """The accuracy rule. Unanswerable (no golds): correct when refused with no citation.
    ``fair``: choices mapped by :func:`choice_correct_fair` (reported beside, never instead)."""
    if not golds:
        return refused and n_citations == 0
    if refused:
        return False
    if choices:
        rule = choice_correct_fair if fair else choice_correct
        return any(rule(answer_text, choices, g, question) for g in golds)
    return any(contains_answer(answer_text, g) for g in golds)


def text_contains(haystack_norm: str, gold: str) -> bool:
    """Whole-token containment of ``gold`` in an already-normalised text (padded with spaces)."""
    g = normalize(gold)
    return bool(g) and f" {g} " in haystack_norm


def padded_norm(text: str) -> str:
    return f" {normalize(text)} "


# --- aggregates ----------------------------------------------------------------

def retrieval_ranks(urls: list[str], gold_urls: list[str]) -> int | None:
    """1-based rank of the first passage from a gold article, or None.

    URLs compare in canonical form: ``…/story/index.html`` and ``…/story`` are one article
    (ingest stores them as one), whichever of the two the question file names.
    """
    gold = {canonical_url(u) for u in gold_urls}
    for i, u in enumerate(urls, 1):
        if canonical_url(u) in gold:
            return i
    return None


def percentile(values: list[float], q: float) -> float | None:
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    # nearest-rank on the linear interpolation of the sorted values (numpy's default)
    pos = (len(vals) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return vals[lo] + (vals[hi] - vals[lo]) * (pos - lo)


def mean(values) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def summarize_retrieval(records: list[dict]) -> dict:
    recs = [r for r in records if r.get("gold_urls")]
    n = len(recs)
    if not n:
        return {}
    ranks = [r.get("gold_rank") for r in recs]
    out = {"n_retrieval": n}
    for k in (1, 5, 10):
        out[f"hit@{k}"] = sum(1 for x in ranks if x is not None and x <= k) / n
    out["mrr@10"] = sum(1 / x for x in ranks if x is not None and x <= 10) / n
    return out


def summarize_answers(records: list[dict]) -> dict:
    """Answer metrics over the records that were answered (not retrieval-only)."""
    recs = [r for r in records if "correct" in r]
    if not recs:
        return {}
    answerable = [r for r in recs if r["answers"]]
    unanswerable = [r for r in recs if not r["answers"]]
    answered = [r for r in answerable if not r["refused"]]
    markers = sum(r.get("total_markers", 0) for r in recs)
    invalid = sum(r.get("invalid_markers", 0) for r in recs)
    cited = sum(r.get("cited_sentences", 0) for r in recs if not r["refused"])
    flagged = sum(r.get("flagged_sentences", 0) for r in recs if not r["refused"])
    gold_cited = [r.get("citation_gold") for r in answered if r.get("citation_gold") is not None]
    out = {
        "n_answered_questions": len(recs),
        "accuracy": mean(r["correct"] for r in answerable) if answerable else None,
        "accuracy_fair": mean(r.get("correct_fair", r["correct"]) for r in answerable) if answerable else None,
        "evidence_answer_rate": mean(r["evidence_has_answer"] for r in answerable if "evidence_has_answer" in r)
        if any("evidence_has_answer" in r for r in answerable) else None,
        "token_f1": mean(r.get("f1", 0.0) for r in answerable) if answerable else None,
        "refusal_rate": mean(r["refused"] for r in answerable) if answerable else None,
        "unanswerable_n": len(unanswerable),
        "unanswerable_refusal_rate": mean(r["refused"] for r in unanswerable) if unanswerable else None,
        "unanswerable_correct": mean(r["correct"] for r in unanswerable) if unanswerable else None,
        "citation_markers": markers,
        "citation_invalid_markers": invalid,
        "citation_validity": (1 - invalid / markers) if markers else 1.0,
        "cited_sentences": cited,
        "flagged_sentences": flagged,
        "supported_rate": cited / (cited + flagged) if cited + flagged else None,
        "citation_gold_rate": mean(gold_cited) if gold_cited else (0.0 if answered else None),
        "answer_p50_s": percentile([r.get("answer_s") for r in recs], 50),
        "answer_p95_s": percentile([r.get("answer_s") for r in recs], 95),
        "first_token_p50_s": percentile([r.get("first_token_s") for r in recs], 50),
    }
    return out
