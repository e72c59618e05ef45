"""The benchmark harness, end to end on a corpus written here, plus its scoring rules.

The articles below are invented for the test (names, places and dates are made
up), so every expected number is known in advance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa.eval import metrics as M
from qa.eval.data import Question, select_articles

ROOT = Path(__file__).resolve().parents[1]

ARTICLES = [
    {
        "url": "https://news.example.test/2023/03/01/seagrass-bridge",
        "title": "Port Elwin opens the Seagrass Bridge",
        "published": "2023-03-01", "source": "example.test", "authors": ["R. Ferns"],
        "text": (
            "Port Elwin opened the Seagrass Bridge on Tuesday, a 900-metre crossing over the old harbor.\n\n"
            "Mayor Dana Okafor cut the ribbon in front of a crowd of commuters and fishing crews. "
            "The bridge took four years to build and replaces a ferry that ran every twenty minutes.\n\n"
            "Cyclists get a separate lane on the north side, and the toll will be waived until June."
        ),
    },
    {
        "url": "https://news.example.test/2023/03/05/northern-chess-open",
        "title": "Lindqvist takes the Northern Chess Open",
        "published": "2023-03-05", "source": "example.test", "authors": [],
        "text": (
            "Mira Lindqvist won the Northern Chess Open in Hallstad on Sunday after a tense final round.\n\n"
            "The 19-year-old beat the defending champion with the black pieces in a rook endgame that lasted "
            "six hours. She collects a prize of 40,000 kronor and a place in the spring invitational."
        ),
    },
    {
        "url": "https://news.example.test/2023/02/20/tessaly-eruption",
        "title": "Mount Tessaly erupts; Kerrow Island evacuated",
        "published": "2023-02-20", "source": "example.test", "authors": [],
        "text": (
            "The volcano began erupting early on Monday, sending an ash column eight kilometres into the sky.\n\n"
            "Kerrow Island was evacuated after Mount Tessaly erupted, with 3,200 residents moved to the "
            "mainland by boat. Flights across the region were grounded while the ash cloud drifted east."
        ),
    },
    {
        "url": "https://news.example.test/2023/03/10/valdon-bakers-strike",
        "title": "Valdon bakers strike over wages",
        "published": "2023-03-10", "source": "example.test", "authors": [],
        "text": (
            "Bakers in Valdon walked out on Friday in a dispute over night-shift pay.\n\n"
            "The union said 42 bakeries closed their doors for the day, and queues formed outside the few "
            "supermarkets that still had bread. Talks with the employers' association resume next week."
        ),
    },
    {
        # published after the question below is asked: as_of must hide it
        "url": "https://news.example.test/2023/04/20/orchard-festival-moves",
        "title": "Orchard Festival moves to Linden Park",
        "published": "2023-04-20", "source": "example.test", "authors": [],
        "text": (
            "The Orchard Festival will be held in Linden Park this year, organisers announced, because the "
            "usual riverside meadow is flooded.\n\nThe festival runs for three days and features cider "
            "tastings, a pie contest and a parade of decorated tractors."
        ),
    },
    {
        "url": "https://news.example.test/2023/01/15/library-hours",
        "title": "City library extends weekend hours",
        "published": "2023-01-15", "source": "example.test", "authors": [],
        "text": (
            "The central library will stay open until 8 p.m. on Saturdays and Sundays starting next month, "
            "the council said.\n\nThe change follows a survey in which students asked for more quiet study space."
        ),
    },
]

QUESTIONS = [
    {"id": "q-bridge", "date": "2023-03-03", "question": "Which mayor cut the ribbon at the opening of the Seagrass Bridge?",
     "choices": ["Dana Okafor", "Mira Lindqvist", "Dana Scully", "Tom Okafor"], "answer": ["Dana Okafor"],
     "gold_urls": [ARTICLES[0]["url"]]},
    {"id": "q-chess", "date": "2023-03-07", "question": "Who won the Northern Chess Open in Hallstad?",
     "choices": [], "answer": ["Mira Lindqvist"], "gold_urls": [ARTICLES[1]["url"]]},
    {"id": "q-island", "date": "2023-02-22", "question": "Which island was evacuated after Mount Tessaly erupted?",
     "choices": ["Kerrow Island", "Hallstad", "Valdon", "Port Elwin"], "answer": ["Kerrow Island"],
     "gold_urls": [ARTICLES[2]["url"]]},
    {"id": "q-bakeries", "date": "2023-03-11", "question": "How many bakeries closed during the Valdon bakers strike?",
     "choices": [], "answer": ["42"], "gold_urls": [ARTICLES[3]["url"]]},
    # asked before the only answering article was published
    {"id": "q-festival", "date": "2023-04-01", "question": "Where will the Orchard Festival be held this year?",
     "choices": [], "answer": ["Linden Park"], "gold_urls": [ARTICLES[4]["url"]]},
    # nothing in the corpus says
    {"id": "q-none", "date": "2023-03-20", "question": "How many goals did Harwick Rovers score in the county cup final?",
     "choices": [], "answer": [], "gold_urls": []},
]

WRITTEN_UNANSWERABLE = [
    {"id": "w-1", "date": "2023-03-20", "question": "What did the submarine cable repair in the Strait of Orvik cost?",
     "answer": []},
]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def eval_cache(tmp_path_factory) -> Path:
    """One embedding cache for this module's runs (never the user's ~/.cache one)."""
    return tmp_path_factory.mktemp("eval-cache") / "embeddings.sqlite"


def _run_eval(tmp_path: Path, cache: Path, *extra: str, name: str) -> dict:
    arts = _write_jsonl(tmp_path / "articles.jsonl", ARTICLES)
    qs = _write_jsonl(tmp_path / "questions.jsonl", QUESTIONS)
    out = tmp_path / f"{name}.json"
    env = dict(os.environ)
    env["QA_EVAL_CACHE"] = str(cache)
    env.pop("OPENAI_API_KEY", None)
    env.pop("OPENAI_BASE_URL", None)
    cmd = [sys.executable, "-m", "qa.eval", "--articles", str(arts), "--questions", str(qs),
           "--json", str(out), "--quiet", *extra]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(out.read_text())
    rows = [json.loads(line) for line in out.with_name(f"{name}.questions.jsonl").read_text().splitlines()]
    return {"summary": summary, "rows": {r["key"]: r for r in rows}, "stdout": proc.stdout}


REQUIRED_KEYS = {
    "n", "hit@1", "hit@5", "hit@10", "mrr@10", "accuracy", "token_f1", "refusal_rate", "citation_validity",
    "citation_markers", "supported_rate", "citation_gold_rate", "verbatim_n", "verbatim_accuracy",
    "ingest_chunks_per_s", "embed_chunks_per_s", "retrieval_p50_ms", "retrieval_p95_ms", "answer_p50_s",
    "answer_p95_s", "peak_rss_mb", "settings", "made_unanswerable_n", "written_unanswerable_n",
}


@pytest.mark.timeout(240)
def test_eval_end_to_end_extractive(tmp_path, eval_cache):
    store = str(tmp_path / "store")
    r = _run_eval(tmp_path, eval_cache, "--answerer", "extractive", "--unanswerable",
                  str(_write_jsonl(tmp_path / "unans.jsonl", WRITTEN_UNANSWERABLE)),
                  "--made-unanswerable", "--data-dir", store, name="ours")
    s, rows = r["summary"], r["rows"]
    assert REQUIRED_KEYS <= set(s), REQUIRED_KEYS - set(s)
    assert s["settings"]["answerer_ran"] == "extractive"
    assert s["settings"]["dates"] is True and s["settings"]["mode"] == "hybrid"
    assert s["n"] == 6 and s["n_answerable"] == 5
    # the four easy questions find their article first; the festival article is hidden by as_of
    for key in ("q-bridge", "q-chess", "q-island", "q-bakeries"):
        assert rows[key]["gold_rank"] == 1, rows[key]
    assert rows["q-festival"]["gold_rank"] is None
    assert ARTICLES[4]["url"] not in rows["q-festival"]["retrieved_urls"]
    assert s["hit@1"] == pytest.approx(4 / 5) and s["hit@10"] == pytest.approx(4 / 5)
    assert s["mrr@10"] == pytest.approx(4 / 5)
    # the extractive answerer quotes the answering sentence, with a valid citation of the gold article
    for key in ("q-bridge", "q-chess", "q-island", "q-bakeries"):
        assert rows[key]["correct"], rows[key]["text"]
        assert rows[key]["citation_urls"] == rows[key]["gold_urls"]
    assert not rows["q-festival"]["correct"]
    assert "Linden Park" not in rows["q-festival"]["text"]
    assert s["accuracy"] == pytest.approx(4 / 5)
    assert s["citation_gold_rate"] == pytest.approx(1.0)
    assert s["citation_validity"] == pytest.approx(1.0) and s["citation_markers"] >= 4
    # unanswerable: correct only when refused with no citation
    none = rows["q-none"]
    assert none["refused"] and none["n_citations"] == 0 and none["correct"]
    assert s["unanswerable_in_questions_refusal_rate"] == 1.0
    assert s["written_unanswerable_n"] == 1 and rows["w-1"]["kind"] == "written_unanswerable"
    # made-unanswerable: every answerable question's answer text is unique to its gold article
    assert s["made_unanswerable_n"] == 5
    assert s["made_unanswerable"]["gold_articles_removed"] == 5
    for key in ("q-bridge#made", "q-chess#made"):
        assert rows[key]["answers"] == [] and rows[key]["kind"] == "made_unanswerable"
    # no remaining article says any removed answer, in any words: none can be answered right
    assert all(r["right_from_remaining"] is False for k, r in rows.items() if k.endswith("#made"))
    assert s["made_unanswerable_right_from_remaining"] == 0
    assert s["ingest_chunks_per_s"] > 0 and s["embed_chunks_per_s"] > 0
    assert "hit@5" in r["stdout"]

    assert s["ingest_chunks_added"] == s["ingest_chunks"] == 6 and not s["ingest_skipped"]

    # the same run again resumes from the results file (nothing is asked twice) and reuses the
    # store, re-adding only the gold articles the made-unanswerable phase deleted
    again = _run_eval(tmp_path, eval_cache, "--answerer", "extractive", "--unanswerable", str(tmp_path / "unans.jsonl"),
                      "--made-unanswerable", "--data-dir", store, name="ours")
    lines = (tmp_path / "ours.questions.jsonl").read_text().splitlines()
    assert len(lines) == len(rows)
    assert again["summary"]["accuracy"] == s["accuracy"]
    assert again["summary"]["ingest_chunks_added"] == 5 and again["summary"]["ingest_chunks"] == 6


@pytest.mark.timeout(240)
def test_eval_retrieval_only_without_dates_finds_the_hidden_article(tmp_path, eval_cache):
    r = _run_eval(tmp_path, eval_cache, "--retrieval-only", "--no-dates", "--limit", "5", name="nodates")
    s, rows = r["summary"], r["rows"]
    assert s["n"] == 5 and s["accuracy"] is None and s["settings"]["dates"] is False
    assert rows["q-festival"]["gold_rank"] == 1
    assert s["hit@1"] == pytest.approx(1.0)
    assert "correct" not in rows["q-chess"]


# --- scoring rules ------------------------------------------------------------------

def test_normalize_squad_style():
    assert M.normalize("“Squid Game”") == "squid game"
    assert M.normalize("The Tony Awards") == "tony awards"
    assert M.normalize("An apple, a pear") == "apple pear"
    assert M.normalize("U.S. officials") == M.normalize("US officials")
    assert M.normalize("1,600 people") == "1600 people"
    assert M.normalize("60%") == "60"
    assert M.normalize("$19 million") == "19000000"  # scaled, so "$19,000,000" matches
    assert M.normalize("Biden’s plan") == "biden plan"
    assert M.normalize("New Jersey & Oregon") == "new jersey and oregon"
    assert M.normalize("Ｆｕｌｌｗｉｄｔｈ") == "fullwidth"  # NFKC
    assert M.normalize("military-style") == "military style"


def test_contains_answer_is_whole_token():
    assert M.contains_answer("It was Europe [1].", "Europe")
    assert not M.contains_answer("The Europeans agreed.", "Europe")
    assert M.contains_answer("About 1,600 people came.", "1,600")
    assert not M.contains_answer("About 16,000 people came.", "1,600")
    assert M.contains_answer("The show is “Squid Game”.", '"Squid Game"')
    assert not M.contains_answer("Game of squid", "Squid Game")


def test_choice_mapping():
    choices = ["“Game of Thrones”", "“Squid Game”", "“Breaking Bad”", "“Friends”"]
    assert M.choice_correct("Squid Game was renewed for a second season [1].", choices, "“Squid Game”")
    # only the first sentence counts
    assert not M.choice_correct("Netflix renewed a show. It is Squid Game.", choices, "“Squid Game”")
    # two choices fully named: not the gold alone
    assert not M.choice_correct("Both Squid Game and Friends were renewed.", choices, "“Squid Game”")
    # "X and Y" compares as a set
    nato = ["Sweden and Finland", "Norway and Denmark", "Finland", "Austria and Ireland"]
    assert M.choice_correct("Finland and Sweden applied to join NATO.", nato, "Sweden and Finland")
    assert M.choice_correct("Sweden, Finland applied.", nato, "Sweden and Finland")
    # the gold needs ≥ 0.8 of its own tokens: Finland alone covers half of "Sweden and Finland"
    assert not M.choice_correct("Finland applied to join NATO.", nato, "Sweden and Finland")
    # a more specific choice wins the tie on coverage
    assert M.choice_correct("Finland applied to join NATO.", nato, "Finland")
    assert not M.choice_correct("Sweden and Finland applied.", nato, "Finland")
    # partial mention is not enough
    pm = ["UK Prime Minister Boris Johnson", "French President Emmanuel Macron", "Olaf Scholz", "Mario Draghi"]
    assert not M.choice_correct("Boris Johnson resigned.", pm, "UK Prime Minister Boris Johnson")
    assert M.choice_correct("UK Prime Minister Boris Johnson resigned.", pm, "UK Prime Minister Boris Johnson")


def test_is_correct_and_refusals():
    assert M.is_correct("The articles don't say.", True, 0, [], [])
    assert not M.is_correct("The articles don't say.", True, 1, [], [])  # refused but cited something
    assert not M.is_correct("Europe.", False, 1, [], [])  # answered an unanswerable question
    assert not M.is_correct("Europe [1].", True, 0, ["Europe"], [])  # refused an answerable one
    assert M.is_correct("Europe [1].", False, 1, ["Europe"], ["Europe", "Asia", "Africa", "North America"])


def test_token_f1():
    assert M.token_f1("Mira Lindqvist", ["Mira Lindqvist"]) == 1.0
    assert M.token_f1("Lindqvist won", ["Mira Lindqvist"]) == pytest.approx(0.5)
    assert M.token_f1("nothing here", ["Mira Lindqvist"]) == 0.0


def test_select_articles_keeps_gold_plus_first_m():
    recs = [{"url": f"u{i}"} for i in range(10)]
    qs = [Question(id="a", question="?", answers=["x"], gold_urls=["u7"])]
    assert [r["url"] for r in select_articles(recs, qs, 2)] == ["u0", "u1", "u7"]
    assert len(select_articles(recs, qs, None)) == 10


def test_percentile():
    assert M.percentile([1, 2, 3, 4, 5], 50) == 3
    assert M.percentile([1, 2, 3, 4, 5], 100) == 5
    assert M.percentile([], 50) is None


@pytest.mark.timeout(240)
def test_eval_baseline_runs_the_plain_recipe(tmp_path, eval_cache):
    r = _run_eval(tmp_path, eval_cache, "--baseline", "--answerer", "extractive", "--limit", "4", name="baseline")
    s, rows = r["summary"], r["rows"]
    assert s["settings"]["system"] == "baseline" and s["settings"]["dates"] is False
    assert s["settings"]["chunk_size"] == 1000 and s["settings"]["chunk_overlap"] == 200 and s["settings"]["k"] == 4
    assert s["n"] == 4 and s["hit@1"] == pytest.approx(1.0)
    assert all(len(row["passage_urls"]) == 4 for row in rows.values())
    assert s["accuracy"] is not None and s["citation_markers"] == 0


def test_scaled_numbers_compare_equal():
    assert M.normalize("$12.6 million") == M.normalize("$12,600,000") == "12600000"
    assert M.is_correct("It sold for $12,600,000 [1].", False, 1, ["$12.6 million"], [])
    assert not M.is_correct("It sold for $12,500,000 [1].", False, 1, ["$12.6 million"], [])


def test_words_repeated_from_the_question_choose_nothing():
    q = "Which two countries are forging much closer economic ties since the war in Ukraine began?"
    choices = ["Russia and Ukraine", "Russia and China", "China and India", "US and UK"]
    answer = "China and Russia are forging much closer economic ties since the war in Ukraine began [1]."
    assert M.is_correct(answer, False, 1, ["Russia and China"], choices, q)
    assert not M.is_correct(answer, False, 1, ["Russia and China"], choices)  # without the question: a tie
    assert not M.is_correct("Russia and Ukraine are at war [1].", False, 1, ["Russia and China"], choices, q)
    ivy = "Which Ivy League university admitted sending wrong data?"
    unis = ["Columbia University", "Cornell University", "Brown University", "Yale University"]
    assert M.is_correct("Columbia [1]", False, 1, ["Columbia University"], unis, ivy)
    assert not M.is_correct("Cornell [1]", False, 1, ["Columbia University"], unis, ivy)


def test_fair_mapping_reads_rounded_figures_and_initials_and_stays_beside_the_strict_one():
    money = ["$30,000", "$100,000", "$300,000", "$1 million"]
    assert M.choice_correct_fair("$310,605 [1].", money, "$300,000")
    assert not M.choice_correct("$310,605 [1].", money, "$300,000")  # the strict rule is unchanged
    pct = ["14%", "33%", "68%", "98%"]
    assert not M.choice_correct_fair("62.5% [1].", pct, "68%")  # nearest, but 8% off: another figure
    assert not M.choice_correct_fair("About 2.4 million or 1.2 million [1].", ["500,000", "1.2 million", "2.5 million"], "2.5 million")
    places = ["Moon", "Mars", "International Space Station", "Tiangong Space Station"]
    assert M.choice_correct_fair("ISS [1].", places, "International Space Station")
    assert not M.choice_correct_fair("TSS [1].", places, "International Space Station")


def test_a_run_resumes_only_answers_given_by_the_same_answering_code(tmp_path):
    from qa.eval.runner import _code_hash

    for rel, text in [("qa/verdict.py", "RULE = 1\n"), ("qa/eval/metrics.py", "X = 1\n"), ("ingest/clean.py", "Y = 1\n")]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    before = _code_hash(tmp_path)
    (tmp_path / "qa/eval/metrics.py").write_text("X = 2\n")  # the harness: scores are re-applied by rescore
    assert _code_hash(tmp_path) == before
    (tmp_path / "qa/verdict.py").write_text("RULE = 2\n")  # what answers: old answers must not be reused
    changed = _code_hash(tmp_path)
    assert changed != before
    (tmp_path / "ingest/clean.py").write_text("Y = 2\n")
    assert _code_hash(tmp_path) != changed
