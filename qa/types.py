"""What qa hands to its callers: passages, citations, answers and stream events."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Passage(BaseModel):
    """A retrieved chunk, numbered for the prompt by its place in the list (1-based)."""

    chunk_id: str
    article_id: str
    title: str
    url: str = ""
    source: str = ""
    published: str = ""  # ISO date or "" when undated
    text: str  # the chunk's own text, without the title/date header
    score: float = 0.0
    dense_rank: int | None = None
    bm25_rank: int | None = None

    @property
    def date_label(self) -> str:
        return self.published or "undated"


class EvidenceSentence(BaseModel):
    """A sentence the reader is shown, numbered [n]; it belongs to ``passage`` (1-based)."""

    n: int
    passage: int
    text: str  # the sentence itself (what a citation quotes)
    context: str = ""  # the sentence before it, when this one opens with "he", "the company", …
    score: float = 0.0

    @property
    def shown(self) -> str:
        return f"{self.context} {self.text}".strip()


class Citation(BaseModel):
    index: int  # the [n] in Answer.text
    title: str
    url: str = ""
    source: str = ""
    published: str = ""  # ISO date, or "undated"
    chunk_id: str
    article_id: str = ""
    quote: str  # the sentence of the passage that supports the claim
    passage: str = ""  # the whole passage, for showing the quote in context
    support: float = 0.0
    answer_span: tuple[int, int] | None = None  # where the answer stands in ``quote`` (for highlighting)


class Answer(BaseModel):
    question: str
    text: str
    citations: list[Citation] = Field(default_factory=list)
    refused: bool = False
    answerer: Literal["openai", "local", "extractive", "chat-model"]
    model: str
    flagged: list[str] = Field(default_factory=list)  # sentences no passage supports
    timings: dict[str, float] = Field(default_factory=dict)  # retrieval, first_token, total (s)
    standalone_question: str = ""  # the question after the follow-up rewrite
    raw_text: str = ""  # the model's output before markers were checked
    passages: list[Passage] = Field(default_factory=list)
    evidence: list[EvidenceSentence] = Field(default_factory=list)  # the numbered sentences the reader was given
    invalid_markers: int = 0  # markers in raw_text that pointed at no passage
    total_markers: int = 0


class Evidence(BaseModel):
    """First stream event: what was found, before any text is generated."""

    kind: Literal["evidence"] = "evidence"
    passages: list[Passage]
    best_sentences: list[str]
    sentences: list[EvidenceSentence] = Field(default_factory=list)  # what the reader is given, numbered
    standalone_question: str
    answerer: str
    model: str


class Rereading(BaseModel):
    """Sent when the verdict refused the first reading and the reader reads the next best
    sentences: a second reading takes seconds and streams nothing (the first one's text may
    be on screen), so without this event the chat would sit on "Writing the answer…"."""

    kind: Literal["rereading"] = "rereading"
    sentences: list[EvidenceSentence]  # numbered after the first reading's, as in ``Answer.evidence``


class Token(str):
    """A piece of answer text as it is generated (a ``str``, so ``print(tok)`` just works)."""

    kind = "token"


REFUSAL = "The articles don't say."
