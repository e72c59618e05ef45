"""qa.retriever() and qa.chain(): the pipeline as LangChain pieces, over a real store.

The store, the embedding model and retrieval are real; the extractive answerer keeps
each test to seconds. The one chat model here is langchain-core's *scripted* fake
(GenericFakeChatModel): it replies what the test says, to pin how the pipeline treats a
given output arriving through ``llm=``, never to stand in for a real model's quality.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.prompts import PromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

import ingest
import qa
from qa.answerers import resolve
from qa.index import get_index, reset_index
from qa.retrieve import retrieve
from qa.settings import get_settings, reset_settings
from qa.types import Answer, Evidence, Token

Q = "Who leads the Chinese delegation?"
QUESTIONS = [Q, "Who leads the American delegation?", "Where are the talks held?", "What is the TikTok deadline?"]
METADATA = {"title", "url", "source", "published", "chunk_id", "article_id", "score", "dense_rank", "bm25_rank"}


@pytest.fixture
def seeded(seed_article, monkeypatch):
    """The seed article in this test's fresh store, with QA_LLM=extractive read into the settings."""
    monkeypatch.setenv("QA_LLM", "extractive")
    reset_settings()
    reset_index()
    report = ingest.add([str(seed_article)])
    assert report.indexed and not report.failed
    return str(seed_article.resolve())


@pytest.fixture
def extractive(seeded):
    answerer = resolve(get_settings())
    assert answerer.name == "extractive"  # not whatever `auto` would have found
    return answerer


def scripted_fake(reply: str) -> GenericFakeChatModel:
    """A scripted fake chat model: it says ``reply``, once."""
    return GenericFakeChatModel(messages=iter([AIMessage(content=reply)]))


# --- the retriever -----------------------------------------------------------------------

def test_retriever_documents_carry_metadata_and_the_seed_passage_first(seeded):
    r = qa.retriever(k=4)
    assert isinstance(r, BaseRetriever)
    docs = r.invoke(Q)
    assert docs and all(isinstance(d, Document) for d in docs)
    assert "He Lifeng are leading delegations" in docs[0].page_content
    for d in docs:
        assert set(d.metadata) == METADATA
        assert d.metadata["article_id"] == seeded and d.metadata["chunk_id"] == d.id
        assert d.metadata["title"] == "US-China Talks Advance on TikTok Amid Trade Tensions in Madrid"
        assert d.metadata["published"] == ""  # the seed file carries no date
        assert d.metadata["dense_rank"] is not None or d.metadata["bm25_rank"] is not None
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    # the same passages, in the same order, as the function ask() uses (no second retrieval path)
    same = retrieve(Q, get_index(), k=4, filters=qa.answer.filters_for())
    assert [d.id for d in docs] == [p.chunk_id for p in same]
    assert [d.page_content for d in docs] == [p.text for p in same]


def test_retriever_k_and_filters_reach_retrieval(seeded):
    assert len(qa.retriever(k=1).invoke(Q)) == 1
    assert qa.retriever(sources=["No Such Outlet"]).invoke(Q) == []
    # an explicit date range is a question about dated events: the undated seed falls outside it
    assert qa.retriever(since="2025-01-01").invoke(Q) == []
    # as_of keeps undated articles (what was known then)
    assert qa.retriever(as_of="2020-01-01").invoke(Q)
    with pytest.raises(ValueError, match="as_of"):
        qa.retriever(as_of="next thursday-ish")


def test_retriever_composes_in_a_users_own_lcel_chain(seeded):
    def numbered(docs: list[Document]) -> str:
        return "\n".join(f"[{i}] {d.metadata['title']}: {d.page_content}" for i, d in enumerate(docs, 1))

    retriever = qa.retriever(k=2)
    piped = retriever | RunnableLambda(numbered)
    text = piped.invoke(Q)
    assert text.startswith("[1] US-China Talks") and "He Lifeng" in text

    prompt = PromptTemplate.from_template("Answer from the passages.\n{context}\n\nQuestion: {question}")
    rag = {"context": retriever | RunnableLambda(numbered), "question": RunnablePassthrough()} | prompt
    shown = rag.invoke(Q).to_string()
    assert shown.endswith(f"Question: {Q}") and "[2] " in shown and "He Lifeng" in shown

    docs = asyncio.run(retriever.ainvoke(Q))  # async through BaseRetriever's default
    assert [d.id for d in docs] == [d.id for d in retriever.invoke(Q)]


# --- the chain ---------------------------------------------------------------------------

def test_chain_invoke_is_ask(extractive, seeded):
    chain = qa.chain(answerer=extractive)
    assert isinstance(chain, Runnable)
    a = chain.invoke(Q)
    assert isinstance(a, Answer) and a.answerer == "extractive" and not a.refused
    assert "He Lifeng" in a.text and a.citations and a.citations[0].article_id == seeded
    b = qa.ask(Q, answerer=extractive)
    assert (a.text, [c.chunk_id for c in a.citations]) == (b.text, [c.chunk_id for c in b.citations])


def test_chain_batch_of_four_questions_all_answered(extractive, seeded):
    answers = qa.chain(answerer=extractive).batch(QUESTIONS)
    assert [a.question for a in answers] == QUESTIONS
    for a in answers:
        assert isinstance(a, Answer) and a.answerer == "extractive"
        assert not a.refused and a.citations and all(c.article_id == seeded for c in a.citations)
    assert "He Lifeng" in answers[0].text and "Bessent" in answers[1].text
    # run side by side in threads, each answer is still the one ask() gives its own question
    alone = [qa.ask(q, answerer=extractive) for q in QUESTIONS]
    assert [(a.text, [c.chunk_id for c in a.citations]) for a in answers] == \
        [(a.text, [c.chunk_id for c in a.citations]) for a in alone]


def test_chain_stream_yields_the_events_of_qa_stream(extractive, seeded):
    events = list(qa.chain(answerer=extractive).stream(Q))
    assert isinstance(events[0], Evidence) and events[0].passages
    assert isinstance(events[-1], Answer)
    middle = events[1:-1]
    assert middle and all(isinstance(e, Token) for e in middle)
    direct = list(qa.stream(Q, answerer=extractive))
    assert [type(e) for e in events] == [type(e) for e in direct]
    assert "".join(middle) == "".join(e for e in direct if isinstance(e, Token))
    assert events[-1].text == direct[-1].text


def test_chain_takes_history_and_per_question_settings(extractive, seeded):
    chain = qa.chain(answerer=extractive)
    first = chain.invoke(Q)
    follow = chain.invoke({"question": "And who leads the American one?", "history": [(Q, first.text)]})
    assert "Bessent" in follow.text and follow.citations
    assert chain.invoke({"question": Q, "sources": ["No Such Outlet"]}).refused  # a filter for this question only
    assert not chain.invoke(Q).refused  # ...and not for the next
    with pytest.raises(ValueError, match="Unknown input keys"):
        chain.invoke({"question": Q, "temperature": 0})
    with pytest.raises(ValueError, match="question"):
        chain.invoke({"history": []})


def test_chain_async_invoke_and_stream(extractive, seeded):
    chain = qa.chain(answerer=extractive)

    async def run():
        answer = await chain.ainvoke(Q)
        events = [e async for e in chain.astream(Q)]
        both = await chain.abatch(QUESTIONS[:2])
        return answer, events, both

    answer, events, both = asyncio.run(run())
    assert isinstance(answer, Answer) and "He Lifeng" in answer.text and answer.answerer == "extractive"
    assert isinstance(events[0], Evidence) and isinstance(events[-1], Answer)
    assert all(isinstance(e, Token) for e in events[1:-1]) and len(events) >= 3
    assert events[-1].text == answer.text
    assert [a.question for a in both] == QUESTIONS[:2] and not any(a.refused for a in both)


def test_astream_stopped_early_leaves_no_worker(extractive, seeded):
    chain = qa.chain(answerer=extractive)

    async def first_event():
        agen = chain.astream(Q)
        event = await agen.__anext__()
        await agen.aclose()
        return event

    assert isinstance(asyncio.run(first_event()), Evidence)
    deadline = time.time() + 10
    while any(t.name == "news-qa-astream" for t in threading.enumerate()) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "news-qa-astream" for t in threading.enumerate())


def test_chain_errors_reach_the_caller(extractive, seeded):
    chain = qa.chain(answerer=extractive)
    with pytest.raises(ValueError, match="empty"):
        chain.invoke("   ")
    with pytest.raises(ValueError, match="empty"):
        asyncio.run(chain.ainvoke("   "))

    async def drain():
        return [e async for e in chain.astream("   ")]

    with pytest.raises(ValueError, match="empty"):
        asyncio.run(drain())
    with pytest.raises(ValueError, match="until"):
        qa.chain(until="31/31/2025")


# --- a LangChain chat model as the answerer ------------------------------------------------

def test_llm_answer_still_goes_through_the_citation_check(seeded):
    swapped = "Scott Bessent leads the Chinese delegation [1]."  # the passage names He Lifeng
    for answer in (qa.ask(Q, llm=scripted_fake(swapped)), qa.chain(llm=scripted_fake(swapped)).invoke(Q)):
        assert answer.answerer == "chat-model" and answer.raw_text == swapped  # the fake did answer
        assert "Scott Bessent leads the Chinese delegation" not in answer.text  # not shown as cited
        assert "Scott Bessent leads the Chinese delegation." in answer.flagged
    # the control: the same model saying what the passage says is kept, cited, as written
    right = qa.chain(llm=scripted_fake("He Lifeng leads the Chinese delegation [1].")).invoke(Q)
    assert right.text == "He Lifeng leads the Chinese delegation [1]." and not right.flagged
    assert right.citations[0].article_id == seeded and "He Lifeng" in right.citations[0].quote
