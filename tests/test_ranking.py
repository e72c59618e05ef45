"""Relevance before recency: the cases a benchmark that always asks about the newest week cannot see.

Real store and real embedding model throughout; fuse() itself is exercised on given
candidate lists where the property is about arithmetic, not about what retrieval finds.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ingest
from qa.dates import UNDATED, to_days
from qa.index import Index
from qa.retrieve import Filters, Fusion, fuse, retrieve
from qa.timewords import time_window

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SEED_QUESTIONS = [
    "Who leads the Chinese delegation?",
    "Who leads the American delegation?",
    "In which city are the talks being held?",
    "What is the deadline for ByteDance to divest TikTok's US operations?",
]


def _fusion(settings, **kw) -> Fusion:
    return Fusion.from_settings(settings, **kw)


# --- the mixed store: dated samples + an undated article ---------------------------------

@pytest.fixture
def mixed_store(settings, seed_article):
    report = ingest.add([str(SAMPLES), str(seed_article)])
    assert not report.failed, report.failed
    return Index(settings), str(seed_article.resolve())


@pytest.mark.parametrize("as_of", [None, "2025-07-20", "2026-11-30"])
def test_mixed_store_seed_questions_rank_the_seed_first(mixed_store, as_of):
    index, seed_id = mixed_store
    for q in SEED_QUESTIONS:
        f = Filters(as_of=dt.date.fromisoformat(as_of) if as_of else dt.date.today())
        top = retrieve(q, index, k=4, filters=f)
        assert top and top[0].article_id == seed_id, (q, [(p.title, p.score) for p in top])


def test_mixed_store_answers_the_headline_question_from_the_seed(mixed_store, monkeypatch):
    import qa
    from qa.settings import reset_settings

    monkeypatch.setenv("QA_LLM", "extractive")
    reset_settings()
    index, seed_id = mixed_store
    answer = qa.ask("Who leads the Chinese delegation?", index=Index())
    assert not answer.refused and "He Lifeng" in answer.text
    assert answer.citations[0].article_id == seed_id


# --- the prior's arithmetic ---------------------------------------------------------------

def _meta(days: int, aid: str, text: str = "") -> dict:
    return {"published_days": days, "article_id": aid, "_text": text or aid}


def test_recency_never_lifts_a_one_retriever_far_hit_over_a_both_retrievers_top_hit(settings):
    ref = to_days(dt.date(2025, 7, 1))
    meta = {"old": _meta(UNDATED, "a-old"), "new": _meta(ref, "a-new")}
    dense = ["old"] + [f"d{i}" for i in range(4)] + ["new"]
    meta.update({f"d{i}": _meta(UNDATED, f"a-d{i}", f"filler {i}") for i in range(4)})
    for weight in (0.25, 0.5, 1.0):
        chosen = fuse("What is the latest news this week?", dense, ["old"], meta, ref, _fusion(settings, recency_weight=weight), 4)
        assert chosen[0][1] == "old", weight


def test_recency_reorders_a_near_tie_toward_the_newer_article(settings):
    ref = to_days(dt.date(2025, 7, 1))
    meta = {"a": _meta(ref - 200, "A", "first story text here"), "b": _meta(ref - 1, "B", "second story other words")}
    chosen = fuse("What happened?", ["a", "b"], ["b", "a"], meta, ref, _fusion(settings, dense_weight=1.0), 2)
    assert [c for _, c in chosen] == ["b", "a"]


def test_undated_article_is_neither_favoured_nor_pushed_down(settings):
    ref = to_days(dt.date(2025, 7, 1))
    f = _fusion(settings)
    from qa.retrieve import recency_factor

    assert recency_factor(UNDATED, ref, None, f, strong=True) == 1.0
    newest, oldest = recency_factor(ref, ref, None, f, True), recency_factor(ref - 3000, ref, None, f, True)
    assert oldest < 1.0 < newest


def test_recency_weight_above_one_is_refused():
    with pytest.raises(ValueError, match="between 0 and 1"):
        Fusion(rrf_k=10, dense_weight=0.5, recency_weight=4.0, recency_tau_days=30)


# --- archive and undated cases on a real store ---------------------------------------------

def _records(tmp_path: Path, records: list[dict]) -> Path:
    path = tmp_path / "articles.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


NEWER = [
    {"url": f"https://news.example/{slug}", "title": title, "published": f"2025-06-{day:02d}", "source": "Example News",
     "text": text}
    for slug, title, day, text in [
        ("budget", "City council passes budget", 20,
         "The city council passed its annual budget on Tuesday after a long debate about library funding. "
         "Council members added money for street repairs and for a new youth centre in the east district."),
        ("marathon", "Marathon draws record field", 22,
         "A record eleven thousand runners finished the city marathon on Sunday in warm weather. "
         "Organisers said water stations were doubled after complaints from last year's race."),
        ("museum", "Museum reopens after renovation", 25,
         "The natural history museum reopened its doors after a two-year renovation of the main hall. "
         "Visitors queued for the restored whale skeleton and the new mineral gallery."),
    ]
]


def test_archive_question_finds_the_older_article_among_newer_unrelated_ones(settings, tmp_path):
    old = {"url": "https://news.example/bridge", "title": "Harbour bridge closes for cable repairs",
           "published": "2025-01-14", "source": "Example News",
           "text": "The Harbour bridge closed on Monday for six weeks of cable repairs, the transport agency said. "
                   "Ferries will run every ten minutes while the crossing is shut, and cyclists can use the tunnel."}
    assert not ingest.add([str(_records(tmp_path, NEWER + [old]))]).failed
    index = Index(settings)
    for as_of in (dt.date(2025, 1, 20), dt.date(2025, 12, 1)):
        top = retrieve("How long will the Harbour bridge be closed for repairs?", index, k=4, filters=Filters(as_of=as_of))
        assert top[0].url == old["url"], (as_of, [p.title for p in top])


def test_undated_article_that_answers_beats_a_dated_one_that_does_not(settings, tmp_path):
    undated = {"url": "https://news.example/ferry", "title": "New ferry route to Pine Island",
               "text": "A new ferry route to Pine Island starts in spring, with four sailings a day from the north pier. "
                       "The island council said the route will carry up to 300 passengers per sailing."}
    assert not ingest.add([str(_records(tmp_path, NEWER + [undated]))]).failed
    top = retrieve("How many passengers will the Pine Island ferry carry?", Index(settings), k=4,
                   filters=Filters(as_of=dt.date(2025, 6, 26)))
    assert top[0].url == undated["url"] and top[0].published == ""


# --- one filter rule, three readers --------------------------------------------------------

def test_filter_rule_is_the_same_in_chroma_bm25_and_python(settings, tmp_path):
    records = [
        {"url": f"https://f.example/{i}", "title": f"Story {i}", "source": src, "published": pub,
         "text": f"Story number {i} reports on harbour traffic and ferry timetables in detail, item {i}."}
        for i, (src, pub) in enumerate([("A", "2025-01-01"), ("B", "2025-03-01"), ("A", ""), ("B", "2025-06-01"),
                                        ("A", "2025-09-01")])
    ]
    assert not ingest.add([str(_records(tmp_path, records))]).failed
    index = Index(settings)
    bm = index.bm25()
    d = dt.date.fromisoformat
    cases = [Filters(), Filters(as_of=d("2025-04-01")), Filters(since=d("2025-02-01")), Filters(until=d("2025-06-01")),
             Filters(as_of=d("2025-12-01"), sources=("A",)), Filters(since=d("2025-01-01"), until=d("2025-06-30"), sources=("B",)),
             Filters(as_of=d("2025-04-01"), since=d("2025-02-01"), keep_undated=True)]
    for f in cases:
        where = f.chroma_where()
        chroma = set(index.collection.get(where=where, include=[])["ids"]) if where else set(bm.ids)
        mask = f.mask(bm.days, bm.sources)
        cache = {cid for cid, keep in zip(bm.ids, mask if mask is not None else np.ones(len(bm.ids), bool)) if keep}
        python = {item.id for item in index.iter_all() if f.passes(item.metadata)}
        assert chroma == cache == python, f


# --- another process writes while this one holds the store open ---------------------------

def test_ingest_in_another_process_is_seen_by_both_retrievers(settings, seed_article, tmp_path):
    assert not ingest.add([str(SAMPLES)]).failed
    index = Index(settings)
    before = retrieve("Who leads the Chinese delegation?", index, k=4)
    assert all(p.article_id != str(seed_article.resolve()) for p in before)
    env = {"QA_DATA_DIR": str(settings.data_dir), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    done = subprocess.run([sys.executable, "-m", "ingest", str(seed_article)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    after = retrieve("Who leads the Chinese delegation?", index, k=4)
    seed = [p for p in after if p.article_id == str(seed_article.resolve())]
    assert seed and seed[0] is after[0]
    assert seed[0].dense_rank is not None and seed[0].bm25_rank is not None, (seed[0].dense_rank, seed[0].bm25_rank)


# --- time expressions, against a fixed as_of ----------------------------------------------

AS_OF = dt.date(2022, 6, 15)  # a Wednesday


@pytest.mark.parametrize("question, start, end, hard", [
    ("What did the president announce last week?", "2022-06-06", "2022-06-12", False),
    ("Which team won the final this week?", "2022-06-13", "2022-06-15", False),
    ("What happened in the markets in March?", "2022-03-01", "2022-03-31", False),
    ("Who resigned on Monday?", "2022-06-13", "2022-06-13", False),
    ("What was decided on June 3, 2022?", "2022-06-03", "2022-06-03", False),
    ("How many cases were reported since May 1?", "2022-05-01", "2022-06-15", True),
    ("Who won the election in December?", "2021-12-01", "2021-12-31", False),
])
def test_time_expressions_become_windows(question, start, end, hard):
    w = time_window(question, AS_OF)
    assert w is not None, question
    assert (w.start.isoformat(), w.end.isoformat(), w.hard) == (start, end, hard), w


@pytest.mark.parametrize("question", [
    "Who leads the Chinese delegation?",
    "What may happen to TikTok?",
    "Which company will buy the startup now?",
    "How many seconds did the record take?",
])
def test_questions_without_a_time_have_no_window(question):
    assert time_window(question, AS_OF) is None


def test_a_bm25_snapshot_taken_by_a_question_is_not_changed_by_a_later_ingest(settings, tmp_path):
    """A question searches one snapshot; an upload landing meanwhile builds a new one instead of
    changing the arrays under the search (the mismatch once raised inside bm25s under load)."""
    assert not ingest.add([str(_records(tmp_path, NEWER[:2]))]).failed
    index = Index(settings)
    before = index.bm25()
    n = len(before.ids)
    more = tmp_path / "more"
    more.mkdir()
    assert not ingest.add([str(_records(more, NEWER[2:]))]).failed
    after = index.bm25()
    assert after is not before and len(after.ids) > n == len(before.ids) == len(before.days)
    mask = Filters(as_of=dt.date(2025, 6, 30)).mask(before.days, before.sources)
    assert before.search("marathon runners", 3, mask)  # the old snapshot still searches with its own arrays
    assert after.search("museum whale skeleton", 3, Filters(as_of=dt.date(2025, 6, 30)).mask(after.days, after.sources))
