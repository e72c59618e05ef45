"""Ingest a folder of broken inputs: every one is reported with a reason, the good ones are indexed.

The corpus is generated in a temp folder: binary and empty files, whitespace,
a single huge line, a 50 MB text file (refused by QA_MAX_ARTICLE_CHARS before
any cleaning or embedding), truncated and password-encrypted PDFs, HTML with no
story, broken encodings, JSONL with bad lines, feeds with broken entries,
symlink loops, a FIFO, unsupported extensions. Two good files sit next to them,
and an article indexed before the run must come out of it untouched.

Folder mode reads only supported extensions and regular files (by design,
tests/test_loaders.py): unsupported extensions, symlinks that resolve nowhere
and FIFOs are skipped there, and are checked when passed as a list of paths.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import ingest
from ingest import LoadFailure
from qa.index import get_index

ROOT = Path(__file__).resolve().parents[1]

EMPTY = r"file is empty"
WS = r"only whitespace"
BINARY = r"binary file"
NO_TEXT = r"no article text found"
NO_HTML = r"no article text found in the HTML"
TOO_LONG = r"over the limit of 5,000,000 \(QA_MAX_ARTICLE_CHARS\)"
DAMAGED_PDF = r"damaged or truncated PDF"
NOT_FEED = r"not an RSS/Atom feed or it has no entries"
ENTRY = r"feed entry has no text"
UNREADABLE = r"could not parse: UnicodeDecodeError|unreadable text encoding"

GOOD_TXT = """Harbour council approves budget for two new cranes

The harbour council of Saltmere approved a budget of 14 million euros on Tuesday evening.
The money pays for two electric cranes and a quay that is forty metres longer.
Councillor Ines Marrow said the work should start in early spring and last two years.
"""
GOOD_PDF_LINES = [
    "Lowfield library extends opening hours",
    "The Lowfield public library will stay open until nine in the evening from next month.",
    "Its director, Tomas Brell, said students had asked for quiet rooms after school.",
]


def make_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with real text (Helvetica), written by hand: no PDF library needed."""
    content = "BT /F1 11 Tf 72 720 Td 14 TL " + " ".join(f"({line}) '" for line in lines) + " ET"
    objs = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> "
        "/Contents 4 0 R >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n{obj}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def encrypted_pdf(pdf: bytes, password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=password, owner_password="owner-" + password, algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def blank_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(300, 300)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


BAD_JSONL_LINES = [
    "{not json",
    "[1, 2, 3]",
    '"just a string"',
    "null",
    '{"title": "A record with no text", "url": "https://example.org/no-text"}',
    '{"url": "https://example.org/empty", "text": ""}',
    '{"url": "https://example.org/number", "text": 42}',
    '{"text": "Words with neither an id nor a url, so there is no stable article id."}',
    '{"url": "https://example.org/blank", "text": "   \\n  "}',
    '{"url": "https://example.org/authors", "text": "Some words about a thing.", "authors": 5}',
    "[" * 50_000,
    '{"url": "https://example.org/cut", "text": "cut off mid-recor',
]

BROKEN_FEED = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Broken Wire</title>
<item><title>Only a title</title></item>
<item><title>Link that cannot be fetched</title><link>http://127.0.0.1:9/story</link></item>
<item><title>Empty description</title><description></description></item>
<item><title>Whitespace markup</title><description>&lt;p&gt; &lt;/p&gt;&lt;br/&gt;</description></item>
</channel></rss>
"""


@dataclass
class Corpus:
    root: Path  # the folder holding everything
    broken: dict[str, tuple[str, int]]  # name -> (reason regex, number of failures expected)
    list_only: set[str]  # skipped in folder mode by design: not a regular file or unsupported extension
    good: list[Path]
    recoverable: dict[str, str]  # wrong-but-decodable encodings: name -> text the article must contain

    def path(self, name: str) -> Path:
        return self.root / name

    @property
    def all_inputs(self) -> list[str]:
        return [str(self.path(n)) for n in [*self.broken, *self.recoverable]] + [str(p) for p in self.good]


def build_corpus(root: Path) -> Corpus:
    root.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(20250917)
    broken: dict[str, tuple[str, int]] = {}
    list_only: set[str] = set()

    def put(name: str, data: bytes | str, reason: str, n: int = 1, folder: bool = True) -> None:
        (root / name).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        broken[name] = (reason, n)
        if not folder:
            list_only.add(name)

    # --- text files
    put("empty.txt", b"", EMPTY)
    put("spaces.txt", b"   \n\t  \n  ", WS)
    put("newlines.md", b"\n" * 50, WS)
    put("unicode_spaces.txt", "\u00a0\u2003\u3000\n\u2009", WS)
    put("bom_only.txt", b"\xef\xbb\xbf", WS)
    put("nul_bytes.txt", b"\x00" * 512, BINARY)
    put("random_bytes.txt", bytes(rnd.randrange(256) for _ in range(4096)) + b"\x00", BINARY)
    put("png_named.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), BINARY)
    put("zip_named.md", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(200), BINARY)
    put("utf16le_no_bom.txt", "A story in UTF-16 without a byte order mark.".encode("utf-16-le"), BINARY)
    put("odd_utf16.txt", b"\xff\xfeA", UNREADABLE)
    put("lone_surrogate_utf16.txt", b"\xff\xfe\x00\xd8a\x00", UNREADABLE)
    put("garbage_high.txt", bytes(rnd.randrange(128, 256) for _ in range(3000)), UNREADABLE)
    put("controls_only.txt", bytes([1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16, 17, 18]) * 40, NO_TEXT)
    put("zero_width.txt", "\u200b\u200c\u200d\ufeff" * 30, NO_TEXT)
    put("delete_chars.md", b"\x7f" * 300, NO_TEXT)
    put("boilerplate_only.txt", "Share this article\nAdvertisement\n3 min read\nSubscribe now\nFollow us on Twitter\n",
        NO_TEXT)
    put("huge_line.txt", b"x" * 5_000_001, TOO_LONG)
    line = b"The council approved the new budget for the harbour district on Tuesday evening.\n"
    put("big_50mb.txt", line * (50_000_000 // len(line) + 1), TOO_LONG)  # repeated lines: cleaning would shrink it
    put("empty.md", b"", EMPTY)
    # --- HTML
    put("no_body.html", "<html><head><title>Only a head</title></head></html>", NO_HTML)
    put("empty_body.html", "<html><head></head><body></body></html>", NO_HTML)
    put("script_only.html", "<html><body><script>var story = 'not text';</script></body></html>", NO_HTML)
    put("menu_only.html", "<html><body><nav><a href='/'>Home</a> <a href='/news'>News</a> <a href='/sport'>Sport</a>"
        "</nav></body></html>", NO_HTML)
    put("comment_only.html", "<!-- nothing here -->", NO_HTML)
    put("json_named.htm", '{"story": [1, 2, 3], "ok": true}', NO_HTML)
    put("nested_divs.html", "<html><body>" + "<div>" * 20000 + "deep" + "</div>" * 20000 + "</body></html>", NO_HTML)
    put("binary.html", b"<html>\x00\x01\x02" + bytes(300), BINARY)
    put("empty.html", b"", EMPTY)
    put("image_only.xhtml", "<html><head><style>p{}</style></head><body><img src='x.png'></body></html>", NO_HTML)
    put("nbsp_only.htm", "<html><body><p>&nbsp;</p><p>&#8203;</p></body></html>", NO_HTML)
    put("truncated_page.html", "<html><body><p>unclosed <div><b>broken", NO_HTML)  # was "unclosed" / "broken"
    put("link_flood.html", "<html><body><article><p>" + "A real sentence about the harbour. " * 5 + "</p></article>"
        + "<a href='/x'>x</a>" * 6000 + "</body></html>", r"QA_MAX_LINKS_PER_PAGE")
    # --- PDF
    good_pdf = make_pdf(GOOD_PDF_LINES)
    put("encrypted.pdf", encrypted_pdf(good_pdf, "secret"), r"encrypted with a password")
    put("truncated.pdf", good_pdf[: good_pdf.index(b"stream\n") + 20], DAMAGED_PDF)
    put("truncated_tail.pdf", good_pdf[:-60], DAMAGED_PDF)
    put("not_a_pdf.pdf", "Just some text pretending to be a PDF.", r"not a PDF file")
    put("header_only.pdf", b"%PDF-1.7\n", DAMAGED_PDF)
    put("garbage.pdf", b"%PDF-1.4\n" + bytes(rnd.randrange(256) for _ in range(2000)), DAMAGED_PDF)
    put("blank_page.pdf", blank_pdf(), r"no extractable text")
    put("empty.pdf", b"", EMPTY)
    # --- JSONL
    put("bad_lines.jsonl", "\n".join(BAD_JSONL_LINES) + "\n", r"not valid JSON|expected a JSON object|no 'text'|neither"
        r" 'url' nor 'id'|could not parse|no article text", n=len(BAD_JSONL_LINES))
    put("blank_lines.jsonl", "\n  \n\n", r"no JSON records")
    put("binary.jsonl", bytes(300), BINARY)
    put("huge_record.jsonl", '{"url": "https://example.org/huge", "text": "' + "y" * 5_000_001 + '"}\n', TOO_LONG)
    put("deep.ndjson", "[" * 50_000 + "\n", r"nested too deeply")
    put("huge_title.jsonl", json.dumps({"url": "https://example.org/t", "title": "Headline " * 100_000,
                                        "text": "A short story about the harbour."}) + "\n", r"QA_MAX_TITLE_CHARS")
    # --- feeds
    put("broken_entries.rss", BROKEN_FEED, ENTRY, n=4)
    put("empty_feed.atom", '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>x</title></feed>',
        NOT_FEED)
    put("not_a_feed.xml", "<root><a>1</a><b>two</b></root>", NOT_FEED)
    put("binary.xml", bytes(range(256)) * 4, NOT_FEED)
    put("truncated.rss", '<?xml version="1.0"?><rss version="2.0"><channel><title>S</title><item><title>Cut',
        f"{NOT_FEED}|{ENTRY}")
    put("html_named.rss", "<html><body><p>A web page, not a feed.</p></body></html>", NOT_FEED)
    put("empty.xml", b"", EMPTY)
    # --- unsupported extensions (folder mode skips them; as paths they are read and refused)
    put("program.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(100), BINARY, folder=False)
    put("document.docx", b"PK\x03\x04\x14\x00\x06\x00" + bytes(100), BINARY, folder=False)
    put("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(100), BINARY, folder=False)
    put("song.mp3", b"ID3\x03\x00\x00\x00\x00\x00" + bytes(100), BINARY, folder=False)
    put("archive.tar.gz", b"\x1f\x8b\x08\x00\x00\x00\x00\x00" + bytes(100), BINARY, folder=False)
    put("data.sqlite", b"SQLite format 3\x00" + bytes(100), BINARY, folder=False)
    # --- paths that are not regular files
    broken["missing.txt"] = (r"no such file", 1)
    os.symlink("loop.txt", root / "loop.txt")
    broken["loop.txt"] = (r"broken or looping symbolic link", 1)
    os.symlink("nowhere.md", root / "dangling.md")
    broken["dangling.md"] = (r"broken or looping symbolic link", 1)
    os.mkfifo(root / "fifo.txt")  # never opened: its size (0) refuses it first
    broken["fifo.txt"] = (EMPTY, 1)
    (root / "empty_dir").mkdir()
    broken["empty_dir"] = (r"folder holds no supported files", 1)
    (root / "dir_named.txt").mkdir()
    broken["dir_named.txt"] = (r"folder holds no supported files", 1)
    list_only |= {"missing.txt", "loop.txt", "dangling.md", "fifo.txt", "empty_dir", "dir_named.txt"}

    # wrong encodings that can be read: decoded, not refused
    recoverable = {"cp1252.txt": "Café", "latin1.md": "Zürich", "utf16_bom.txt": "Ferry"}
    (root / "cp1252.txt").write_bytes(
        "Café owners protest\n\nThe café owners of the old town protested on Monday against the new "
        "terrace tax, which they call a déjà vu of last year's rules.\n".encode("cp1252"))
    (root / "latin1.md").write_bytes(
        "# Zürich tram strike\n\nTram drivers in Zürich stopped work for two hours on Friday morning. "
        "Their union wants a shorter week and higher pay for night shifts.\n".encode("latin-1"))
    (root / "utf16_bom.txt").write_bytes(
        "Ferry timetable changes\n\nFerry crossings to the islands will run every forty minutes from June, "
        "the operator said.\n".encode("utf-16"))

    good = [root / "good_harbour.txt", root / "good_library.pdf"]
    good[0].write_text(GOOD_TXT, encoding="utf-8")
    good[1].write_bytes(good_pdf)
    return Corpus(root, broken, list_only, good, recoverable)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    return build_corpus(tmp_path_factory.mktemp("bad") / "inputs")


def _file_of(where: str) -> str:
    """The input a failure came from: 'x.jsonl:3' and 'x.rss#entry2' name their file."""
    where = re.sub(r"#entry\d+$", "", where)
    where = re.sub(r"\.(jsonl|ndjson):\d+$", r".\1", where)
    return Path(where).name


def _seed_state(seed_article) -> dict:
    index = get_index()
    ids = index.ids_where({"article_id": str(seed_article.resolve())})
    return {s.id: (s.document, s.metadata) for s in index.get(sorted(ids))}


def _check_report(report: ingest.IngestReport, c: Corpus, expected: set[str]) -> None:
    got: dict[str, list[LoadFailure]] = {}
    for f in report.failed:
        assert f.reason and f.reason.strip(), f"failure without a reason: {f}"
        got.setdefault(_file_of(f.where), []).append(f)
    assert set(got) == expected, (
        f"not reported: {sorted(expected - set(got))}; reported but not expected: {sorted(set(got) - expected)}"
    )
    for name in expected:
        reason, n = c.broken[name]
        fails = got[name]
        assert len(fails) == n, f"{name}: expected {n} failures, got {[f.reason for f in fails]}"
        for f in fails:
            assert re.search(reason, f.reason), f"{name}: unexpected reason {f.reason!r}"
    # the good files (and the readable wrong encodings) are indexed, each with chunks
    index = get_index()
    for p in [*c.good, *(c.path(n) for n in c.recoverable)]:
        aid = str(p.resolve())
        assert aid in report.indexed or aid in report.unchanged, f"{p.name} not indexed"
        assert len(index.ids_where({"article_id": aid})) > 0, f"{p.name} has no chunks"
    for name, needle in c.recoverable.items():
        docs = index.get(index.ids_where({"article_id": str(c.path(name).resolve())}))
        assert any(needle in d.document for d in docs), f"{name} decoded wrongly: {docs[0].document[:120]!r}"
    # nothing from a broken input reached the store: seed + 2 good + 3 recoverable
    assert ingest.stats()["articles"] == 1 + len(c.good) + len(c.recoverable)


def test_corpus_is_big_enough(corpus):
    assert len(corpus.broken) >= 50
    assert len(set(corpus.broken) - corpus.list_only) >= 45  # what folder mode sees
    assert corpus.path("big_50mb.txt").stat().st_size >= 50_000_000


def test_folder_of_broken_inputs(corpus, seed_article):
    assert ingest.add([str(seed_article)]).indexed
    before = _seed_state(seed_article)
    t0 = time.monotonic()
    report = ingest.add(str(corpus.root))  # must not raise
    took = time.monotonic() - t0
    _check_report(report, corpus, set(corpus.broken) - corpus.list_only)
    assert _seed_state(seed_article) == before, "the previously indexed article changed"
    # the 50 MB file is refused from its size, before cleaning (which used to take ~30 s) or embedding
    assert took < 60, f"ingesting the broken folder took {took:.0f} s"
    print(f"\nfolder: {len(report.failed)} failures, {len(report.indexed)} indexed in {took:.1f} s")


def test_list_of_broken_inputs(corpus, seed_article):
    assert ingest.add([str(seed_article)]).indexed
    before = _seed_state(seed_article)
    report = ingest.add(corpus.all_inputs)  # must not raise
    _check_report(report, corpus, set(corpus.broken))
    assert _seed_state(seed_article) == before, "the previously indexed article changed"
    again = ingest.add(corpus.all_inputs)  # the same run twice: good ones unchanged, broken ones reported again
    assert not again.indexed and again.chunks_added == 0
    assert len(again.failed) == len(report.failed)


def test_cli_on_broken_folder_exits_1_without_traceback(corpus):
    env = dict(os.environ)  # QA_DATA_DIR is the test's own
    r = subprocess.run([sys.executable, "-m", "ingest", "--quiet", str(corpus.root)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr[-2000:])
    assert "Traceback" not in r.stdout + r.stderr
    indexed = 2 + len(corpus.recoverable)
    assert f"indexed {indexed}," in r.stdout, r.stdout
    failed_lines = [ln for ln in r.stderr.splitlines() if ln.startswith("failed ")]
    folder_broken = set(corpus.broken) - corpus.list_only
    assert len(failed_lines) == sum(corpus.broken[n][1] for n in folder_broken)
    for name in folder_broken:
        assert any(f"{os.sep}{name}" in ln for ln in failed_lines), f"{name} not named on stderr"


def test_an_empty_setting_is_the_default_not_the_current_folder(monkeypatch, tmp_path):
    """`QA_DATA_DIR=$UNSET python -m qa …` once made a store in whatever folder it ran from."""
    from qa.settings import Settings

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    for name in ("QA_DATA_DIR", "QA_HOST", "QA_K", "QA_CHROMA_HOST"):
        monkeypatch.setenv(name, "")
    s = Settings()
    assert s.data_dir == tmp_path / "xdg" / "news-qa"
    assert s.host == "127.0.0.1"
    assert s.k == Settings.model_fields["k"].default
    assert s.chroma_host is None and not s.remote
