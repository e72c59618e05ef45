"""Loaders: every supported kind of source becomes Articles with the right metadata.

All inputs are written by the tests themselves (short made-up stories); URLs are
served by a real http.server on 127.0.0.1 or point at a closed local port.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import time
import zlib
from pathlib import Path

import pytest

from ingest import Article, LoadFailure, load
from ingest.fetch import FETCH_FAILED
from qa.settings import Settings, get_settings, reset_settings
from tests.chroma_server import free_port
from tests.test_fetch_security import page, running

# --- helpers -------------------------------------------------------------------


def make_pdf(lines: list[str], info: dict[str, str] | None = None, *, padding: int = 0, flate: bool = False) -> bytes:
    """A minimal valid one-page PDF (Helvetica text, correct xref) written by hand.

    ``padding`` spaces are appended to the content stream and ``flate`` compresses it:
    together, a small file whose one stream inflates to megabytes.
    """

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 11 Tf", "14 TL", "72 760 Td"]
    ops += [f"({esc(line)}) Tj T*" for line in lines]
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1") + b" " * padding
    filt = b""
    if flate:
        stream, filt = zlib.compress(stream, 9), b" /Filter /FlateDecode"
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d%s >>\nstream\n" % (len(stream), filt) + stream + b"\nendstream",
    ]
    info_ref = None
    if info:
        entries = " ".join(f"/{k} ({esc(v)})" for k, v in info.items())
        objs.append(f"<< {entries} >>".encode("latin-1"))
        info_ref = len(objs)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    trailer = b"<< /Size %d /Root 1 0 R" % (len(objs) + 1)
    if info_ref:
        trailer += b" /Info %d 0 R" % info_ref
    out += b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


PDF_LINES = [
    "Library extends evening opening hours",
    "The city library will stay open until nine in the evening on weekdays.",
    "Staff said the change follows a survey of students preparing for exams.",
]


def local_ok() -> Settings:
    """The test server listens on 127.0.0.1, which the fetcher refuses unless told otherwise."""
    return Settings(allow_private_urls=True)


def only(items: list) -> Article:
    assert len(items) == 1, items
    assert isinstance(items[0], Article), items[0]
    return items[0]


def failures(items: list) -> list[LoadFailure]:
    return [i for i in items if isinstance(i, LoadFailure)]


def articles(items: list) -> list[Article]:
    return [i for i in items if isinstance(i, Article)]


HTML_ARTICLE = """<!DOCTYPE html>
<html lang="en"><head>
<meta charset="utf-8">
<title>Harbour ferry returns | Coastline Gazette</title>
<meta property="og:title" content="Harbour ferry returns after winter repairs">
<meta property="og:site_name" content="Coastline Gazette">
<meta property="og:url" content="https://gazette.example.org/news/harbour-ferry-returns">
<link rel="canonical" href="https://gazette.example.org/news/harbour-ferry-returns">
<meta name="author" content="Maria Lindqvist">
<meta property="article:published_time" content="2024-03-18T08:30:00Z">
</head><body>
<nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></nav>
<article>
<h1>Harbour ferry returns after winter repairs</h1>
<p>The small passenger ferry that links the old harbour with the island village resumed service on Monday morning after four months in dry dock.</p>
<p>Engineers replaced both propeller shafts and repainted the hull, according to the town council, which owns the vessel and paid for the work from its maintenance budget.</p>
<p>Regular commuters welcomed the return, saying the detour by road had added almost an hour to each trip during the coldest weeks of the year.</p>
</article>
<footer><a href="/contact">Contact us</a></footer>
</body></html>
"""

SERVED_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Orchard harvest starts early</title>
<meta name="author" content="Jonas Berg">
<meta property="article:published_time" content="2023-08-29">
</head><body><article>
<h1>Orchard harvest starts early</h1>
<p>Apple growers in the northern valley began picking two weeks earlier than usual after an unusually warm summer ripened the fruit ahead of schedule.</p>
<p>The growers' cooperative said the crop looks smaller than last year's but the fruit is sweeter, and it expects prices at local markets to stay steady.</p>
</article></body></html>
"""


@pytest.fixture
def site():
    """A real HTTP server on 127.0.0.1 (tests.test_fetch_security); tests put pages into ``site.routes``."""
    with running() as server:
        yield server


# --- plain text and Markdown ----------------------------------------------------


def test_txt_first_nonempty_line_is_title(tmp_path):
    f = tmp_path / "bridge.txt"
    f.write_text(
        "\n\n  Stone bridge reopens to traffic\n\n"
        "Repairs on the old stone bridge over the river finished this week, the council said.\n\n"
        "Buses will use the bridge again from Monday.\n",
        encoding="utf-8",
    )
    art = only(list(load(str(f))))
    assert art.title == "Stone bridge reopens to traffic"
    assert art.text.startswith("Repairs on the old stone bridge")
    assert "Buses will use the bridge again from Monday." in art.text
    assert "Stone bridge reopens" not in art.text  # the title is not repeated in the body
    assert art.id == str(f.resolve())
    assert art.published is None and art.url == ""


def test_txt_in_windows_1252_is_decoded(tmp_path):
    f = tmp_path / "cafe.txt"
    f.write_bytes(
        "Café owner wins award\n\nThe owner of the corner café near the station received the "
        "town's small business award on Friday, beating eleven other shops.\n".encode("cp1252")
    )
    art = only(list(load(str(f))))
    assert art.title == "Café owner wins award"
    assert "corner café" in art.text


def test_md_heading_marks_are_stripped_from_title(tmp_path):
    f = tmp_path / "notes.md"
    f.write_text(
        "## Night trains return to the coast line\n\n"
        "The regional rail operator will run two night trains a week between the capital and the coast.\n",
        encoding="utf-8",
    )
    art = only(list(load(str(f))))
    assert art.title == "Night trains return to the coast line"
    assert "#" not in art.title
    assert art.text.startswith("The regional rail operator")


# --- HTML -----------------------------------------------------------------------


def test_html_reads_metadata_from_meta_tags(tmp_path):
    f = tmp_path / "ferry.html"
    f.write_text(HTML_ARTICLE, encoding="utf-8")
    art = only(list(load(str(f))))
    assert art.title == "Harbour ferry returns after winter repairs"
    assert art.published == dt.date(2024, 3, 18)
    assert art.authors == ["Maria Lindqvist"]
    assert art.source == "Coastline Gazette"
    assert art.url == "https://gazette.example.org/news/harbour-ferry-returns"
    assert art.id == art.url  # the canonical URL is the id, not the file path
    assert "resumed service on Monday morning" in art.text
    assert "almost an hour to each trip" in art.text
    for nav in ("Home", "Contact us"):
        assert nav not in art.text.split("\n")


def test_html_with_only_a_menu_is_a_failure(tmp_path):
    f = tmp_path / "menu.html"
    f.write_text(
        '<html><head><title>Menu</title></head><body><nav><a href="/">Home</a></nav></body></html>',
        encoding="utf-8",
    )
    items = list(load(str(f)))
    assert not articles(items), "a page with only a menu link must not become an article"
    [fail] = failures(items)
    assert fail.where == str(f)
    assert "no article text" in fail.reason


def test_html_with_empty_body_is_a_failure(tmp_path):
    f = tmp_path / "blank.html"
    f.write_text("<html><head><title>Nothing</title></head><body></body></html>", encoding="utf-8")
    [fail] = list(load(str(f)))
    assert isinstance(fail, LoadFailure) and "no article text" in fail.reason


# --- PDF ------------------------------------------------------------------------


def test_handmade_pdf_is_readable_by_pypdf():
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(make_pdf(PDF_LINES)))
    text = reader.pages[0].extract_text()
    for line in PDF_LINES:
        assert line in text


def test_pdf_text_and_info_metadata(tmp_path):
    f = tmp_path / "library.pdf"
    f.write_bytes(make_pdf(PDF_LINES, {"Title": "Library hours", "Author": "Ines Moreau",
                                       "CreationDate": "D:20240502120000Z"}))
    art = only(list(load(str(f))))
    assert art.title == "Library hours"
    assert art.authors == ["Ines Moreau"]
    assert art.published == dt.date(2024, 5, 2)
    assert "open until nine in the evening" in art.text
    assert "survey of students" in art.text
    assert art.id == str(f.resolve())


def test_pdf_without_info_takes_first_line_as_title(tmp_path):
    f = tmp_path / "library2.pdf"
    f.write_bytes(make_pdf(PDF_LINES))
    art = only(list(load(str(f))))
    assert art.title == PDF_LINES[0]
    assert art.text.startswith(PDF_LINES[1])


def test_not_a_pdf_and_truncated_pdf_fail_with_reasons(tmp_path):
    fake = tmp_path / "fake.pdf"
    fake.write_text("these are plain words pretending to be a document\n")
    good = make_pdf(PDF_LINES)
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(good[: len(good) // 2])
    [f1] = list(load(str(fake)))
    [f2] = list(load(str(cut)))
    assert isinstance(f1, LoadFailure) and f1.where == str(fake) and "not a PDF" in f1.reason
    assert isinstance(f2, LoadFailure) and f2.where == str(cut)
    assert "PDF" in f2.reason and ("truncated" in f2.reason or "damaged" in f2.reason)


# --- feeds ----------------------------------------------------------------------


def rss_feed(link_base: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
<title>Valley Courier</title><link>{link_base}/</link><description>Local news</description>
<item><title>Bridge closes for inspection</title><link>{link_base}/bridge</link>
<pubDate>Tue, 05 Mar 2024 09:00:00 GMT</pubDate><author>desk@example.org (Tom Reyes)</author>
<description>&lt;p&gt;The river bridge on Mill Road will close for two days while inspectors check its supports.&lt;/p&gt;</description></item>
<item><title>School choir wins regional prize</title><link>{link_base}/choir</link>
<pubDate>Wed, 06 Mar 2024 10:00:00 GMT</pubDate>
<description>The junior choir from Elm Street School took first place at the regional festival on Saturday.</description></item>
</channel></rss>
"""


def test_rss_feed_offline_uses_entry_summaries(tmp_path):
    base = f"http://127.0.0.1:{free_port()}"  # nothing listens there: links cannot be fetched
    f = tmp_path / "courier.rss"
    f.write_text(rss_feed(base), encoding="utf-8")
    t0 = time.monotonic()
    arts = list(load(str(f)))
    assert time.monotonic() - t0 < 10
    assert all(isinstance(a, Article) for a in arts), arts
    assert [a.title for a in arts] == ["Bridge closes for inspection", "School choir wins regional prize"]
    bridge, choir = arts
    assert bridge.text == "The river bridge on Mill Road will close for two days while inspectors check its supports."
    assert "<p>" not in bridge.text
    assert bridge.published == dt.date(2024, 3, 5) and choir.published == dt.date(2024, 3, 6)
    assert bridge.url == bridge.id == f"{base}/bridge"
    assert choir.id == f"{base}/choir"
    assert bridge.source == choir.source == "Valley Courier"
    assert bridge.authors == ["Tom Reyes"]
    assert bridge.origin.startswith(str(f))


def test_atom_feed_offline_one_article_per_entry(tmp_path):
    base = f"http://127.0.0.1:{free_port()}"
    f = tmp_path / "herald.atom"
    f.write_text(f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
<title>Hill Town Herald</title><id>urn:uuid:feed-1</id><updated>2024-04-02T00:00:00Z</updated>
<entry><title>New bus route to the hospital</title><link href="{base}/bus"/><id>urn:uuid:e1</id>
<updated>2024-04-03T12:00:00Z</updated><published>2024-04-01T08:00:00Z</published>
<author><name>Ana Costa</name></author>
<summary>A new bus route will connect the train station with the county hospital every twenty minutes.</summary></entry>
<entry><title>Farmers market moves indoors</title><link href="{base}/market"/><id>urn:uuid:e2</id>
<updated>2024-04-02T12:00:00Z</updated>
<content type="html">&lt;p&gt;The weekly farmers market will move into the old grain hall until the spring rains end.&lt;/p&gt;</content></entry>
</feed>
""", encoding="utf-8")
    arts = list(load(str(f)))
    assert len(arts) == 2 and all(isinstance(a, Article) for a in arts), arts
    bus, market = arts
    assert bus.title == "New bus route to the hospital"
    assert bus.published == dt.date(2024, 4, 1)  # published wins over updated
    assert market.published == dt.date(2024, 4, 2)  # no published: updated
    assert bus.authors == ["Ana Costa"]
    assert "every twenty minutes" in bus.text
    assert market.text == "The weekly farmers market will move into the old grain hall until the spring rains end."
    assert bus.source == market.source == "Hill Town Herald"
    assert {bus.id, market.id} == {f"{base}/bus", f"{base}/market"}


def test_rss_entry_link_is_fetched_when_reachable(tmp_path, site):
    site.routes["/bridge"] = page(SERVED_HTML.encode())
    f = tmp_path / "courier.xml"
    f.write_text(rss_feed(site.base), encoding="utf-8")
    bridge, choir = list(load(str(f), local_ok()))
    # the reachable link gives the full page; the unreachable one (404) falls back to its summary
    assert "Apple growers in the northern valley" in bridge.text
    assert bridge.published == dt.date(2023, 8, 29)  # the page's own date
    assert choir.text.startswith("The junior choir from Elm Street School")


def test_file_that_is_not_a_feed_fails(tmp_path):
    f = tmp_path / "broken.rss"
    f.write_text("<rss><channel><title>Nothing inside</title></channel></rss>", encoding="utf-8")
    [fail] = list(load(str(f)))
    assert isinstance(fail, LoadFailure) and fail.where == str(f)
    assert "feed" in fail.reason


# --- JSONL ----------------------------------------------------------------------


def test_jsonl_fields_become_metadata(tmp_path):
    f = tmp_path / "batch.jsonl"
    recs = [
        {"url": "https://news.example.net/bike-lanes", "title": "Council approves bike lanes",
         "text": "The council voted to paint bike lanes on three central streets.\n\nWork starts next month.",
         "published": "2023-09-14", "source": "Example Net", "authors": ["Lee Park", "Sam Ode"]},
        {"url": "https://news.example.net/pool", "title": "Pool reopens",
         "text": "The public pool reopened after new heating was installed.",
         "published": "2023-09-20T10:00:00Z", "source": "Example Net", "authors": "Rita Holm"},
    ]
    f.write_text("\n".join(json.dumps(r) for r in recs) + "\n", encoding="utf-8")
    a, b = list(load(str(f)))
    assert (a.id, a.url, a.title) == ("https://news.example.net/bike-lanes", "https://news.example.net/bike-lanes",
                                      "Council approves bike lanes")
    assert a.text == "The council voted to paint bike lanes on three central streets.\n\nWork starts next month."
    assert a.published == dt.date(2023, 9, 14)
    assert a.source == "Example Net"
    assert a.authors == ["Lee Park", "Sam Ode"]
    assert a.origin == f"{f}:1"
    assert b.published == dt.date(2023, 9, 20)
    assert b.authors == ["Rita Holm"]
    assert b.origin == f"{f}:2"


def test_jsonl_bad_lines_are_reported_by_line(tmp_path):
    f = tmp_path / "mixed.jsonl"
    f.write_text(
        "this line is not json\n"
        + json.dumps({"url": "https://news.example.net/empty", "title": "Nothing", "text": "  "}) + "\n"
        + "\n"
        + json.dumps({"url": "https://news.example.net/ok", "title": "Good one",
                      "text": "A short but real story about a new playground in the park."}) + "\n",
        encoding="utf-8",
    )
    items = list(load(str(f)))
    [good] = articles(items)
    assert good.id == "https://news.example.net/ok"
    fails = {x.where: x.reason for x in failures(items)}
    assert set(fails) == {f"{f}:1", f"{f}:2"}
    assert "not valid JSON" in fails[f"{f}:1"]
    assert "text" in fails[f"{f}:2"]


# --- folders, globs, missing paths ------------------------------------------------


def _three_stories(root: Path) -> None:
    (root / "a").mkdir(parents=True)
    (root / "a" / "deep").mkdir()
    (root / "one.txt").write_text("Story one\n\nA gardener grew a very large pumpkin this autumn.\n")
    (root / "a" / "two.md").write_text("# Story two\n\nThe museum opened a new room for old maps.\n")
    (root / "a" / "deep" / "three.txt").write_text("Story three\n\nA marathon closed the main road on Sunday.\n")
    (root / "a" / "skip.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")


def test_folder_is_read_recursively_and_skips_unsupported(tmp_path):
    root = tmp_path / "stories"
    _three_stories(root)
    items = list(load(str(root)))
    assert not failures(items)
    assert sorted(a.title for a in items) == ["Story one", "Story three", "Story two"]
    assert {a.id for a in items} == {str((root / p).resolve()) for p in ("one.txt", "a/two.md", "a/deep/three.txt")}


def test_glob_patterns(tmp_path):
    root = tmp_path / "stories"
    _three_stories(root)
    assert sorted(a.title for a in load(str(root / "*.txt"))) == ["Story one"]
    assert sorted(a.title for a in load(str(root / "**" / "*.txt"))) == ["Story one", "Story three"]
    [fail] = list(load(str(root / "*.nothing")))
    assert isinstance(fail, LoadFailure) and "matched no files" in fail.reason


def test_missing_file_and_empty_folder(tmp_path):
    [f1] = list(load(str(tmp_path / "nope.txt")))
    assert isinstance(f1, LoadFailure) and f1.where == str(tmp_path / "nope.txt") and "no such file" in f1.reason
    (tmp_path / "empty").mkdir()
    [f2] = list(load(str(tmp_path / "empty")))
    assert isinstance(f2, LoadFailure) and "no supported files" in f2.reason


# --- bad bytes --------------------------------------------------------------------


def test_binary_empty_and_whitespace_files_fail(tmp_path):
    cases = {
        "binary.txt": (b"PK\x03\x04\x00\x00binary\x00data", "binary"),
        "empty.txt": (b"", "empty"),
        "blank.md": (b"\n   \n\t\n", "whitespace"),
        "controls.txt": (bytes([1, 2, 3, 4, 5, 6, 7, 8, 14, 15]) * 50, "no article text"),
    }
    for name, (data, _) in cases.items():
        (tmp_path / name).write_bytes(data)
    for name, (_, word) in cases.items():
        items = list(load(str(tmp_path / name)))
        assert len(items) == 1 and isinstance(items[0], LoadFailure), (name, items)
        assert items[0].where == str(tmp_path / name)
        assert word in items[0].reason, (name, items[0].reason)


# Every byte from 0x80 to 0xFF in order: not UTF-8, and no single-byte or CJK
# encoding makes sense of it (charset-normalizer 3.x finds none).
UNDECODABLE = bytes(range(128, 256)) * 20


def test_undecodable_text_file_fails(tmp_path):
    from charset_normalizer import from_bytes

    if from_bytes(UNDECODABLE).best() is not None:
        pytest.skip("this charset-normalizer finds an encoding for the test bytes")
    f = tmp_path / "garbled.txt"
    f.write_bytes(UNDECODABLE)
    [fail] = list(load(str(f)))
    assert isinstance(fail, LoadFailure) and fail.where == str(f)
    assert "encoding" in fail.reason


def test_article_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_MAX_ARTICLE_CHARS", "300")
    reset_settings()
    f = tmp_path / "long.txt"
    f.write_text("A long one\n\n" + "The parade went on and on along the sea front. " * 20)
    [fail] = list(load(str(f), get_settings()))
    assert isinstance(fail, LoadFailure) and fail.where == str(f)
    assert "300" in fail.reason and "QA_MAX_ARTICLE_CHARS" in fail.reason
    # one under the limit passes
    f.write_text("A short one\n\nThe parade was short this year.")
    assert isinstance(only(list(load(str(f), get_settings()))), Article)


# --- URLs -----------------------------------------------------------------------


def test_unreachable_url_fails_fast_with_reason():
    url = f"http://127.0.0.1:{free_port()}/x"
    t0 = time.monotonic()
    items = list(load(url, local_ok()))
    assert time.monotonic() - t0 < 5
    [fail] = items
    assert isinstance(fail, LoadFailure) and fail.where == url
    assert "cannot fetch" in fail.reason and "unreachable" in fail.reason


def test_url_served_locally_is_fetched_and_extracted(site):
    site.routes["/news/orchard"] = page(SERVED_HTML.encode())
    url = site.base + "/news/orchard"
    art = only(list(load(url, local_ok())))
    assert art.title == "Orchard harvest starts early"
    assert art.id == art.url == url
    assert art.published == dt.date(2023, 8, 29)
    assert art.authors == ["Jonas Berg"]
    assert art.source.split(":")[0] == "127.0.0.1"  # no site name in the page: the host
    assert "two weeks earlier than usual" in art.text
    assert "prices at local markets to stay steady" in art.text


def test_url_http_error_is_a_failure(site):
    """The reason is the fetcher's one generic message: a 404 must not be told apart from a
    refused or closed port (tests/test_fetch_security.py)."""
    url = site.base + "/missing"
    [fail] = list(load(url, local_ok()))
    assert isinstance(fail, LoadFailure) and fail.where == url and fail.reason == FETCH_FAILED
    assert site.requests == ["/missing"]


def test_url_serving_a_pdf(site):
    site.routes["/doc.pdf"] = page(make_pdf(PDF_LINES), "application/pdf")
    art = only(list(load(site.base + "/doc.pdf", local_ok())))
    assert art.title == PDF_LINES[0]
    assert "open until nine in the evening" in art.text
