"""The answering pipeline behind ``ask()`` and ``stream()``, as named steps.

clean the question → condense a follow-up (the answerer's rule or its LLM) →
retrieve passages → select evidence sentences (the Evidence event, within a
second) → the answerer reads them (Token events; a structured reader's answer shows
once written, if the verdict would keep it) → :func:`qa.verdict.decide`
cites, flags or refuses, for every answerer alike → a refused structured answer
sends the reader once more to the next best sentences (:func:`_more_evidence`, a
Rereading event, :func:`_read_again`) → the Answer.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import unicodedata
from dataclasses import replace
from typing import Iterator

import numpy as np

from langchain_core.language_models.chat_models import BaseChatModel

from .answerers import Answerer, Draft, Proposed, Reading, resolve
from .dates import parse_date, require_date
from .evidence import select_with
from .index import Index, get_index
from .retrieve import Filters, Fusion, newest_visible, retrieve
from .settings import Settings
from .types import REFUSAL, Answer, Evidence, EvidenceSentence, Rereading, Token
from .verdict import could_pass, decide

_ANSI = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


def clean_question(question: str, settings: Settings) -> str:
    if not isinstance(question, str):
        raise ValueError("The question must be text.")
    q = unicodedata.normalize("NFKC", _ANSI.sub(" ", question))  # pasted terminal colours, full-width letters
    q = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in q)
    q = re.sub(r"\s+", " ", q).strip()
    if not q:
        raise ValueError("The question is empty: type a question about the news articles.")
    if len(q) > settings.max_question_chars:
        raise ValueError(
            f"The question is {len(q):,} characters long; the limit is {settings.max_question_chars:,} "
            f"(QA_MAX_QUESTION_CHARS). Ask something shorter."
        )
    if not re.search(r"\w", q):
        raise ValueError("The question has no words in it.")
    return q


def filters_for(as_of=None, since=None, until=None, sources=None) -> Filters:
    """The :class:`Filters` a caller's dates and sources mean, checked once here for every entry.

    ``as_of`` defaults to today, read at each call, so a long-lived retriever or chain
    never sees tomorrow's articles; a bad date raises ValueError naming the argument.
    """
    return Filters(
        as_of=require_date(as_of, "as_of") if as_of else dt.date.today(),
        since=require_date(since, "since") if since else None,
        until=require_date(until, "until") if until else None,
        sources=tuple(s for s in (sources or []) if s) or None,
    )


def _reader_question(question: str, history: list[tuple[str, str]]) -> str:
    """A follow-up keeps its own words for the reader, with the question it follows as context."""
    if not history:
        return question
    return f"{question} (This follows the question: {history[-1][0]})"


def stream(
    question: str,
    *,
    k: int | None = None,
    as_of: dt.date | str | None = None,
    since: dt.date | str | None = None,
    until: dt.date | str | None = None,
    sources: list[str] | None = None,
    history: list[tuple[str, str]] | None = None,
    index: Index | None = None,
    answerer: Answerer | None = None,
    llm: BaseChatModel | None = None,
    fusion: Fusion | None = None,
) -> Iterator[Evidence | Token | Rereading | Answer]:
    """Yield the evidence found, then the answer text as generated, then the checked Answer
    (with a Rereading event before it when a refused first answer sends the reader to more sentences).

    ``llm``: any LangChain chat model to answer with instead of the configured answerer
    (its answers go through the same checks). ``fusion``: retrieval settings other than
    the configured ones (the benchmark's dense-only and BM25-only runs).
    """
    t0 = time.perf_counter()
    index = index or get_index()
    settings = index.settings
    q = clean_question(question, settings)
    filters = filters_for(as_of, since, until, sources)
    answerer = answerer or resolve(settings, llm=llm)
    history = [(str(a), str(b)) for a, b in (history or [])]
    standalone = answerer.condense(q, history)
    t_condense = time.perf_counter() - t0
    embed = _memoised(index.embeddings.embed)  # the question is embedded once, for retrieval and evidence alike
    passages = retrieve(standalone, index, k=k or settings.k, filters=filters, fusion=fusion or Fusion.from_settings(settings),
                        embed=embed)
    t_retrieval = time.perf_counter() - t0
    focus = q if standalone != q else None
    evidence = select_with(settings, standalone, passages, embed, focus=focus)
    yield Evidence(
        passages=passages, best_sentences=[s.text for s in sorted(evidence, key=lambda e: -e.score)[:3]],
        sentences=evidence, standalone_question=standalone, answerer=answerer.name, model=answerer.model,
    )
    t_evidence = time.perf_counter() - t0
    first_token = None
    draft = None
    newest = newest_visible(index, filters) if passages else None
    if not passages:
        draft = Draft(raw=REFUSAL, text=REFUSAL)
        first_token = time.perf_counter() - t0
        yield Token(REFUSAL)
    else:
        reading = Reading(question=_reader_question(q, history), standalone=standalone, evidence=evidence,
                          passages=passages, settings=settings)
        for piece in answerer.read(reading):
            if isinstance(piece, Draft):
                draft = piece
            elif isinstance(piece, Proposed) and not _kept(piece, standalone, evidence, passages, newest):
                continue
            elif piece:
                if first_token is None:
                    first_token = time.perf_counter() - t0
                yield Token(piece)
    assert draft is not None, f"{type(answerer).__name__}.read() ended without a Draft"
    verdict = decide(draft, standalone, evidence, passages, settings.refuse_threshold, newest_days=newest)
    t_second = 0.0  # seconds of a second reading; 0 when there was none
    if verdict.refused and draft.structured and settings.evidence_second_look:
        more = _more_evidence(reading, embed, focus, newest)
        if more:
            yield Rereading(sentences=_numbered_after(reading.evidence, more))
            again, t_second = _read_again(answerer, reading, more, newest)
            if again is not None:
                draft, evidence, verdict = again
    total = time.perf_counter() - t0
    yield Answer(
        question=q, text=verdict.text, citations=verdict.citations, refused=verdict.refused, answerer=answerer.name,
        model=answerer.model, flagged=verdict.flagged, standalone_question=standalone, raw_text=draft.raw,
        passages=passages, evidence=evidence, invalid_markers=verdict.invalid_markers, total_markers=verdict.total_markers,
        timings={"condense": round(t_condense, 4), "retrieval": round(t_retrieval, 4), "evidence": round(t_evidence, 4),
                 "first_token": round(first_token or total, 4), "second_look": round(t_second, 4),
                 "total": round(total, 4)},
    )


def _kept(short: str, question: str, evidence, passages, newest: int | None) -> bool:
    """Whether a structured reader's complete short answer may show before its sentence number
    comes: the verdict keeps it cited to whichever evidence sentence holds it. What the model
    writes cannot reach the screen before that (it once copied a held-out instruction out whole:
    tests/test_injection.py); the final verdict, on the whole reply, still decides the Answer."""
    return not decide(Draft(raw="", sentence=1, short=short), question, evidence, passages, newest_days=newest).refused


def _more_evidence(reading: Reading, embed, focus: str | None, newest: int | None) -> list[EvidenceSentence]:
    """The next best sentences for a second reading; none when nothing more can be read or
    nothing read from these passages could pass the verdict.

    The 1.5B never says "not stated": given six sentences without the answer it names something
    from them, and the verdict refuses that. The answer is often the seventh to tenth best sentence
    (too long for the budget, or sharing few of the question's words: "McDonald's cheese danish
    goes on sale next week"). A question about something the store does not hold is refused
    without reading twice.
    """
    if not could_pass(reading.standalone, reading.passages, newest):
        return []
    return select_with(reading.settings, reading.standalone, reading.passages, embed, focus=focus,
                       exclude=reading.evidence)


def _numbered_after(first: list[EvidenceSentence], more: list[EvidenceSentence]) -> list[EvidenceSentence]:
    """A second reading's sentences numbered after the first reading's, as the Answer shows them."""
    return [e.model_copy(update={"n": len(first) + e.n}) for e in more]


def _read_again(answerer: Answerer, reading: Reading, more: list[EvidenceSentence], newest: int | None):
    """Read ``more`` (from :func:`_more_evidence`) and decide on that reply.

    Its text is not streamed (the first reading's may already be on screen); the Answer carries
    it. Returns ((draft, evidence, verdict) or None, seconds spent reading): None when the reply
    is not structured or is refused too.
    """
    t0 = time.perf_counter()
    draft = None
    for piece in answerer.read(replace(reading, evidence=more)):
        if isinstance(piece, Draft):
            draft = piece
    took = time.perf_counter() - t0
    if draft is None or not draft.structured:
        return None, took
    evidence = reading.evidence + _numbered_after(reading.evidence, more)
    if draft.sentence:
        draft = replace(draft, sentence=len(reading.evidence) + draft.sentence)
    verdict = decide(draft, reading.standalone, evidence, reading.passages, reading.settings.refuse_threshold,
                     newest_days=newest)
    return (None if verdict.refused else (draft, evidence, verdict)), took


def _memoised(embed):
    """An embed function that computes each distinct text once per question."""
    seen: dict[str, np.ndarray] = {}

    def run(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in seen]
        if missing:
            seen.update(zip(missing, embed(missing)))
        return np.stack([seen[t] for t in texts]) if texts else embed([])

    return run


def ask(
    question: str,
    *,
    k: int | None = None,
    as_of: dt.date | str | None = None,
    since: dt.date | str | None = None,
    until: dt.date | str | None = None,
    sources: list[str] | None = None,
    history: list[tuple[str, str]] | None = None,
    index: Index | None = None,
    answerer: Answerer | None = None,
    llm: BaseChatModel | None = None,
    fusion: Fusion | None = None,
) -> Answer:
    """Answer a question from the indexed articles, with checked citations (see :func:`stream`)."""
    final = None
    for event in stream(question, k=k, as_of=as_of, since=since, until=until, sources=sources, history=history,
                        index=index, answerer=answerer, llm=llm, fusion=fusion):
        if isinstance(event, Answer):
            final = event
    assert final is not None
    return final


__all__ = ["ask", "stream", "clean_question", "filters_for", "parse_date"]
