"""The answering pipeline behind ``ask()`` and ``stream()``.

condense (follow-ups) → retrieve → evidence event → generate (LCEL, streamed)
→ check citations → Answer. Every answerer goes through the same citation
check, so "cited" means the same thing whichever produced the text.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import unicodedata
from typing import Iterator

import numpy as np

from langchain_core.output_parsers import StrOutputParser

from . import extractive
from .citations import check, content_terms, uncovered_names
from .dates import parse_date, require_date
from .errors import LLMUnavailable
from .index import Index, get_index
from .llm import Answerer, resolve
from .prompt import ANSWER_PROMPT, CONDENSE_PROMPT, format_context, format_history
from .retrieve import Filters, Fusion, retrieve
from .settings import Settings
from .types import REFUSAL, Answer, Evidence, Token

_FOLLOW_UP = re.compile(r"^(and|but|what about|how about|also|so)\b|\b(he|she|they|it|its|their|his|her|them|that|this|those|these|one)\b", re.I)


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


def condense(question: str, history: list[tuple[str, str]] | None, answerer: Answerer) -> str:
    """Rewrite a follow-up into a standalone question (LLM when there is one, a rule otherwise)."""
    if not history:
        return question
    last_q = history[-1][0]
    fallback = f"{last_q} {question}" if _FOLLOW_UP.search(question) or len(question.split()) < 5 else question
    if answerer.chat is None:
        return fallback
    try:
        chain = CONDENSE_PROMPT | answerer.chat.bind(max_tokens=60) | StrOutputParser()
        out = chain.invoke({"history": format_history(history), "question": question}).strip().strip('"')
    except Exception:
        return fallback
    out = out.splitlines()[0].strip() if out else ""
    if not out or len(out) > 3 * len(question) + 200 or "?" not in out and len(out.split()) < 3:
        return fallback
    return out


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
) -> Iterator[Evidence | Token | Answer]:
    """Yield the evidence found, then the answer text as generated, then the checked Answer."""
    t0 = time.perf_counter()
    index = index or get_index()
    settings = index.settings
    q = clean_question(question, settings)
    filters = Filters(
        as_of=require_date(as_of, "as_of") if as_of else dt.date.today(),
        since=require_date(since, "since") if since else None,
        until=require_date(until, "until") if until else None,
        sources=[s for s in (sources or []) if s] or None,
    )
    answerer = answerer or resolve(settings)
    history = [(str(a), str(b)) for a, b in (history or [])]
    standalone = condense(q, history, answerer)
    passages = retrieve(
        standalone, index, k=k or settings.k, filters=filters, candidates=settings.candidates,
        fusion=Fusion.from_settings(settings),
    )
    t_retrieval = time.perf_counter() - t0
    embed = _memoised(index.embeddings.embed)  # the evidence and the extractive answer embed the same sentences
    best = extractive.best_sentences(standalone, passages, embed, limit=3) if passages else []
    yield Evidence(
        passages=passages, best_sentences=[s for _, _, s in best], standalone_question=standalone,
        answerer=answerer.name, model=answerer.model,
    )
    first_token = None
    parts: list[str] = []
    if not passages:
        raw = REFUSAL
        first_token = time.perf_counter() - t0
        yield Token(raw)
    elif answerer.chat is None:
        focus = q if standalone != q else None
        raw = extractive.answer(standalone, passages, embed, settings.refuse_threshold, focus=focus)
        first_token = time.perf_counter() - t0
        yield Token(raw)
    else:
        chain = ANSWER_PROMPT | answerer.chat | StrOutputParser()
        inputs = {"context": format_context(passages, standalone, settings.prompt_token_budget), "question": standalone}
        try:
            for piece in chain.stream(inputs):
                if piece:
                    if first_token is None:
                        first_token = time.perf_counter() - t0
                    parts.append(piece)
                    yield Token(piece)
        except LLMUnavailable:
            raise
        except Exception as exc:
            raise _llm_error(exc, answerer) from exc
        raw = "".join(parts)
    checked = check(raw, passages, standalone)
    if checked.refused and checked.flagged and answerer.chat is not None and best:
        checked = _quote_instead(checked, standalone, best, passages, settings.refuse_threshold)
    if not checked.refused and checked.citations:
        # an answer about something else: the question names what no retrieved passage mentions
        # (all retrieved passages count: US news rarely writes "US" in the very sentence cited)
        missing = uncovered_names(standalone, [p.text for p in passages])
        if missing:
            checked.flagged = checked.flagged + [checked.text]
            checked.text, checked.citations, checked.refused = REFUSAL, [], True
    text = checked.text if not checked.refused else (checked.text or REFUSAL)
    total = time.perf_counter() - t0
    yield Answer(
        question=q, text=text, citations=checked.citations, refused=checked.refused, answerer=answerer.name,
        model=answerer.model, flagged=checked.flagged, standalone_question=standalone, raw_text=raw,
        passages=passages, invalid_markers=checked.invalid_markers, total_markers=checked.total_markers,
        timings={"retrieval": round(t_retrieval, 4), "first_token": round(first_token or total, 4), "total": round(total, 4)},
    )


def _quote_instead(checked, question: str, best, passages, threshold: float):
    """When every sentence the model wrote failed the support check, quote the passage instead.

    Small models sometimes misread passages that hold the answer ("Scott Bessent leads the
    Chinese delegation" from "US Treasury Secretary Scott Bessent and Chinese Vice Premier He
    Lifeng are leading delegations"). If the best-scoring passage sentence is a confident
    match that names everything the question names, that sentence, cited, is a better answer
    than a refusal; the model's sentences stay in ``flagged``. Otherwise the refusal stands.
    """
    score, n, sentence = best[0]
    if score < threshold or uncovered_names(question, [sentence]) or not content_terms(sentence) - content_terms(question):
        return checked  # not confident, misses a name the question asks about, or only repeats the question
    quoted = check(f"{sentence.strip().rstrip('.')} [{n}].", passages, question)
    if quoted.refused:
        return checked
    quoted.flagged = checked.flagged + quoted.flagged
    quoted.invalid_markers, quoted.total_markers = checked.invalid_markers, checked.total_markers
    return quoted


def _memoised(embed):
    """An embed function that computes each distinct text once per question."""
    seen: dict[str, np.ndarray] = {}

    def run(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in seen]
        if missing:
            seen.update(zip(missing, embed(missing)))
        return np.stack([seen[t] for t in texts]) if texts else embed([])

    return run


def ask(question: str, **kwargs) -> Answer:
    """Answer a question from the indexed articles, with checked citations."""
    final = None
    for event in stream(question, **kwargs):
        if isinstance(event, Answer):
            final = event
    assert final is not None
    return final


def _llm_error(exc: Exception, answerer: Answerer) -> LLMUnavailable:
    where = answerer.endpoint or answerer.model
    name = type(exc).__name__
    if "Timeout" in name:
        return LLMUnavailable(f"The LLM endpoint {where} did not answer in time ({name}).")
    if "Connection" in name:
        return LLMUnavailable(f"Cannot reach the LLM endpoint {where} ({name}: {exc}).")
    return LLMUnavailable(f"The LLM endpoint {where} failed: {name}: {exc}")


__all__ = ["ask", "stream", "clean_question", "parse_date"]
