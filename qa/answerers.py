"""Who writes the answer: a registry of answerers (name → factory) behind one interface.

Every answerer turns a question and its evidence into a :class:`Draft`; what the
draft is worth (cited, flagged, refused) is decided afterwards, in one place
(:mod:`qa.verdict`), whichever answerer wrote it.

* ``local``: the embedded GGUF model. It reads the numbered evidence sentences and
  must reply ``{"answer": "…", "sentence": n}``: llama.cpp's grammar-constrained
  decoding makes any other shape impossible, so citations exist by construction.
* ``openai``: any OpenAI-compatible endpoint. Structured output where the server
  supports it; where it does not (an error, or text that is not the JSON asked
  for), the free-text passage prompt with [n] markers, checked as before.
* ``extractive``: no LLM; the best evidence sentence, quoted.
* any LangChain chat model passed as ``llm=``: the free-text path (structured
  output is only asked of models known to support it).
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass
from typing import Callable, Iterator

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser

from . import extractive, local_model
from .errors import LLMUnavailable
from .evidence import TITLE_WORDS, format_evidence
from .prompt import ANSWER_PROMPT, CONDENSE_PROMPT, READER_PROMPT, format_context, format_history
from .settings import Settings
from .types import REFUSAL, EvidenceSentence, Passage

_FOLLOW_UP = re.compile(r"^(and|but|what about|how about|also|so)\b|\b(he|she|they|it|its|their|his|her|them|that|this|those|these|one)\b", re.I)


@dataclass
class Draft:
    """What an answerer proposes, before any check.

    Structured: ``sentence`` (an evidence number, 0 = not stated) and ``short`` (the answer's words).
    Free text: ``text`` with [n] markers pointing at passages.
    """

    raw: str
    sentence: int | None = None
    short: str | None = None
    text: str | None = None

    @property
    def structured(self) -> bool:
        return self.sentence is not None


class Proposed(str):
    """A structured reader's short answer, once its string is complete and before the sentence
    number follows: :func:`qa.answer.stream` shows it only if the verdict would keep it."""


@dataclass
class Reading:
    """What an answerer is given."""

    question: str  # the question as the reader should answer it (a follow-up keeps its own words)
    standalone: str  # the self-contained question retrieval used
    evidence: list[EvidenceSentence]
    passages: list[Passage]
    settings: Settings


class Answerer:
    name = "extractive"
    model = ""
    endpoint = ""

    def condense(self, question: str, history: list[tuple[str, str]]) -> str:
        """A follow-up made self-contained for retrieval. The rule: prefix the last question."""
        if not history:
            return question
        last_q = history[-1][0]
        return f"{last_q} {question}" if _FOLLOW_UP.search(question) or len(question.split()) < 5 else question

    def read(self, reading: Reading) -> Iterator[str | Draft]:
        """Yield answer text as it is written, then one :class:`Draft`."""
        raise NotImplementedError

    def warm_up(self) -> None:
        """Load what the first answer would otherwise pay for (a GGUF file takes seconds)."""


class ExtractiveAnswerer(Answerer):
    name = "extractive"
    model = "sentence-scorer (no LLM)"

    def read(self, reading: Reading) -> Iterator[str | Draft]:
        best = reading.evidence[0] if reading.evidence else None
        for s in reading.evidence:
            if s.score > best.score:
                best = s
        if best is None or best.score < reading.settings.refuse_threshold:
            yield REFUSAL
            yield Draft(raw=REFUSAL, text=REFUSAL)
            return
        text = extractive.cite_sentence(best.text, best.passage)
        yield text
        yield Draft(raw=text, text=text)


def _schema(n: int) -> dict:
    # The answer first, then the number of the sentence it comes from. Answer first was the biggest
    # accuracy lever measured (dev 60: 0.533 → 0.600, test 60: 0.567 → 0.667, bench/reader_probe.py).
    # Its risk (the 1.5B copied an injected "the response should be X" into its streamed answer,
    # tests/test_injection.py) is closed three ways: a sentence telling its reader what to answer
    # never reaches the evidence (qa.prompt.addresses_reader, via strip_instructions), nothing
    # streams before the whole answer is written and the verdict keeps it, and the verdict checks
    # the final reply. The
    # sentence-first shape obeyed such a sentence too (bench/ROBUSTNESS.md): the shape is no defence.
    return {
        "type": "object",
        "properties": {"answer": {"type": "string", "maxLength": 120},
                       "sentence": {"type": "integer", "enum": list(range(n + 1))}},
        "required": ["answer", "sentence"],
    }


class ChatAnswerer(Answerer):
    """Any LangChain chat model. ``structured``: "grammar" (llama.cpp's JSON schema), "json_schema"
    (OpenAI structured output, falling back to free text where unsupported) or "none" (free text)."""

    def __init__(self, chat: BaseChatModel, *, name: str, model: str, endpoint: str = "", structured: str = "none",
                 llm_condense: bool = True):
        self.chat = chat
        self.name = name
        self.model = model
        self.endpoint = endpoint
        self.structured = structured
        self.llm_condense = llm_condense
        self._structured_failed = False
        self._lock = threading.Lock()

    def condense(self, question: str, history: list[tuple[str, str]]) -> str:
        fallback = super().condense(question, history)
        if not history or not self.llm_condense:
            return fallback
        try:
            chain = CONDENSE_PROMPT | self.chat.bind(max_tokens=60) | StrOutputParser()
            out = chain.invoke({"history": format_history(history), "question": question}).strip().strip('"')
        except Exception:
            return fallback
        out = out.splitlines()[0].strip() if out else ""
        if not out or len(out) > 3 * len(question) + 200 or "?" not in out and len(out.split()) < 3:
            return fallback
        return out

    def warm_up(self) -> None:
        # The reader's own system prompt, not a greeting: llama.cpp keeps the last prompt's state and
        # reuses its longest common prefix, so the first question then reads only its evidence
        # (≈200 tokens of system prompt, ≈3 s on two cores, saved).
        prompt = self.reader_prompt if self.structured != "none" else ANSWER_PROMPT
        messages = prompt.invoke({name: "" for name in prompt.input_variables})
        self.chat.invoke(messages, max_tokens=1)

    def read(self, reading: Reading) -> Iterator[str | Draft]:
        if self.structured != "none" and reading.evidence and not self._structured_failed:
            draft = yield from self._read_structured(reading)
            if draft is not None:
                yield draft
                return
        yield from self._read_free(reading)

    # --- structured: {"answer": "…", "sentence": n} over the evidence sentences -------------
    reader_prompt = READER_PROMPT  # class attributes, so a bench/ variant can replace them in a subclass
    schema = staticmethod(_schema)

    def evidence_text(self, reading: Reading) -> str:
        s = reading.settings
        return format_evidence(reading.evidence, reading.passages, title_words=TITLE_WORDS if s.evidence_headings else 0,
                               dates=s.evidence_heading_dates)

    def _bound(self, n: int):
        schema = self.schema(n)
        if self.structured == "grammar":
            return self.chat.bind(response_format={"type": "json_object", "schema": schema}, max_tokens=80)
        return self.chat.bind(
            response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}},
            max_tokens=80,
        )

    def _read_structured(self, reading: Reading):
        chain = self.reader_prompt | self._bound(len(reading.evidence)) | StrOutputParser()
        inputs = {"evidence": self.evidence_text(reading), "question": reading.question}
        raw, proposed = "", False
        try:
            for piece in chain.stream(inputs):
                raw += piece
                answer = None if proposed else _closed_answer(raw)
                if answer is not None:
                    proposed = True
                    yield Proposed(answer)
        except LLMUnavailable:
            raise
        except Exception as exc:
            if self.structured == "grammar" or _is_connection_problem(exc):
                raise llm_error(exc, self) from exc
            self._structured_failed = True  # the server refused the request shape: free text from now on
            return None
        parsed = _parse(raw, len(reading.evidence))
        if parsed is None:
            if self.structured == "grammar":
                return Draft(raw=raw, sentence=0, short="")  # cannot happen under the grammar; refuse if it does
            self._structured_failed = True  # the server ignored the schema
            return None
        sentence, short = parsed
        return Draft(raw=raw, sentence=sentence, short=short)

    # --- free text with [n] markers over the passages (the fallback, and any chat model) -------
    def _read_free(self, reading: Reading) -> Iterator[str | Draft]:
        chain = ANSWER_PROMPT | self.chat | StrOutputParser()
        s = reading.settings
        inputs = {"context": format_context(reading.passages, reading.standalone, s.prompt_token_budget),
                  "question": reading.standalone}
        parts: list[str] = []
        try:
            for piece in chain.stream(inputs):
                if piece:
                    parts.append(piece)
                    yield piece
        except LLMUnavailable:
            raise
        except Exception as exc:
            raise llm_error(exc, self) from exc
        raw = "".join(parts)
        yield Draft(raw=raw, text=raw)


def _closed_answer(raw: str) -> str | None:
    """The answer string once its closing quote has streamed (``"answer": "He Lifeng"`` → ``He
    Lifeng``); None before. A string JSON cannot decode is proposed as "", which nothing shows."""
    m = re.search(r'"answer"\s*:\s*"((?:[^"\\]|\\.)*)"', raw)
    if not m:
        return None
    try:
        return json.loads(f'"{m.group(1)}"', strict=False)
    except ValueError:
        return ""


def _parse(raw: str, n: int) -> tuple[int, str] | None:
    m = re.search(r"\{.*\}", raw, re.S)
    if not m:
        return None
    try:
        # strict=False: llama.cpp's schema grammar lets a raw newline into a string, which is still the shape
        obj = json.loads(m.group(0), strict=False)
        sentence = int(obj.get("sentence", 0))
        short = str(obj.get("answer", "")).strip()
    except (ValueError, TypeError, AttributeError):
        return None
    if not 0 <= sentence <= n:
        sentence = 0
    return sentence, short


def _is_connection_problem(exc: Exception) -> bool:
    name = type(exc).__name__
    return "Timeout" in name or "Connection" in name


def llm_error(exc: Exception, answerer: Answerer) -> LLMUnavailable:
    where = answerer.endpoint or answerer.model
    name = type(exc).__name__
    if "Timeout" in name:
        return LLMUnavailable(f"The LLM endpoint {where} did not answer in time ({name}).")
    if "Connection" in name:
        return LLMUnavailable(f"Cannot reach the LLM endpoint {where} ({name}: {exc}).")
    return LLMUnavailable(f"The LLM endpoint {where} failed: {name}: {exc}")


# --- the registry ------------------------------------------------------------------------

def _local(settings: Settings) -> Answerer:
    from .llm import LlamaCppChat

    spec = local_model.spec_for(settings.local_model)
    chat = LlamaCppChat(settings=settings, model_key=settings.local_model)
    # a 1.5B model rewriting a follow-up costs seconds; the rule keeps the follow-up's own words instead
    structured = "grammar" if settings.local_reader == "structured" else "none"
    return ChatAnswerer(chat, name="local", model=spec.display, structured=structured, llm_condense=False)


def _openai(settings: Settings) -> Answerer:
    from .llm import openai_chat

    chat, base_url = openai_chat(settings)
    return ChatAnswerer(chat, name="openai", model=settings.openai_model, endpoint=base_url,
                        structured="json_schema" if settings.openai_structured else "none")


def _extractive(settings: Settings) -> Answerer:
    return ExtractiveAnswerer()


ANSWERERS: dict[str, Callable[[Settings], Answerer]] = {
    "openai": _openai,
    "local": _local,
    "extractive": _extractive,
}


def openai_configured() -> bool:
    return bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"))


def auto_choice(settings: Settings) -> str:
    if openai_configured():
        return "openai"
    if local_model.is_installed(settings.local_model):
        return "local"
    return "extractive"


def resolve(settings: Settings, llm: BaseChatModel | None = None) -> Answerer:
    """The answerer the settings name (``auto`` picks one), or one over the chat model given."""
    if llm is not None:
        return for_chat_model(llm)
    choice = settings.llm if settings.llm != "auto" else auto_choice(settings)
    try:
        factory = ANSWERERS[choice]
    except KeyError:
        raise LLMUnavailable(f"Unknown answerer {choice!r}; choose one of {', '.join(ANSWERERS)} (QA_LLM)") from None
    return factory(settings)


def for_chat_model(llm: BaseChatModel) -> Answerer:
    """A user's own LangChain chat model (ChatOllama, ChatOpenAI, …) as the answerer."""
    from .llm import LlamaCppChat

    if isinstance(llm, LlamaCppChat):
        spec = local_model.spec_for(llm.model_key)
        return ChatAnswerer(llm, name="local", model=spec.display, structured="grammar", llm_condense=False)
    model = str(getattr(llm, "model_name", None) or getattr(llm, "model", None) or type(llm).__name__)
    return ChatAnswerer(llm, name="openai" if "openai" in type(llm).__module__ else "chat-model", model=model)


__all__ = ["ANSWERERS", "Answerer", "ChatAnswerer", "Draft", "ExtractiveAnswerer", "Reading", "resolve"]
