"""web.render: the chat's HTML escapes article/model text and links only http(s) urls."""

from __future__ import annotations

import lxml.html
import pytest
from markdown_it import MarkdownIt

from web import render
from qa.types import Answer, Citation, Evidence, Passage

EVIL_TITLE = '<script>alert("t")</script> [click me](javascript:alert(1)) **bold**'
EVIL_PASSAGE = 'Intro <img src=x onerror=alert(2)> text. The vice premier leads the talks. [x](http://evil.test) $$x$$'
EVIL_QUOTE = "The vice premier leads the talks."


def cite(n: int, **kw) -> Citation:
    base = dict(
        index=n, title=f"Title {n}", url=f"https://news.example.com/{n}", source=f"Site {n}",
        published="2025-09-15", chunk_id=f"c{n}", quote=f"Quote number {n} is here.",
        passage=f"Before {n}. Quote number {n} is here. After {n}.",
    )
    base.update(kw)
    return Citation(**base)


def answer(text: str, citations: list[Citation], **kw) -> Answer:
    kw = {"model": "m", **kw}
    return Answer(question="q?", text=text, citations=citations, answerer="extractive", timings={"total": 1.234}, **kw)


def tree(html: str):
    return lxml.html.fragment_fromstring(html, create_parent="div")


def hrefs(html: str) -> list[str]:
    return [a.get("href") for a in tree(html).iter("a")]


def test_article_and_model_text_is_escaped_and_not_linked():
    c = cite(1, title=EVIL_TITLE, url="javascript:alert(1)", source="<b>Evil</b> Site", passage=EVIL_PASSAGE,
             quote=EVIL_QUOTE)
    a = answer(f'<i>model</i> says [see](javascript:alert(3)) {EVIL_QUOTE} [1]', [c], model='<img src=y onerror=z>')
    out = render.render_answer(a)
    root = tree(out)
    # no element came from the article or the model: only the tags render.py writes
    assert not list(root.iter("script", "img", "b", "i", "strong", "em"))
    assert hrefs(out) == []  # the javascript: url is never linked, nor the markdown links in the text
    text = root.text_content()
    assert EVIL_TITLE in text  # shown literally, as text
    assert "[see](javascript:alert(3))" in text and "<img src=y onerror=z>" in text
    # a Markdown renderer (the chat renders Markdown) sees one raw HTML block and adds nothing
    assert "\n" not in out
    md = MarkdownIt("gfm-like", {"html": True, "linkify": False}).render(out)
    assert all(h is None or h.startswith("https://") for h in hrefs(md)) and "javascript" not in str(hrefs(md))
    assert not list(tree(md).iter("script", "img", "strong", "em"))


def test_only_http_urls_are_links():
    c = cite(1, url="https://news.example.com/a?b=1&c=2")
    out = render.render_answer(answer("Quote number 1 is here [1].", [c]))
    assert set(hrefs(out)) == {"https://news.example.com/a?b=1&c=2"}
    for a in tree(out).iter("a"):
        assert a.get("target") == "_blank" and "noopener" in a.get("rel")
    for bad in ["javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,<b>x</b>", "//evil.test/x",
                "ftp://x.test/f", "http://x.test/a b", 'https://x.test/"onmouseover="x', "vbscript:x", "", None,
                "https:///nohost", "file:///etc/passwd"]:
        assert render.safe_url(bad) is None, bad
        out = render.render_answer(answer("Quote number 1 is here [1].", [cite(1, url=bad or "")]))
        assert hrefs(out) == [], bad
    assert render.safe_url("http://x.test") == "http://x.test"


def test_markers_map_to_their_citations_with_quote_highlighted():
    c1, c2 = cite(1), cite(2, title="Second <title>")
    a = answer("First claim [1]. Second claim [2]. Both again [1][2].", [c1, c2])
    root = tree(render.render_answer(a))
    details = list(root.find_class("qa-cite"))
    assert [d.find("summary").text_content() for d in details] == ["1", "2", "1", "2"]
    for d in details:
        n = int(d.find("summary").text_content())
        pop = d.find_class("qa-pop")[0]
        assert f"Title {n}" in pop.text_content() if n == 1 else "Second <title>" in pop.text_content()
        marks = pop.findall(".//mark")
        assert [m.text_content() for m in marks] == [f"Quote number {n} is here."]
        assert f"Before {n}." in pop.text_content() and f"After {n}." in pop.text_content()
        assert "Site %d" % n in pop.text_content() and "2025-09-15" in pop.text_content()
        assert [a.get("href") for a in pop.iter("a")] == [f"https://news.example.com/{n}"]
        assert f"Quote number {n} is here." in d.find("summary").get("title")  # the hover tooltip
    # punctuation moves before the marker, so an opened passage follows the sentence
    assert root.find_class("qa-text")[0].text_content().startswith("First claim.1")
    sources = root.find_class("qa-source")
    assert [s.find_class("qa-source-n")[0].text_content() for s in sources] == ["[1]", "[2]"]
    assert "1.2 s" in root.find_class("qa-meta")[0].text_content()


def test_marker_without_citation_stays_plain_text():
    out = render.render_answer(answer("Claim [1]. Other [7].", [cite(1)]))
    root = tree(out)
    assert len(root.find_class("qa-cite")) == 1
    assert "Other [7]." in root.text_content()


def test_flagged_sentences_are_marked():
    bad = "He Lifeng leads the American delegation."
    a = answer(f"He Lifeng leads the Chinese delegation [1]. {bad}", [cite(1)], flagged=[bad])
    root = tree(render.render_answer(a))
    flagged = root.find_class("qa-flagged")
    assert [f.text_content() for f in flagged] == [bad]
    assert "Chinese" not in flagged[0].text_content()
    assert "could not be matched" in root.find_class("qa-flag-note")[0].text_content()
    assert not tree(render.render_answer(answer("Fine [1].", [cite(1)]))).find_class("qa-flagged")


def test_refusal_reads_as_not_covered_not_error():
    p = Passage(chunk_id="c", article_id="a", title="Talks <in> Madrid", text="x")
    out = render.render_answer(answer("The articles don't say.", [], refused=True, passages=[p]))
    root = tree(out)
    assert root.find_class("qa-refused") and not root.find_class("qa-error")
    assert "The articles don't cover this" in root.text_content()
    assert "Talks <in> Madrid" in root.text_content()


def test_highlight_tolerates_whitespace_and_missing_quote():
    out = render.highlight("One  two\nthree. Four five.", "two three.")
    assert tree(out).findall(".//mark")[0].text_content() == "two three."
    out = render.highlight("Alpha beta.", "Gamma <delta>.")
    root = tree(out)
    assert root.findall(".//mark")[0].text_content() == "Gamma <delta>." and "Alpha beta." in root.text_content()


def test_evidence_stats_ingest_and_errors_escape():
    ps = [Passage(chunk_id=str(i), article_id="a", title="<b>Same</b>", text="t") for i in range(3)]
    ev = Evidence(passages=ps, best_sentences=[], standalone_question="Who <leads>?", answerer="x", model="y")
    out = render.render_evidence(ev, "And <who>?")
    assert "Found 3 passages in" in tree(out).text_content() and not list(tree(out).iter("b"))
    assert "Who <leads>?" in tree(out).text_content()
    stats = {"articles": 2, "chunks": 5, "sources": {"<i>Site</i>": 2}, "first_published": "2025-01-02",
             "last_published": "2025-03-04"}
    out = render.render_stats(stats, "local", "<model>")
    assert "<i>Site</i>" in tree(out).text_content() and not list(tree(out).iter("i"))
    assert "2025-01-02 → 2025-03-04" in tree(out).text_content()
    out = render.render_ingest([("failed", "<x>.txt", "bad <thing>"), ("indexed", "a.md: T", "")])
    root = tree(out)
    assert "1 indexed · 1 failed" in root.text_content() and "bad <thing>" in root.text_content()
    assert root.find_class("qa-ingest-failed") and root.find_class("qa-ingest-indexed")
    err = tree(render.render_error("Cannot reach <host>", "error"))
    assert "Cannot reach <host>" in err.text_content() and err.find_class("qa-error")


@pytest.mark.parametrize("text", ["[1](javascript:x)", "<a href='https://x.test'>x</a>", "https://auto.link.test"])
def test_streaming_text_is_escaped(text):
    out = render.render_streaming("", text)
    assert hrefs(out) == [] and text in tree(out).text_content()
    md = MarkdownIt("gfm-like", {"html": True, "linkify": False}).render(out)
    assert hrefs(md) == []


def test_evidence_sentences_show_with_their_sources_before_the_answer():
    from qa.types import EvidenceSentence

    ps = [Passage(chunk_id="a1", article_id="a", title="Talks <b>resume</b>", url="https://news.example.com/t",
                  source="Wire", published="2025-09-15", text="He Lifeng leads the delegation. Other text."),
          Passage(chunk_id="b1", article_id="b", title="Second", url="javascript:alert(1)", text="Bessent <i>too</i>.")]
    sents = [EvidenceSentence(n=1, passage=1, text="He Lifeng leads the delegation.", context="In Madrid:"),
             EvidenceSentence(n=2, passage=2, text="Bessent <i>too</i>.")]
    ev = Evidence(passages=ps, best_sentences=[], standalone_question="q", answerer="x", model="y", sentences=sents)
    root = tree(render.render_evidence(ev, "q"))
    items = root.find_class("qa-ev")
    assert [i.find_class("qa-ev-n")[0].text_content() for i in items] == ["1", "2"]
    assert "He Lifeng leads the delegation." in items[0].text_content()
    assert "In Madrid:" in items[0].find_class("qa-ev-context")[0].text_content()
    assert "Talks <b>resume</b>" in items[0].text_content() and "Wire" in items[0].text_content()
    assert hrefs(render.render_evidence(ev, "q")) == ["https://news.example.com/t"]  # javascript: never linked
    assert "Bessent <i>too</i>." in items[1].text_content() and not list(root.iter("b", "i"))
    # before the core gives numbered sentences, best_sentences are shown, attributed by passage text
    old = Evidence(passages=ps, best_sentences=["He Lifeng leads the delegation."], standalone_question="q",
                   answerer="x", model="y")
    item = tree(render.render_evidence(old, "q")).find_class("qa-ev")[0]
    assert "Talks <b>resume</b>" in item.text_content()
    # a character span of the answer is highlighted
    assert render._marked("He Lifeng leads.", (0, 9)) == '<mark class="qa-span">He Lifeng</mark> leads.'


def test_a_second_reading_shows_the_sentences_it_reads_escaped():
    from qa.types import EvidenceSentence

    ps = [Passage(chunk_id="a1", article_id="a", title="Ferry <b>back</b>", url="https://news.example.com/f",
                  text="At the helm stands <i>Ingrid</i> Solberg.")]
    more = Evidence(passages=ps, best_sentences=[], standalone_question="q", answerer="x", model="y",
                    sentences=[EvidenceSentence(n=3, passage=1, text="At the helm stands <i>Ingrid</i> Solberg.")])
    html = render.render_rereading('<div class="qa-evidence">first</div>', more)
    root = tree(html)
    assert "first" in root.find_class("qa-evidence")[0].text_content()  # the first sentences stay on screen
    assert "reading 1 more" in root.find_class("qa-reread")[0].text_content()
    item = root.find_class("qa-ev")[0]
    assert item.find_class("qa-ev-n")[0].text_content() == "3"  # numbered as the Answer numbers it
    assert "<i>Ingrid</i>" in item.text_content() and "Ferry <b>back</b>" in item.text_content()
    assert not list(root.iter("b", "i")) and hrefs(html) == ["https://news.example.com/f"]
