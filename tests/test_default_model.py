"""End to end with the default embedded model (the one `python app.py` uses with no key).

These are the product's founding questions; they take ~10-40 s each on 2 cores.
"""

from __future__ import annotations

import pytest

import ingest
import qa
from qa.settings import get_settings, reset_settings


@pytest.fixture
def default_local(monkeypatch, seed_article):
    monkeypatch.setenv("QA_LLM", "local")
    reset_settings()
    from qa.index import reset_index

    reset_index()
    assert get_settings().local_model == "qwen2.5-1.5b"
    assert not ingest.add([str(seed_article)]).failed
    return str(seed_article.resolve())


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~30 s a question on an idle 2-core machine; allow for a busy one
def test_default_model_answers_seed_questions_with_citations(default_local):
    # (question, must name, must not name): one sentence names both leaders, each with their country
    cases = [
        ("Who leads the Chinese delegation?", ["He Lifeng"], ["Bessent"]),
        ("Who leads the American delegation?", ["Bessent"], ["He Lifeng"]),
        ("In which city are the talks being held?", ["Madrid"], []),
        ("What is the deadline for ByteDance to divest TikTok's US operations?", ["September 17"], []),
        ("How many US users does TikTok have?", ["170 million"], []),
    ]
    wrong = []
    for question, expected, forbidden in cases:
        a = qa.ask(question)
        assert a.answerer == "local" and "1.5B" in a.model
        ok = (any(e in a.text for e in expected) and not any(f in a.text for f in forbidden)
              and any(c.article_id == default_local for c in a.citations))
        if not ok:
            wrong.append((question, a.raw_text, a.text))
    assert not wrong, wrong


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~30 s a question on an idle 2-core machine; allow for a busy one
def test_default_model_refuses_unanswerable_and_follows_up(default_local):
    refusal = qa.ask("What is the capital of Peru?")
    assert refusal.answerer == "local"
    assert refusal.refused and refusal.citations == [], refusal.raw_text
    first = qa.ask("Who leads the Chinese delegation?")
    follow = qa.ask("And who leads the American one?", history=[("Who leads the Chinese delegation?", first.text)])
    assert "Bessent" in follow.text, (follow.standalone_question, follow.raw_text)
    assert follow.citations


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_default_model_answers_from_the_undated_seed_beside_dated_samples(default_local):
    """The newcomer's store: the dated sample articles plus their own undated article."""
    from pathlib import Path

    samples = Path(__file__).resolve().parents[1] / "samples"
    assert not ingest.add([str(samples)]).failed
    a = qa.ask("Who leads the Chinese delegation?")
    assert a.answerer == "local" and "He Lifeng" in a.text and "Bessent" not in a.text, (a.raw_text, a.text)
    assert a.citations[0].article_id == default_local
