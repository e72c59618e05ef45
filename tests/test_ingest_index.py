"""Chunking, and writing to the real embedded Chroma: idempotent, replaces, deletes, counts,
and bad inputs reported without harming what is already indexed."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

import ingest
from ingest import Article, LoadFailure
from ingest.chunking import chunk_article, split_text
from qa.dates import to_days
from qa.index import Index
from qa.settings import get_settings, reset_settings
from tests.chroma_server import free_port
from tests.test_loaders import PDF_LINES, make_pdf

# Made-up paragraphs of different lengths (so chunk boundaries fall in different places).
PARAS = [
    "The regional water board approved a plan on Tuesday to replace the oldest pipes under the market "
    "district, where three bursts flooded cellars last winter.",
    "Work will start in the spring and last about eighteen months. Streets will close one block at a time.",
    "Shop owners asked for night work so that deliveries can continue; the board said it would consider it.",
    "The plan costs about forty million, paid partly by a national grant and partly by a small rise in "
    "water bills over five years.",
    "Engineers said the new pipes should last a century. The old ones were laid before the first world war.",
    "A public meeting about the timetable is set for next month at the town hall.",
]


def _article(**kw) -> Article:
    base = dict(
        id="https://news.example.org/water-pipes", title="Water board approves pipe renewal",
        text="\n\n".join(PARAS), url="https://news.example.org/water-pipes", source="Example Org News",
        published=dt.date(2024, 2, 6), authors=["Pia Lund", "Omar Said"], origin="test",
    )
    base.update(kw)
    return Article(**base)


def _overlap(a: str, b: str) -> int:
    """Length of the longest suffix of a that is a prefix of b."""
    for k in range(min(len(a), len(b)), 0, -1):
        if a.endswith(b[:k]):
            return k
    return 0


# --- chunking (no store) -----------------------------------------------------------


# Short sentences (under 50 characters), so several fit into a small overlap.
MARKET = " ".join(
    f"Stall {i} sold {n} jars of {kind} honey by noon." for i, (n, kind) in enumerate(
        [(12, "clover"), (7, "heather"), (30, "lime"), (4, "chestnut"), (18, "acacia"), (9, "forest")] * 3, 1)
)

# Quotes, brackets, a heading line and paragraphs: chunks must keep all of it as written.
QUOTED = (
    "Bridge works finish early\n"
    'The mayor said: "We will open the bridge on Friday." Crews worked through the night. '
    "(The bridge was closed in March.) Traffic should ease by the weekend.\n\n"
    + "\n\n".join(PARAS)
    + '\n\nA resident said the noise was "worth it". Another asked: "Why did it take so long?" '
    "The council did not answer."
)


@pytest.mark.parametrize("size,overlap", [(200, 50), (300, 60)])
def test_chunks_fit_the_size_and_overlap(size, overlap):
    chunks = chunk_article(_article(text=MARKET), size, overlap)
    assert len(chunks) >= 3
    for c in chunks:
        assert 0 < len(c.text) <= size, len(c.text)
        assert c.text.startswith("Stall "), c.text[:40]  # chunks start at a sentence
    for a, b in zip(chunks, chunks[1:]):
        k = _overlap(a.text, b.text)
        assert 0 < k <= overlap, (k, a.text[-80:], b.text[:80])


def test_overlap_with_sentences_longer_than_the_overlap():
    # every sentence of PARAS is longer than 60 characters: the last one is carried whole
    chunks = chunk_article(_article(text="\n\n".join(PARAS * 2)), 400, 60)
    assert len(chunks) >= 3
    assert all(len(c.text) <= 400 for c in chunks)
    for a, b in zip(chunks, chunks[1:]):
        k = _overlap(a.text, b.text)
        assert k > 0, (a.text[-80:], b.text[:80])
        assert k <= 400 // 2


def test_no_overlap_when_set_to_zero():
    chunks = split_text(MARKET, 200, 0)
    assert all(_overlap(a, b) == 0 for a, b in zip(chunks, chunks[1:]))
    assert " ".join(chunks) == MARKET


@pytest.mark.parametrize("size,overlap", [(250, 60), (1000, 150)])
def test_chunks_are_slices_that_cover_the_whole_text(size, overlap):
    text = QUOTED
    pieces = split_text(text, size, overlap)
    assert all(len(p) <= size for p in pieces)
    covered = [False] * len(text)
    cursor = 0
    for p in pieces:
        start = text.find(p, cursor)
        assert start >= 0, f"chunk is not a verbatim slice of the text: {p[:80]!r}"
        for i in range(start, start + len(p)):
            covered[i] = True
        cursor = start + 1
    missing = "".join(ch for ch, ok in zip(text, covered) if not ok and not ch.isspace())
    assert missing == "", f"text lost between chunks: {missing[:80]!r}"


def test_long_sentence_after_short_ones_stays_within_size():
    # the overlap carried into a chunk must leave room for the sentence that follows it
    text = ("Short one here. Another short. Third small bit. This long sentence "
            + "keeps going and going " * 12 + "until the end.")
    for size, overlap in ((300, 60), (320, 100)):
        pieces = split_text(text, size, overlap)
        assert all(len(p) <= size for p in pieces), [len(p) for p in pieces]
        assert pieces[-1].endswith("until the end.")


def test_a_sentence_longer_than_a_chunk_is_cut_on_words():
    long = "The committee listed " + ", ".join(f"item number {i}" for i in range(60)) + "."
    pieces = split_text(long, 200, 40)
    assert len(pieces) >= 3 and all(len(p) <= 200 for p in pieces)
    assert all(not p.startswith(("tem", "umber")) for p in pieces)  # never inside a word
    assert "item number 59." in pieces[-1]


def test_seed_article_chunks_with_default_settings_overlap(seed_article):
    [art] = list(ingest.load(str(seed_article)))
    s = get_settings()
    chunks = chunk_article(art, s.chunk_size, s.chunk_overlap)
    assert len(chunks) >= 3
    assert all(len(c.text) <= s.chunk_size for c in chunks)
    assert all(_overlap(a.text, b.text) > 0 for a, b in zip(chunks, chunks[1:]))


def test_chunk_metadata_and_embedded_header():
    art = _article()
    chunks = chunk_article(art, 300, 60)
    for pos, c in enumerate(chunks):
        m = c.metadata
        assert c.article_id == m["article_id"] == art.id
        assert c.position == m["position"] == pos
        assert m["title"] == art.title
        assert m["url"] == art.url
        assert m["source"] == "Example Org News"
        assert m["published"] == "2024-02-06"
        assert m["published_days"] == to_days(dt.date(2024, 2, 6))
        assert m["authors"] == "Pia Lund, Omar Said"
        assert m["article_hash"] == art.content_hash
        # what is embedded starts with title and date; text_offset recovers the passage
        assert c.embed_text.startswith("Water board approves pipe renewal\n")
        assert c.embed_text.split("\n")[1] == "Example Org News · 2024-02-06"
        assert c.embed_text[m["text_offset"]:] == c.text
        # every value is a type Chroma accepts
        assert all(isinstance(v, (str, int, float, bool)) for v in m.values())


def test_undated_article_says_undated():
    art = _article(published=None, source="")
    [c, *_] = chunk_article(art, 300, 60)
    assert c.embed_text.split("\n")[:2] == ["Water board approves pipe renewal", "undated"]
    assert c.metadata["published"] == ""
    assert c.metadata["published_days"] == -1


def test_chunk_ids_are_stable_and_content_based():
    ids1 = [c.id for c in chunk_article(_article(), 300, 60)]
    ids2 = [c.id for c in chunk_article(_article(), 300, 60)]
    assert ids1 == ids2
    assert len(set(ids1)) == len(ids1)
    other = [c.id for c in chunk_article(_article(id="https://news.example.org/other"), 300, 60)]
    assert not set(ids1) & set(other)
    # a change in the last paragraph leaves the first chunk's id as it was
    changed = _article(text="\n\n".join(PARAS[:-1] + ["The public meeting was cancelled."]))
    ids3 = [c.id for c in chunk_article(changed, 300, 60)]
    assert ids3[0] == ids1[0] and ids3 != ids1


def test_empty_body_falls_back_to_title():
    [c] = chunk_article(_article(text=""), 300, 60)
    assert c.text == "Water board approves pipe renewal"


# --- writing to Chroma -----------------------------------------------------------


@pytest.fixture
def idx(monkeypatch) -> Index:
    """A fresh embedded store with small chunks, so short test stories still give several."""
    monkeypatch.setenv("QA_CHUNK_SIZE", "300")
    monkeypatch.setenv("QA_CHUNK_OVERLAP", "60")
    reset_settings()
    return Index(get_settings())


def by_article(index: Index, article_id: str) -> list[str]:
    return sorted(index.ids_where({"article_id": article_id}))


def _write_story(path: Path, title: str, paras: list[str]) -> Path:
    path.write_text(title + "\n\n" + "\n\n".join(paras) + "\n", encoding="utf-8")
    return path


def _jsonl(path: Path, recs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return path


RECS = [
    {"url": "https://news.example.net/bike-lanes", "title": "Council approves bike lanes",
     "text": "The council voted to paint bike lanes on three central streets. Work starts next month "
             "and should be done before the summer holidays.", "published": "2023-09-14",
     "source": "Example Net", "authors": ["Lee Park"]},
    {"url": "https://news.example.net/pool", "title": "Pool reopens",
     "text": "The public pool reopened after new heating was installed. Entry stays free for children.",
     "published": "2023-09-20", "source": "Valley Post", "authors": []},
]


def test_same_source_twice_is_stored_once(tmp_path, idx):
    story = _write_story(tmp_path / "pipes.txt", "Water board approves pipe renewal", PARAS)
    feed = _jsonl(tmp_path / "batch.jsonl", RECS)
    r1 = ingest.add([str(story), str(feed)], index=idx)
    assert r1.ok and len(r1.indexed) == 3 and not r1.unchanged
    n = idx.count()
    assert n == r1.chunks_added >= 4
    ids = sorted(s.id for s in idx.iter_all(include=()))
    rev = idx.revision()

    r2 = ingest.add([str(story), str(feed)], index=idx)
    assert r2.ok
    assert r2.indexed == [] and sorted(r2.unchanged) == sorted(r1.indexed)
    assert r2.chunks_added == 0 and r2.chunks_deleted == 0
    assert idx.count() == n
    assert sorted(s.id for s in idx.iter_all(include=())) == ids
    assert idx.revision() == rev, "an unchanged re-ingest must not bump the revision (BM25 rebuild)"


def test_changed_text_replaces_old_chunks(tmp_path, idx):
    story = _write_story(tmp_path / "pipes.txt", "Water board approves pipe renewal", PARAS)
    aid = str(story.resolve())
    ingest.add(str(story), index=idx)
    old = by_article(idx, aid)
    assert len(old) >= 3
    rev = idx.revision()

    new_paras = [PARAS[0], "The board later cut the plan to the two worst streets, to be finished by autumn."]
    _write_story(story, "Water board approves pipe renewal", new_paras)
    r = ingest.add(str(story), index=idx)
    assert r.indexed == [aid] and r.chunks_deleted > 0
    now = by_article(idx, aid)
    [art] = list(ingest.load(str(story), idx.settings))
    assert now == sorted(c.id for c in chunk_article(art, 300, 60)), "leftover or missing chunks"
    assert idx.count() == len(now)
    docs = " ".join(s.document for s in idx.get(now))
    assert "two worst streets" in docs
    assert "forty million" not in docs  # a paragraph that is gone left no chunk behind
    assert idx.revision() > rev


def test_title_change_alone_rewrites_the_chunks(tmp_path, idx):
    story = _write_story(tmp_path / "pipes.txt", "Water board approves pipe renewal", PARAS[:2])
    aid = str(story.resolve())
    ingest.add(str(story), index=idx)
    before = by_article(idx, aid)
    _write_story(story, "Water board delays pipe renewal", PARAS[:2])
    r = ingest.add(str(story), index=idx)
    assert r.indexed == [aid], "a new title is a change, not 'unchanged'"
    stored = idx.get(by_article(idx, aid))
    assert sorted(s.id for s in stored) == before  # same passages, same ids
    assert all(s.metadata["title"] == "Water board delays pipe renewal" for s in stored)
    assert all(s.document.startswith("Water board delays pipe renewal\n") for s in stored)
    assert ingest.add(str(story), index=idx).unchanged == [aid]


def test_same_article_twice_in_one_run_later_wins(tmp_path, idx):
    first = dict(RECS[1])
    second = dict(RECS[1], text="The public pool stays closed: the new heating failed its safety test.")
    f = _jsonl(tmp_path / "twice.jsonl", [first, second])
    r = ingest.add(str(f), index=idx)
    assert r.ok
    stored = idx.get(by_article(idx, RECS[1]["url"]))
    assert len(stored) == 1 and "failed its safety test" in stored[0].text


def _story_and_feed(tmp_path, idx):
    """A story file and the feed, indexed; the chunk ids of the feed's second article and of the story."""
    story = _write_story(tmp_path / "pipes.txt", "Water board approves pipe renewal", PARAS)
    feed = _jsonl(tmp_path / "batch.jsonl", RECS)
    ingest.add([str(story), str(feed)], index=idx)
    pool = by_article(idx, RECS[1]["url"])
    pipes = by_article(idx, str(story.resolve()))
    return story, pool, pipes


def test_delete_by_url_and_by_path_leaves_others(tmp_path, idx):
    story, pool, pipes = _story_and_feed(tmp_path, idx)
    total = idx.count()

    n = ingest.delete(RECS[0]["url"], index=idx)
    assert n >= 1
    assert by_article(idx, RECS[0]["url"]) == []
    assert by_article(idx, RECS[1]["url"]) == pool and by_article(idx, str(story.resolve())) == pipes
    assert idx.count() == total - n

    assert ingest.delete(str(story), index=idx) == len(pipes)  # the path as the user gave it
    assert by_article(idx, str(story.resolve())) == []
    assert by_article(idx, RECS[1]["url"]) == pool

    assert ingest.delete("https://news.example.net/never-indexed", index=idx) == 0
    assert idx.count() == len(pool)


def test_delete_many_removes_each_from_both_retrievers(tmp_path, idx):
    story, pool, pipes = _story_and_feed(tmp_path, idx)
    gone = ingest.delete_many([RECS[0]["url"], str(story), "https://news.example.net/never-indexed"], index=idx)
    assert gone[str(story)] == len(pipes) and gone[RECS[0]["url"]] >= 1
    assert gone["https://news.example.net/never-indexed"] == 0
    assert idx.count() == len(pool)
    # the keyword index was rebuilt: it holds only what is left
    assert set(idx.bm25().article_ids) == {RECS[1]["url"]}


def test_delete_by_relative_path(tmp_path, idx, monkeypatch):
    story = _write_story(tmp_path / "pipes.txt", "Water board approves pipe renewal", PARAS[:2])
    ingest.add(str(story), index=idx)
    monkeypatch.chdir(tmp_path)
    assert ingest.delete("pipes.txt", index=idx) >= 1
    assert idx.count() == 0


def test_stats_counts(tmp_path, idx):
    assert ingest.stats(index=idx)["articles"] == 0
    story = _write_story(tmp_path / "pipes.txt", "Water board approves pipe renewal", PARAS)
    feed = _jsonl(tmp_path / "batch.jsonl", RECS)
    ingest.add([str(story), str(feed)], index=idx)
    s = ingest.stats(index=idx)
    assert s["articles"] == 3
    assert s["chunks"] == idx.count() > 3
    assert s["sources"] == {"Example Net": 1, "Valley Post": 1, "(no source)": 1}
    assert (s["first_published"], s["last_published"]) == ("2023-09-14", "2023-09-20")
    ingest.delete(RECS[0]["url"], index=idx)
    s2 = ingest.stats(index=idx)
    assert s2["articles"] == 2 and s2["chunks"] < s["chunks"]


def test_seed_article_is_indexed_clean(seed_article):
    index = Index(get_settings())  # default chunk size
    r = ingest.add(str(seed_article), index=index)
    assert r.ok and r.indexed == [str(seed_article.resolve())]
    stored = list(index.iter_all())
    assert len(stored) == r.chunks_added >= 3
    assert all(s.metadata["title"] == "US-China Talks Advance on TikTok Amid Trade Tensions in Madrid" for s in stored)
    assert all(s.document.startswith("US-China Talks Advance on TikTok") for s in stored)
    assert all("\nundated\n" in s.document[: s.metadata["text_offset"]] for s in stored)
    body = " ".join(s.text for s in stored)
    assert "Related Stories" not in body and "No stories found." not in body


# --- bad input ------------------------------------------------------------------


def test_bad_inputs_are_reported_good_ones_indexed_existing_untouched(tmp_path, idx):
    kept = _write_story(tmp_path / "kept.txt", "Water board approves pipe renewal", PARAS)
    ingest.add(str(kept), index=idx)
    kept_ids = by_article(idx, str(kept.resolve()))
    assert kept_ids

    d = tmp_path / "inbox"
    d.mkdir()
    good = _write_story(d / "good.txt", "Choir wins prize",
                        ["The junior choir from Elm Street School took first place at the festival on Saturday."])
    broken = {
        d / "binary.txt": b"PK\x03\x04\x00\x00\x00binary\x00",
        d / "empty.txt": b"",
        d / "notapdf.pdf": b"plain words, not a document\n",
        d / "truncated.pdf": make_pdf(PDF_LINES)[:300],
        d / "menu.html": b'<html><head><title>Menu</title></head><body><nav><a href="/">Home</a></nav></body></html>',
    }
    from tests.test_loaders import UNDECODABLE
    from charset_normalizer import from_bytes

    if from_bytes(UNDECODABLE).best() is None:
        broken[d / "garbled.txt"] = UNDECODABLE
    for p, data in broken.items():
        p.write_bytes(data)
    jl = d / "mixed.jsonl"
    jl.write_text(
        "{not json at all\n"
        + json.dumps({"url": "https://news.example.net/notext", "title": "No text"}) + "\n"
        + json.dumps(RECS[1]) + "\n",
        encoding="utf-8",
    )
    url = f"http://127.0.0.1:{free_port()}/gone"

    r = ingest.add([str(kept), str(d), url], index=idx)

    reasons = {f.where: f.reason for f in r.failed}
    expected = {str(p) for p in broken} | {f"{jl}:1", f"{jl}:2", url}
    assert set(reasons) == expected, reasons
    assert all(reason.strip() for reason in reasons.values())
    assert "binary" in reasons[str(d / "binary.txt")]
    assert "empty" in reasons[str(d / "empty.txt")]
    assert "not a PDF" in reasons[str(d / "notapdf.pdf")]
    assert "PDF" in reasons[str(d / "truncated.pdf")]
    assert "no article text" in reasons[str(d / "menu.html")]
    assert "JSON" in reasons[f"{jl}:1"] and "text" in reasons[f"{jl}:2"]
    assert "unreachable" in reasons[url]
    assert sorted(r.indexed) == sorted([str(good.resolve()), RECS[1]["url"]])
    assert r.unchanged == [str(kept.resolve())]
    assert by_article(idx, str(kept.resolve())) == kept_ids
    assert ingest.stats(index=idx)["articles"] == 3


def test_article_over_the_limit_is_rejected_before_embedding(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_MAX_ARTICLE_CHARS", "400")
    reset_settings()
    index = Index(get_settings())
    big = _write_story(tmp_path / "big.txt", "Water board approves pipe renewal", PARAS)
    r = ingest.add(str(big), index=index)
    [fail] = r.failed
    assert fail.where == str(big)
    assert "400" in fail.reason and "QA_MAX_ARTICLE_CHARS" in fail.reason
    assert r.indexed == [] and r.chunks_added == 0
    assert index._embeddings is None, "the embedding model was loaded for a rejected article"
    assert index.count() == 0


def test_vectors_do_not_depend_on_the_batch_size():
    """A store embedded in batches of 32 is searched with queries and sentences embedded in batches
    of 8 (the default since): padding must change nothing."""
    import numpy as np

    from qa.embeddings import OnnxSentenceEmbeddings

    texts = ["Talks resume in Madrid.", "A much longer sentence about tariffs, export controls and the TikTok deadline "
             "that the two delegations discussed for a second day.", "He Lifeng leads China's side.", "Short.", "x" * 900]
    one = OnnxSentenceEmbeddings(batch_size=len(texts)).embed(texts)
    for size in (1, 2, 8):
        np.testing.assert_allclose(OnnxSentenceEmbeddings(batch_size=size).embed(texts), one, atol=1e-5)
