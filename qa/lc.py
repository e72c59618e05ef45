"""The pipeline as LangChain pieces: a retriever for a user's own chain, and the whole answerer as a Runnable.

People who pick a LangChain + Chroma tool expect to compose it. Both pieces are
thin doors onto the functions everything else uses, so there is one pipeline:

* :func:`retriever` wraps :func:`qa.retrieve.retrieve` (hybrid dense + BM25, date
  and source filters, the recency prior) and hands back ``Document``\\s whose
  metadata says where each passage came from, so a user's chain can cite it.
* :func:`chain` wraps :func:`qa.answer.stream`, so ``invoke`` returns the same
  checked :class:`~qa.types.Answer` as :func:`qa.ask` and ``stream`` yields the same
  events as :func:`qa.stream` (Evidence, Token pieces, the Answer). The citation
  check happens inside that function, so no path through LangChain skips it.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, Union

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import ConfigDict

from . import answer as _answer
from .answer import clean_question, filters_for
from .index import Index, get_index
from .retrieve import Fusion, retrieve
from .types import Answer, Evidence, Passage, Rereading, Token

QAInput = Union[str, Mapping[str, Any]]
Event = Union[Evidence, Token, Rereading, Answer]

# what one input may set for itself; the rest of the chain's settings are fixed when it is built
_PER_CALL = ("k", "as_of", "since", "until", "sources")


def _document(p: Passage) -> Document:
    """A passage as LangChain knows it: the text to read, and everything needed to cite and rank it."""
    return Document(
        id=p.chunk_id,
        page_content=p.text,
        metadata={
            "title": p.title, "url": p.url, "source": p.source, "published": p.published,
            "chunk_id": p.chunk_id, "article_id": p.article_id,
            "score": p.score, "dense_rank": p.dense_rank, "bm25_rank": p.bm25_rank,
        },
    )


class NewsRetriever(BaseRetriever):
    """The hybrid retriever over the article index, as a LangChain retriever.

    Filters are rebuilt for every query (rather than fixed at construction) so that the
    default ``as_of`` is the day of the query, as it is for :func:`qa.ask`; the index is
    looked up per query unless one was given, so a retriever made before the first
    ingest sees what was added later.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    k: int = 4
    as_of: dt.date | str | None = None
    since: dt.date | str | None = None
    until: dt.date | str | None = None
    sources: list[str] | None = None
    index: Any = None  # a qa.index.Index; Any so pydantic does not try to validate or copy it
    fusion: Any = None  # a qa.retrieve.Fusion; None = the configured settings

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        index: Index = self.index or get_index()
        question = clean_question(query, index.settings)  # the same limits and clean-up as ask()
        filters = filters_for(self.as_of, self.since, self.until, self.sources)
        passages = retrieve(question, index, k=self.k, filters=filters,
                            fusion=self.fusion or Fusion.from_settings(index.settings))
        return [_document(p) for p in passages]


def retriever(
    k: int = 4,
    as_of: dt.date | str | None = None,
    since: dt.date | str | None = None,
    until: dt.date | str | None = None,
    sources: list[str] | None = None,
    index: Index | None = None,
    fusion: Fusion | None = None,
) -> NewsRetriever:
    """A ``BaseRetriever`` over the indexed articles (``invoke(question)`` → Documents, best first).

    Each Document's ``page_content`` is the passage and its ``metadata`` holds title, url,
    source, published (ISO date, "" when undated), chunk_id, article_id, score, dense_rank
    and bm25_rank. Bad dates fail here, when the retriever is made, not at the first query.
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive whole number, not {k!r}")
    filters_for(as_of, since, until, sources)  # fail now, with the argument's name, on a date it cannot read
    return NewsRetriever(k=k, as_of=as_of, since=since, until=until,
                         sources=list(sources) if sources else None, index=index, fusion=fusion)


class NewsQAChain(Runnable[QAInput, Answer]):
    """The answering pipeline as a Runnable: input a question (or ``{"question", "history"}``), output the Answer.

    ``invoke`` returns the final :class:`Answer`; ``stream`` yields every event of
    :func:`qa.stream` unchanged, so a caller tells them apart by type as it would there.
    ``batch`` and ``ainvoke`` come from the Runnable defaults (threads over ``invoke``).
    ``astream`` runs the synchronous pipeline in a worker thread and hands its events
    over as they come: the answerers (llama.cpp, the extractive scorer) are synchronous,
    and a thread lets an event loop keep serving while one answer is written.
    """

    name = "news_qa"

    def __init__(self, *, k: int | None = None, as_of=None, since=None, until=None, sources=None,
                 index: Index | None = None, answerer=None, llm: BaseChatModel | None = None):
        self.options = {"k": k, "as_of": as_of, "since": since, "until": until, "sources": sources}
        self.index = index
        self.answerer = answerer
        self.llm = llm

    def __repr__(self) -> str:
        set_ = ", ".join(f"{k}={v!r}" for k, v in self.options.items() if v is not None)
        return f"NewsQAChain({set_})"

    # --- one input → the pipeline's events ----------------------------------------------
    def _request(self, input: QAInput) -> tuple[str, dict]:
        """The question and ``qa.answer.stream`` keyword arguments one input stands for."""
        options = dict(self.options)
        history = None
        if isinstance(input, str):
            question = input
        elif isinstance(input, Mapping):
            unknown = set(input) - {"question", "history", *_PER_CALL}
            if unknown:
                raise ValueError(f"Unknown input keys {sorted(unknown)}; the chain takes question, history, "
                                 f"and optionally {', '.join(_PER_CALL)}.")
            if "question" not in input:
                raise ValueError('The input needs a "question" (or pass the question as a plain string).')
            question = input["question"]
            history = input.get("history")
            options.update({key: input[key] for key in _PER_CALL if key in input})
        else:
            raise ValueError(f"The input must be a question string or a dict with a question, not {type(input).__name__}.")
        return question, dict(options, history=history, index=self.index, answerer=self.answerer, llm=self.llm)

    def _events(self, input: QAInput) -> Iterator[Event]:
        question, kwargs = self._request(input)
        return _answer.stream(question, **kwargs)

    def _final(self, input: QAInput) -> Answer:
        final = None
        for event in self._events(input):
            final = event
        assert isinstance(final, Answer), "qa.answer.stream ended without an Answer"
        return final

    def _transform(self, inputs: Iterator[QAInput]) -> Iterator[Event]:
        for input in inputs:  # one input: stream() hands exactly one to the config helper
            yield from self._events(input)

    # --- the Runnable interface ---------------------------------------------------------
    def invoke(self, input: QAInput, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        return self._call_with_config(self._final, input, config, **kwargs)

    def stream(self, input: QAInput, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Event]:
        # the config helper reports the run to callbacks; the events pass through untouched
        yield from self._transform_stream_with_config(iter([input]), self._transform, config, **kwargs)

    async def astream(self, input: QAInput, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[Event]:
        async def one() -> AsyncIterator[QAInput]:
            yield input

        async for event in self._atransform_stream_with_config(one(), self._athread_events, config, **kwargs):
            yield event

    async def _athread_events(self, inputs: AsyncIterator[QAInput]) -> AsyncIterator[Event]:
        """The synchronous pipeline in its own thread, its events passed over a queue as they are made.

        When the consumer stops early (a closed connection, a cancelled task) the thread is
        told to stop and closes the pipeline at its next event, so no worker runs on unseen.
        """
        input = None
        async for input in inputs:
            pass
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        done = object()
        context = contextvars.copy_context()  # callbacks of the LLM's own run nest under this one

        def hand_over(item) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening any more
                stop.set()

        def produce() -> None:
            try:
                events = self._events(input)
                try:
                    for event in events:
                        hand_over(event)
                        if stop.is_set():
                            break
                finally:
                    events.close()
                hand_over(done)
            except Exception as exc:  # handed to the consumer, which raises it
                hand_over(exc)

        worker = threading.Thread(target=context.run, args=(produce,), name="news-qa-astream", daemon=True)
        worker.start()
        try:
            while True:
                item = await queue.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()


def chain(
    k: int | None = None,
    as_of: dt.date | str | None = None,
    since: dt.date | str | None = None,
    until: dt.date | str | None = None,
    sources: list[str] | None = None,
    index: Index | None = None,
    answerer=None,
    llm: BaseChatModel | None = None,
) -> NewsQAChain:
    """The whole pipeline as a Runnable: ``invoke`` gives the checked Answer, ``stream`` the events of ``qa.stream``.

    The input is a question string or ``{"question": ..., "history": [(q, a), ...]}``; a
    dict may also set ``k``, ``as_of``, ``since``, ``until`` or ``sources`` for that one
    question (a benchmark asks each question as of its own date). ``llm``: any LangChain
    chat model as the answerer, its output checked like any other; ``answerer``: a
    :class:`qa.answerers.Answerer` (e.g. ``resolve(settings)``). Bad dates fail here.
    """
    filters_for(as_of, since, until, sources)
    return NewsQAChain(k=k, as_of=as_of, since=since, until=until, sources=list(sources) if sources else None,
                       index=index, answerer=answerer, llm=llm)


__all__ = ["NewsQAChain", "NewsRetriever", "chain", "retriever"]
