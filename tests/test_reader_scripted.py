"""How the pipeline treats given model outputs, exactly and in milliseconds.

The reader here is a *scripted* chat model (langchain-core's GenericFakeChatModel): it
replies what the test says, so each test pins one decision of qa.verdict. These sit
beside the real-model tests (tests/test_default_model.py, tests/test_reader_local.py),
never instead of them. The store, the embedding model and retrieval are real.
"""

from __future__ import annotations

import json

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

import ingest
import qa
from qa.answerers import ChatAnswerer
from qa.types import Answer, Evidence, Token


def scripted(*replies: str, structured: str = "grammar") -> ChatAnswerer:
    fake = GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))
    return ChatAnswerer(fake, name="chat-model", model="scripted-fake", structured=structured, llm_condense=False)


@pytest.fixture
def seeded(seed_article):
    assert not ingest.add([str(seed_article)]).failed
    return str(seed_article.resolve())


def _evidence(question: str) -> list:
    first = next(iter(qa.stream(question, answerer=scripted('{"sentence": 0, "answer": ""}'))))
    assert isinstance(first, Evidence)
    return first.sentences


def _number_of(sentences, words: str) -> int:
    return next(s.n for s in sentences if words in s.text)


def _reply(n: int, answer: str) -> str:
    return json.dumps({"sentence": n, "answer": answer})


def test_structured_answer_is_composed_and_cited_by_construction(seeded):
    q = "Who leads the Chinese delegation?"
    n = _number_of(_evidence(q), "He Lifeng")
    events = list(qa.stream(q, answerer=scripted(_reply(n, "He Lifeng"))))
    assert isinstance(events[0], Evidence) and isinstance(events[-1], Answer)
    assert "".join(e for e in events if isinstance(e, Token)) == "He Lifeng"  # the answer streams, not the JSON
    a = events[-1]
    assert not a.refused and a.text == "He Lifeng leads the Chinese delegation [1]."
    assert len(a.citations) == 1 and a.citations[0].article_id == seeded
    c = a.citations[0]
    assert c.answer_span and c.quote[c.answer_span[0]:c.answer_span[1]].endswith("He Lifeng")


def test_wrong_sentence_number_is_recited_to_the_sentence_that_holds_the_answer(seeded):
    q = "What is the deadline for ByteDance to divest TikTok's US operations?"
    sentences = _evidence(q)
    right = _number_of(sentences, "September 17")
    wrong = next(s.n for s in sentences if "September 17" not in s.shown)
    a = qa.ask(q, answerer=scripted(_reply(wrong, "September 17")))
    assert not a.refused and "September 17" in a.text
    assert "September 17" in a.citations[0].quote and a.evidence[right - 1].text == a.citations[0].quote


def test_answer_with_a_number_no_sentence_holds_is_refused(seeded):
    q = "What is the deadline for ByteDance to divest TikTok's US operations?"
    n = _number_of(_evidence(q), "September 17")
    a = qa.ask(q, answerer=scripted(_reply(n, "September 19")))
    assert a.refused and a.citations == [] and a.flagged == ["September 19"]


def test_the_other_countrys_leader_is_refused_not_cited(seeded):
    q = "Who leads the Chinese delegation?"
    n = _number_of(_evidence(q), "He Lifeng")
    a = qa.ask(q, answerer=scripted(_reply(n, "Scott Bessent")))
    assert a.refused and a.citations == [], a.text


def test_not_stated_is_a_refusal(seeded):
    for reply in (_reply(0, ""), _reply(1, "not stated"), _reply(2, "Unknown")):
        a = qa.ask("What is the capital of Peru?", answerer=scripted(reply))
        assert a.refused and a.citations == [] and a.text == "The articles don't say.", reply


def test_an_answer_that_only_repeats_the_question_is_a_refusal(seeded):
    q = "Who leads the Chinese delegation?"
    n = _number_of(_evidence(q), "He Lifeng")
    a = qa.ask(q, answerer=scripted(_reply(n, "the Chinese delegation")))
    assert a.refused


def test_output_that_is_not_the_json_asked_for_is_refused_under_a_grammar(seeded):
    a = qa.ask("Who leads the Chinese delegation?", answerer=scripted("He Lifeng leads it."))
    assert a.refused and a.citations == []


def test_endpoint_that_ignores_the_schema_falls_back_to_the_checked_free_text_path(seeded):
    answerer = scripted("He Lifeng leads the Chinese delegation.", "Vice Premier He Lifeng leads the Chinese delegation [1].",
                        structured="json_schema")
    a = qa.ask("Who leads the Chinese delegation?", answerer=answerer)
    assert not a.refused and "He Lifeng" in a.text and a.citations[0].article_id == seeded
    assert answerer._structured_failed  # later questions go straight to free text


def test_free_text_swapped_entity_is_still_refused(seeded):
    answerer = scripted("Scott Bessent leads the Chinese delegation [1].", structured="none")
    a = qa.ask("Who leads the Chinese delegation?", answerer=answerer)
    assert "Scott Bessent leads the Chinese" not in a.text


def test_evidence_is_a_few_numbered_sentences_under_the_budget(seeded, settings):
    sentences = _evidence("Who leads the Chinese delegation?")
    assert 1 <= len(sentences) <= settings.evidence_sentences
    assert [s.n for s in sentences] == list(range(1, len(sentences) + 1))
    assert sum(len(s.shown) for s in sentences) // 4 <= settings.evidence_token_budget + 40
    assert any("He Lifeng" in s.text for s in sentences)


def test_pronoun_sentence_carries_the_sentence_before_it():
    from qa.evidence import _context

    sentences = ["Maria Lopez was named chief executive of Harbor Foods.", "She starts in March."]
    assert _context("She starts in March.", sentences) == sentences[0]
    assert _context(sentences[0], sentences) == ""


def test_span_expansion_and_declarative_answer():
    from qa.verdict import declarative, expand_span

    s = "Britain's Prince William opened the new wing at Columbia University on Friday."
    assert expand_span("William", s) == "Prince William"
    assert expand_span("Columbia", s) == "Columbia University"
    assert declarative("Who opened the new wing?", "Prince William") == "Prince William opened the new wing."
    assert declarative("Who did the prince meet?", "the dean") == "The dean"
