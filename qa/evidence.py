"""Evidence as sentences: the few sentences of the retrieved passages most likely to hold the answer.

A 1.5B model reading 700 tokens of passages is slow (prompt reading is the cost on a
CPU) and misreads; the same model given a handful of sentences picks the answer out.
So the reader, the extractive answerer and the chat's "evidence first" view all get
the same numbered sentences, chosen here under a small token budget. A sentence that
opens with a pronoun ("He said …") carries the sentence before it, so the reader
knows who "he" is.
"""

from __future__ import annotations

import re

from .citations import content_terms, split_sentences
from .dates import parse_date
from .extractive import question_terms, score_sentences
from .types import EvidenceSentence, Passage

CHARS_PER_TOKEN = 4
_PRONOUN_START = re.compile(r"^[\"“‘(]?(he|she|they|it|its|his|her|their|this|that|these|those|the (company|group|firm|agency|"
                            r"country|government|team|official|president|minister|move|deal|decision|report))\b", re.I)


def select_with(settings, question: str, passages: list[Passage], embed, *, focus: str | None = None,
                exclude: list[EvidenceSentence] = ()) -> list[EvidenceSentence]:
    """``select`` with the budget, count and weights the settings (``QA_EVIDENCE_*``) give."""
    return select(question, passages, embed, token_budget=settings.evidence_token_budget,
                  max_sentences=settings.evidence_sentences, focus=focus, neighbour=settings.evidence_neighbour,
                  rank_weight=settings.evidence_rank_weight, exclude=exclude)


def select(question: str, passages: list[Passage], embed, *, token_budget: int = 250, max_sentences: int = 8,
           focus: str | None = None, neighbour: float = 0.0, rank_weight: float,
           exclude: list[EvidenceSentence] = (), scored: list[tuple[float, int, str]] | None = None) -> list[EvidenceSentence]:
    """The best sentences, in score order, numbered 1..n, within ``token_budget`` tokens of text.

    ``exclude``: sentences already read (a second look takes the next best, never these again).

    ``neighbour``: a sentence also scores this share of a neighbour's score when that neighbour
    holds most of the question's words (``RESTATES``). News questions are written from an
    article's own sentences, so the sentence that matches the question best often restates it
    ("A few major reforms were left out of the deal") and the answer stands next to it ("Also
    absent is a ban on assault weapons"), sharing none of the question's words. Only a restating
    neighbour lends its score: a sentence that is merely near a relevant one (a photo caption
    beside the lead, "… in Geneva" beside "talks in Madrid") gains nothing.

    ``rank_weight``: what a place further down the retrieval ranking takes off a sentence's score.

    ``scored``: (score, passage, sentence) from another scorer than ``score_sentences``, best first
    (``bench/sentence_learner.py`` fills the same budget from learned scores).
    """
    if not passages:
        return []
    by_passage = {n: split_sentences(p.text) for n, p in enumerate(passages, 1)}
    if scored is None:
        scored = score_sentences(question, passages, embed, focus=focus, rank_weight=rank_weight)
    if neighbour:
        scored = _with_neighbours(scored, by_passage, neighbour, question_terms(question))
    picked: list[tuple[int, str, str, float]] = []  # passage, sentence, context, score
    used = 0
    seen: set[str] = {word_key(e.text) for e in exclude}
    for score, n, sentence in scored:
        if len(picked) >= max_sentences:
            break
        key = word_key(sentence)
        if any(key in k or k in key for k in seen) or _addresses_the_model(sentence):
            # a repeat (also a fragment of one: overlapping chunks can start mid-sentence), or a
            # sentence giving orders: neither adds an answer, and the budget goes to the next sentence
            continue
        context = _context(sentence, by_passage[n])
        cost = (len(sentence) + len(context)) // CHARS_PER_TOKEN + 4
        if picked and used + cost > token_budget:
            continue
        seen.add(key)
        used += cost
        picked.append((n, sentence, context, score))
    # shown grouped by passage (best passage first), each passage's sentences in their own order
    first = {}
    for i, (n, *_rest) in enumerate(picked):
        first.setdefault(n, i)
    pos = {n: {s: i for i, s in enumerate(sents)} for n, sents in by_passage.items()}
    picked.sort(key=lambda t: (first[t[0]], pos[t[0]].get(t[1], 0)))
    return [EvidenceSentence(n=i, passage=n, text=s, context=c, score=sc) for i, (n, s, c, sc) in enumerate(picked, 1)]


RESTATES = 0.6  # the share of the question's content words a sentence must hold to lend its score


def _with_neighbours(scored: list[tuple[float, int, str]], by_passage: dict[int, list[str]], share: float,
                     asked: set[str]) -> list[tuple[float, int, str]]:
    own = {(n, s): score for score, n, s in scored}
    lends = {key for key in own if asked and len(asked & content_terms(key[1])) >= RESTATES * len(asked)}
    out = []
    for (n, s), score in own.items():
        sentences = by_passage[n]
        i = sentences.index(s)
        near = [share * own[key] for j in (i - 1, i + 1) if 0 <= j < len(sentences)
                for key in [(n, sentences[j])] if key in lends]
        out.append((max([score, *near]), n, s))
    out.sort(key=lambda t: -t[0])
    return out


def word_key(text: str) -> str:
    """A sentence's words, lower-cased and single-spaced: what "the same words" means for
    de-duplicating evidence and for checking a streamed answer against it."""
    return " ".join(re.findall(r"\w+", text.lower()))


def _addresses_the_model(sentence: str) -> bool:
    from .prompt import strip_instructions

    return not strip_instructions(sentence).strip()


def _context(sentence: str, sentences: list[str]) -> str:
    if not _PRONOUN_START.search(sentence):
        return ""
    try:
        i = sentences.index(sentence)
    except ValueError:
        return ""
    return sentences[i - 1] if i > 0 else ""


TITLE_WORDS = 6  # of an article's title in its heading: the whole title and the outlet were a third of the tokens


def _heading_date(published: str, style: str) -> str:
    """A date as the heading writes it: ISO ("2022-09-02", 10 of the model's tokens: a digit is one),
    "short" ("Sep 2", 3 tokens, no year) or "none"."""
    if not published or style == "none":
        return ""
    if style == "short":
        day = parse_date(published)
        return f"{day:%b} {day.day}" if day else published
    return published


def format_evidence(evidence: list[EvidenceSentence], passages: list[Passage], *, title_words: int = TITLE_WORDS,
                    outlet: bool = False, dates: str = "iso") -> str:
    """The reader's view: the numbered sentences, each article's under a line naming it (the
    title's first words; the date with ``dates`` "iso" or "short", the outlet with ``outlet``)
    unless ``title_words`` is 0.

    Article headings go once per article, in the order their first sentence ranks
    (``QA_EVIDENCE_HEADINGS``: a title often says what its sentences leave to context, such as
    where the talks are held).
    """
    from .prompt import clean_for_prompt

    groups: dict[int, list[EvidenceSentence]] = {}
    for s in evidence:
        groups.setdefault(s.passage, []).append(s)
    lines: list[str] = []
    seen_titles: set[str] = set()
    for p_n, sentences in groups.items():
        p = passages[p_n - 1]
        title = " ".join(clean_for_prompt(p.title).split()[:title_words])
        meta = ", ".join(x for x in (clean_for_prompt(p.source) if outlet else "", _heading_date(p.published, dates)) if x)
        head = f"Article: {title}" + (f" ({meta})" if meta else "")
        if title_words and head not in seen_titles:
            lines.append(head)
            seen_titles.add(head)
        for s in sentences:
            lines.append(f"[{s.n}] {clean_for_prompt(s.shown)}")
    return "\n".join(lines)
