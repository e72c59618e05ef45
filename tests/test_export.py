"""qa.export: answers leave the app with their sources (Markdown footnotes, JSON), and the CLI's formats."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import lxml.html
from markdown_it import MarkdownIt

from qa import export
from qa.types import Answer, Citation
from tests.app_process import ROOT, app_env, prefill
from tests.conftest import SEED_ARTICLE

URLS = {
    1: "https://news.example.com/world/talks-(madrid)?id=1&lang=en",
    2: "https://other.example.org/2025/09/15/tiktok_deal",
    3: "http://plain.example.net/a",
}


def cite(n: int, **kw) -> Citation:
    base = dict(index=n, title=f"Title {n}", url=URLS[n], source=f"Outlet {n}", published=f"2025-09-1{n}",
                chunk_id=f"c{n}", quote=f"Quote {n} says what it says.", passage="p")
    base.update(kw)
    return Citation(**base)


def three_cited() -> Answer:
    return Answer(
        question="Who leads the talks?",
        text="He Lifeng leads the Chinese side [1]. Bessent leads the US side [2, 3]. A deadline looms [3].",
        citations=[cite(1, title="Talks in [Madrid] *resume*"), cite(2), cite(3, published="")],
        answerer="extractive", model="m",
    )


def footnotes(md: str) -> dict[str, str]:
    return dict(re.findall(r"^\[\^([\w-]+)\]: (.*)$", md, re.M))


def test_markdown_answer_with_three_citations_round_trips_its_links():
    a = three_cited()
    md = export.answer_markdown(a)
    notes = footnotes(md)
    assert sorted(notes) == ["1", "2", "3"]
    # every marker became a reference to an existing footnote, in the text's order
    body = md.split("\n\n")[1]
    assert re.findall(r"\[\^(\d+)\]", body) == ["1", "2", "3", "3"]
    assert "[1]" not in body and "[2, 3]" not in body
    for n, url in URLS.items():
        note = notes[str(n)]
        assert re.search(r"<(https?://[^>]+)>", note).group(1) == url  # the link, character for character
        assert f"Quote {n} says what it says." in note and f"Outlet {n}" in note
    assert "2025-09-11" in notes["1"] and "undated" in notes["3"]
    # a Markdown renderer turns them into real links, to exactly these URLs, and nothing else
    html = MarkdownIt("commonmark").render(md)
    hrefs = [a.get("href") for a in lxml.html.fragment_fromstring(html, create_parent="div").iter("a")]
    assert sorted(hrefs) == sorted(URLS.values())
    # the title's Markdown syntax is shown literally, not as a link or emphasis
    assert "Talks in \\[Madrid\\] \\*resume\\*" in notes["1"]
    assert "<em>resume</em>" not in html and "Talks in [Madrid] *resume*" in html


def test_json_export_keeps_every_citation_field():
    a = three_cited()
    data = json.loads(export.answer_json(a))
    assert data["text"] == a.text and data["question"] == a.question
    assert [c["url"] for c in data["citations"]] == [URLS[1], URLS[2], URLS[3]]
    assert set(data["citations"][0]) == {"index", "title", "url", "source", "date", "quote"}
    assert data["citations"][2]["date"] == "undated"
    chat = json.loads(export.chat_json([a, a]))
    assert len(chat["answers"]) == 2


def test_whole_chat_keeps_footnotes_of_each_answer_apart():
    a, b = three_cited(), three_cited().model_copy(update={"question": "And then?", "text": "Only this [2]."})
    md = export.chat_markdown([a, b])
    notes = footnotes(md)
    assert {"1-1", "1-2", "1-3", "2-2"} <= set(notes)
    second = md.split("## And then?")[1]
    assert "[^2-2]" in second and "[^1-" not in second
    assert md.count("## ") == 2


def test_unsafe_urls_and_unknown_markers_are_not_linked():
    a = Answer(question="q", text="Claim [1]. Other [9].", answerer="extractive", model="m",
               citations=[cite(1, url="javascript:alert(1)")])
    md = export.answer_markdown(a)
    assert "javascript" not in md
    assert "\\[9\\]" in md  # a marker without a citation stays text, not a dangling footnote
    evil = Answer(question="q", text="Claim [1].", answerer="extractive", model="m", citations=[cite(
        1, title="[click](javascript:alert(1)) ![img](http://x.test/i.png) <b>x</b>",
        quote="See <https://evil.test> and *this*")])
    html = MarkdownIt("commonmark").render(export.answer_markdown(evil))
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    assert [a.get("href") for a in root.iter("a")] == [URLS[1]]  # only the citation's own link
    assert not list(root.iter("img", "b")) and all("this" not in e.text_content() for e in root.iter("em"))
    assert "[click](javascript:alert(1))" in root.text_content()
    refused = Answer(question="q", text="The articles don't say.", refused=True, answerer="extractive", model="m")
    assert "don't cover this" in export.answer_markdown(refused)


def test_cli_formats(tmp_path):
    env = app_env(tmp_path / "data")
    prefill(env, SEED_ARTICLE)
    q = "Who leads the Chinese delegation?"

    def run(*args):
        done = subprocess.run([sys.executable, "-m", "qa", *args, q], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    md = run("--format", "markdown")
    assert "He Lifeng" in md and re.search(r"\[\^1\]: .*US-China", md)
    data = json.loads(run("--json"))  # the old flag still works
    assert data["answerer"] == "extractive" and data["citations"]
    assert json.loads(run("--format", "json"))["text"] == data["text"]
    # --llm overrides QA_LLM for this call: openai has no key here and would fail
    env["QA_LLM"] = "openai"
    text = run("--llm", "extractive")
    assert "Sources:" in text and "[1]" in text and "He Lifeng" in text
    failed = subprocess.run([sys.executable, "-m", "qa", q], env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert failed.returncode == 1 and "OPENAI_API_KEY" in failed.stderr
    done = subprocess.run([sys.executable, "-m", "qa", "--llm", "nonsense", q], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "nonsense" in done.stderr
