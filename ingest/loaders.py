"""Turn a source (file, folder, glob, URL, feed, JSONL) into Articles.

Every loader reports a bad input as a :class:`LoadFailure` with the path and a
reason a person can act on; it never raises for bad content, so one broken
file cannot stop the good ones of the same run.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

from qa.dates import parse_date
from qa.settings import Settings, get_settings

from .clean import clean_text, headline, normalize_text, one_line, split_title
from .fetch import BudgetExceeded, Fetcher, FetchError
from .models import Article
from .urls import same_site

log = logging.getLogger(__name__)

TEXT_EXT = {".txt", ".md", ".markdown", ".text"}
HTML_EXT = {".html", ".htm", ".xhtml"}
FEED_EXT = {".rss", ".atom", ".xml"}
SUPPORTED = TEXT_EXT | HTML_EXT | FEED_EXT | {".pdf", ".jsonl", ".ndjson"}


@dataclass
class LoadFailure:
    where: str
    reason: str


class LoadError(Exception):
    """Raised inside loaders; turned into a LoadFailure at the boundary."""


Item = Article | LoadFailure


# --- entry point -------------------------------------------------------------

def load(source: str, settings: Settings | None = None, fetcher: Fetcher | None = None) -> Iterator[Item]:
    """Articles and failures from one source.

    ``fetcher`` carries the network budget of the whole request (``ingest.add`` passes one
    for all its sources); without one, this source gets a fresh budget of its own.
    """
    settings = settings or get_settings()
    fetcher = fetcher or Fetcher(settings)
    if re.match(r"^https?://", source, re.I):
        yield from _guard(source, lambda: load_url(source, settings, fetcher=fetcher), settings)
        return
    if source.lower().startswith("file://"):
        source = urlparse(source).path
    path = Path(source).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED)
        if not files:
            yield LoadFailure(str(path), "folder holds no supported files (" + ", ".join(sorted(SUPPORTED)) + ")")
        for f in files:
            yield from load_file(f, settings, fetcher)
        return
    if not path.exists() and any(ch in source for ch in "*?["):
        matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(source), recursive=True))
        files = [p for p in matches if p.is_file()]
        if not files:
            yield LoadFailure(source, "pattern matched no files")
        for f in files:
            yield from load_file(f, settings, fetcher)
        return
    yield from load_file(path, settings, fetcher)


def load_file(path: Path, settings: Settings, fetcher: Fetcher | None = None) -> Iterator[Item]:
    where = str(path)
    if not path.exists():
        broken_link = path.is_symlink()
        yield LoadFailure(where, "broken or looping symbolic link" if broken_link else "no such file or folder")
        return
    try:
        size = path.stat().st_size
        if size > settings.max_file_bytes:
            raise LoadError(f"file is {size / 1e6:.0f} MB, over the {settings.max_file_bytes / 1e6:.0f} MB limit (QA_MAX_FILE_BYTES)")
        if size == 0:
            raise LoadError("file is empty")
        data = path.read_bytes()
    except LoadError as exc:
        yield LoadFailure(where, str(exc))
        return
    except OSError as exc:
        yield LoadFailure(where, f"cannot read file: {exc.strerror or exc}")
        return
    ext = path.suffix.lower()
    article_id = str(path.resolve())
    if ext in {".jsonl", ".ndjson"}:
        yield from load_jsonl(data, where, settings)
        return
    if ext in FEED_EXT:
        yield from _guard(where, lambda: load_feed(data, where, settings, fetcher), settings)
        return
    if ext == ".pdf":
        yield from _guard(where, lambda: [load_pdf(data, article_id, where, settings)], settings)
        return
    if ext in HTML_EXT:
        yield from _guard(where, lambda: [load_html(data, article_id, where, settings=settings)], settings)
        return
    # .txt, .md, and unknown extensions that turn out to be text
    yield from _guard(where, lambda: [load_text(data, article_id, where, settings.max_article_chars)], settings)


def _guard(where: str, fn, settings: Settings | None = None) -> Iterator[Item]:
    """Run a loader; its errors become failures, oversize articles are refused before embedding."""
    settings = settings or get_settings()
    try:
        for item in fn():
            if isinstance(item, Article):
                problem = check_article(item, settings)
                if problem:
                    yield LoadFailure(item.origin or where, problem)
                    continue
            yield item
    except LoadError as exc:
        yield LoadFailure(where, str(exc))
    except (UnicodeError, ValueError, TypeError, KeyError, IndexError, OSError, RecursionError) as exc:
        yield LoadFailure(where, f"could not parse: {type(exc).__name__}: {exc}")


def check_article(article: Article, settings: Settings) -> str | None:
    """Why the article may not be indexed, or None; tidies its metadata on the way.

    Title, source and authors are copied into every chunk and into the prompt, so each
    becomes one line with no control or direction-override characters; a title over
    QA_MAX_TITLE_CHARS is refused (it is text in the wrong field, or an attack), while
    source and author names are only cut, being labels and never the point of the article.
    """
    if not article.text.strip():
        return "no article text found"
    problem = _too_long(article.text, settings.max_article_chars)
    if problem:
        return problem
    problem = _title_too_long(article.title, settings.max_title_chars)
    if problem:
        return problem
    article.title = one_line(article.title)
    article.source = one_line(article.source, settings.max_source_chars)
    authors = (one_line(a, settings.max_author_chars) for a in article.authors[: settings.max_authors])
    article.authors = [a for a in authors if a]
    return None


def _title_too_long(title: str, limit: int) -> str | None:
    # split/join is C-speed: a multi-MB title is measured without running the cleaner on it
    size = len(" ".join(title.split()))
    if size > limit:
        return f"title is {size:,} characters, over the limit of {limit:,} (QA_MAX_TITLE_CHARS)"
    return None


def _too_long(text: str, limit: int) -> str | None:
    if len(text) > limit:
        return f"article text is {len(text):,} characters, over the limit of {limit:,} (QA_MAX_ARTICLE_CHARS)"
    return None


# --- decoding ----------------------------------------------------------------

def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else a confident guess; binary is refused."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    sample = data[:8192]
    if b"\x00" in sample:
        raise LoadError("looks like a binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data[:200_000]).best()
    if best is None or best.encoding is None:
        raise LoadError("unreadable text encoding (not UTF-8 and no other encoding fits)")
    text = data.decode(best.encoding, errors="strict")
    controls = sum(1 for ch in text[:20000] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > 0.01 * max(1, min(len(text), 20000)):
        raise LoadError("looks like a binary file, not text")
    return text


# --- formats -----------------------------------------------------------------

DERIVED_TITLE_CHARS = 200  # a title guessed from the text: a headline, not a paragraph
MIN_HTML_WORDS = 5  # fewer words than this is a cut-off page or a stub, not an article


def _title_and_body(text: str) -> tuple[str, str]:
    """First line as the title; a first line too long to be a headline stays in the body."""
    title, body = split_title(text)
    if len(title) > DERIVED_TITLE_CHARS:
        return headline(text, DERIVED_TITLE_CHARS), text
    return title, body or title


def load_text(data: bytes, article_id: str, where: str, max_chars: int | None = None) -> Article:
    text = decode_text(data)
    if not text.strip():
        raise LoadError("file holds only whitespace")
    # refuse before cleaning: cleaning 50 MB of text costs half a minute on 2 cores
    problem = _too_long(text, max_chars) if max_chars is not None else None
    if problem:
        raise LoadError(problem)
    title, body = _title_and_body(clean_text(text))
    return Article(id=article_id, title=title, text=body, origin=where)


def load_html(data: bytes | str, article_id: str, where: str, url: str | None = None,
              settings: Settings | None = None) -> Article:
    """One article from a page. ``url`` is the address it was fetched from, when it was.

    A fetched page may name its canonical address only on its own site: otherwise any page
    could claim another outlet's URL, take its article id and replace its stored article.
    """
    import trafilatura

    settings = settings or get_settings()
    html = data if isinstance(data, str) else decode_text(data)
    problem = _too_long(html, settings.max_article_chars * 4)  # markup around 5 MB of text at most
    if problem:
        raise LoadError("page " + problem.split(" ", 1)[1])
    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False)
    if doc is None:
        raise LoadError("no article text found in the HTML")
    d = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    text = clean_text(d.get("text") or "")
    title = (d.get("title") or "").strip()
    if title and text.startswith(title):
        text = text[len(title) :].strip()
    if not title and "\n" in text:
        title, text = _title_and_body(text)
    if len(text.split()) < MIN_HTML_WORDS or _only_link_text(html, text, settings.max_links_per_page):
        raise LoadError("no article text found in the HTML")
    if not title:
        title = headline(text, DERIVED_TITLE_CHARS)
    claimed = (d.get("url") or "").strip()
    sitename = d.get("sitename") or ""
    if url:
        if claimed and not (claimed.startswith(("http://", "https://")) and same_site(claimed, url)):
            log.info("%s names %s as its canonical address, off its own site: ignored", url, claimed)
            claimed, sitename = "", ""  # a page claiming another site gets neither its address nor its name
        canonical = claimed or url
    else:
        canonical = claimed
    authors = [a.strip() for a in re.split(r";|,| and ", d.get("author") or "") if a.strip()]
    return Article(
        id=canonical or article_id,
        title=title,
        text=text,
        url=canonical if canonical.startswith("http") else "",
        source=sitename or (urlparse(canonical).hostname or "") or d.get("hostname") or "",
        published=parse_date(d.get("date")),
        authors=authors,
        origin=where,
    )


_WORD = re.compile(r"\w+")
_MAX_LINK_WORDS = 50  # a link longer than this is not navigation


def _only_link_text(html: str, text: str, max_links: int = 5000) -> bool:
    """True when every extracted line is made of link texts: trafilatura's fallback on a
    page with no story returns its menu ("Home", "News", ...), which is not an article.

    Link texts go into a word trie and each line is covered left to right, so the work
    grows with the text times the longest link (capped), not with links times lines:
    the old substitute-every-link loop took 1.1 s on a 500-link page.
    """
    import lxml.html

    try:
        root = lxml.html.fromstring(html.encode("utf-8", "surrogatepass"))
    except Exception:  # noqa: BLE001 - lxml raises several types on junk; then this check has no say
        return False
    trie: dict = {}
    for n, anchor in enumerate(root.iter("a"), 1):
        if n > max_links:
            raise LoadError(f"page has over {max_links:,} links, the limit (QA_MAX_LINKS_PER_PAGE): "
                            "a link index, not an article")
        words = _WORD.findall(anchor.text_content().casefold())
        if not words or len(words) > _MAX_LINK_WORDS:
            continue
        node = trie
        for w in words:
            node = node.setdefault(w, {})
        node[None] = True  # a link ends here
    if not trie:
        return False
    lines = [_WORD.findall(line.casefold()) for line in text.split("\n") if line.strip()]
    return bool(lines) and all(_covered_by_links(words, trie) for words in lines)


def _covered_by_links(words: list[str], trie: dict) -> bool:
    """Whether the words split into consecutive link texts ("home news sport": a menu line)."""
    reach = [False] * (len(words) + 1)
    reach[0] = True
    for i in range(len(words)):
        if not reach[i]:
            continue
        node = trie
        for j in range(i, min(len(words), i + _MAX_LINK_WORDS)):
            node = node.get(words[j])
            if node is None:
                break
            if None in node:
                reach[j + 1] = True
    return reach[-1]


def _pypdf_to_logging() -> None:
    """pypdf reports damage ("EOF marker not found") through the ``pypdf`` logger. With no
    handler configured anywhere, Python prints such records raw on stderr, in the middle of
    the CLI's report; a NullHandler keeps them in logging (handlers the app sets up on the
    root logger still receive them) and off the bare terminal. The loader's own failure
    reason already tells the person what is wrong with the file."""
    logger = logging.getLogger("pypdf")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


def load_pdf(data: bytes, article_id: str, where: str, settings: Settings | None = None) -> Article:
    """Text of every page, stopping at QA_MAX_PDF_PAGES pages or QA_MAX_ARTICLE_CHARS
    characters: a small PDF can inflate to far more text than the file's size suggests.

    pypdf's own decompression limits (75 MB a stream by default) are lowered to
    QA_MAX_FETCH_BYTES for the duration, through its context-local configuration, so
    one compressed stream cannot expand past what a fetched body may be.
    """
    from pypdf import apply_configuration
    from pypdf.errors import LimitReachedError, PdfReadError

    settings = settings or get_settings()
    _pypdf_to_logging()
    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise LoadError("not a PDF file (no %PDF header)")
    cap = settings.max_fetch_bytes
    limits = {name: cap for name in (
        "zlib_maximum_output_length", "lzw_maximum_output_length", "run_length_maximum_output_length",
        "brotli_maximum_output_length", "jbig2_maximum_output_length", "array_based_stream_maximum_output_length",
        "image_maximum_buffer_size", "stream_decoding_work_maximum_length")}
    try:
        with apply_configuration(**limits):
            return _read_pdf(data, article_id, where, settings)
    except LimitReachedError as exc:
        raise LoadError(f"PDF expands past the decompression limit of {cap:,} bytes (QA_MAX_FETCH_BYTES): {exc}") from exc
    except LoadError:
        raise
    except (PdfReadError, Exception) as exc:  # pypdf raises many types on damaged files
        raise LoadError(f"damaged or truncated PDF: {exc}") from exc


def _read_pdf(data: bytes, article_id: str, where: str, settings: Settings) -> Article:
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        try:
            if not reader.decrypt(""):
                raise LoadError("PDF is encrypted with a password")
        except LoadError:
            raise
        except Exception as exc:
            raise LoadError(f"PDF is encrypted and cannot be opened: {exc}") from exc
    n_pages = len(reader.pages)
    if n_pages > settings.max_pdf_pages:
        raise LoadError(f"PDF has {n_pages:,} pages, over the limit of {settings.max_pdf_pages:,} (QA_MAX_PDF_PAGES)")
    pages, size = [], 0
    for page in reader.pages:
        pages.append(page.extract_text() or "")
        size += len(pages[-1])
        if size > settings.max_article_chars:
            raise LoadError(f"PDF text is over {settings.max_article_chars:,} characters, "
                            "the limit (QA_MAX_ARTICLE_CHARS)")
    meta = reader.metadata or {}
    text = clean_text("\n\n".join(pages))
    if not text:
        raise LoadError("PDF has no extractable text (scanned images?)")
    meta_title = str(meta.get("/Title") or "").strip() if hasattr(meta, "get") else ""
    title, body = (meta_title, text) if meta_title else _title_and_body(text)
    created = getattr(reader.metadata, "creation_date", None) if reader.metadata else None
    author = str(meta.get("/Author") or "").strip() if hasattr(meta, "get") else ""
    return Article(
        id=article_id, title=title, text=body or text, published=parse_date(created),
        authors=[author] if author else [], origin=where,
    )


JSONL_FIELDS = "url, title, text, published, source, authors"


def article_from_record(rec: dict, where: str, max_title: int | None = None) -> Article:
    max_title = max_title or get_settings().max_title_chars
    if not isinstance(rec, dict):
        raise LoadError(f"expected a JSON object with {JSONL_FIELDS}")
    text = rec.get("text")
    if not isinstance(text, str) or not text.strip():
        raise LoadError("record has no 'text'")
    url = str(rec.get("url") or "").strip()
    title = str(rec.get("title") or "").strip()
    problem = _title_too_long(title, max_title)  # before cleaning: the title lands in every chunk
    if problem:
        raise LoadError(problem)
    body = clean_text(text)
    if not title:
        title = headline(body, DERIVED_TITLE_CHARS)
    authors = rec.get("authors") or []
    if isinstance(authors, str):
        authors = [a.strip() for a in authors.split(",") if a.strip()]
    source = str(rec.get("source") or (urlparse(url).hostname or "") if url else rec.get("source") or "")
    article_id = url or str(rec.get("id") or "")
    if not article_id:
        raise LoadError("record has neither 'url' nor 'id'")
    return Article(
        id=article_id, title=title, text=body, url=url if url.startswith("http") else "",
        source=source, published=parse_date(rec.get("published") or rec.get("date")),
        authors=[str(a) for a in authors], origin=where,
    )


def load_jsonl(data: bytes, where: str, settings: Settings) -> Iterator[Item]:
    try:
        text = decode_text(data)
    except LoadError as exc:
        yield LoadFailure(where, str(exc))
        return
    records = 0
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        records += 1
        here = f"{where}:{n}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            yield LoadFailure(here, f"line is not valid JSON ({exc.msg})")
            continue
        except RecursionError:
            yield LoadFailure(here, "line is not valid JSON (nested too deeply)")
            continue
        big = rec.get("text") if isinstance(rec, dict) else None
        problem = _too_long(big, settings.max_article_chars) if isinstance(big, str) else None
        if problem:  # before cleaning, as for text files
            yield LoadFailure(here, problem)
            continue
        yield from _guard(here, lambda rec=rec, here=here: [article_from_record(rec, here, settings.max_title_chars)],
                          settings)
    if not records:
        yield LoadFailure(where, "no JSON records in the file (only blank lines)")


def load_feed(data: bytes | str, where: str, settings: Settings, fetcher: Fetcher | None = None) -> Iterator[Item]:
    """One article per entry, at most QA_MAX_FEED_ENTRIES of them. An entry's link is
    fetched while the request's fetch budget lasts; after that, and whenever the fetch
    fails, the entry's own summary is the article."""
    import feedparser

    # bytes only: given a str that looks like a URL, feedparser would fetch it itself,
    # past every check of the fetcher
    feed = feedparser.parse(data.encode("utf-8") if isinstance(data, str) else data)
    if not feed.entries:
        reason = getattr(feed, "bozo_exception", None)
        raise LoadError(f"not an RSS/Atom feed or it has no entries{f' ({reason})' if reason else ''}")
    fetcher = fetcher or Fetcher(settings)
    site = one_line(feed.feed.get("title") or "", settings.max_source_chars)
    limit = settings.max_feed_entries
    for n, entry in enumerate(feed.entries[:limit], 1):
        here = f"{where}#entry{n}"
        yield from _guard(here, lambda entry=entry, here=here: [_feed_entry(entry, site, here, settings, fetcher)],
                          settings)
    if len(feed.entries) > limit:
        yield LoadFailure(where, f"feed has {len(feed.entries):,} entries; only the first {limit:,} were read "
                                 "(QA_MAX_FEED_ENTRIES)")


def _feed_entry(entry, site: str, where: str, settings: Settings, fetcher: Fetcher) -> Article:
    link = (entry.get("link") or "").strip()
    title = normalize_text(entry.get("title") or "").strip()
    problem = _title_too_long(title, settings.max_title_chars)
    if problem:
        raise LoadError(problem)
    published = None
    for key in ("published_parsed", "updated_parsed"):
        if entry.get(key):
            published = dt.date(*entry[key][:3])
            break
    published = published or parse_date(entry.get("published") or entry.get("updated"))
    authors = [a.get("name", "") for a in entry.get("authors", []) if a.get("name")]
    if link.startswith(("http://", "https://")) and fetcher.can_fetch():
        try:
            art = load_url(link, settings, single=True, fetcher=fetcher)[0]
            art.title = art.title or title
            art.source = art.source or site
            art.published = art.published or published
            art.authors = art.authors or authors
            art.origin = where
            return art
        except LoadError:
            pass  # offline, refused or extraction failed: fall back to the entry's own text
    summary = entry.get("content", [{}])[0].get("value") if entry.get("content") else entry.get("summary", "")
    text = _html_to_text(summary or "")
    if not text:
        raise LoadError("feed entry has no text and its link could not be fetched")
    return Article(
        id=link or entry.get("id") or f"{where}", title=title or headline(text, DERIVED_TITLE_CHARS), text=text,
        url=link if link.startswith("http") else "", source=site, published=published,
        authors=authors, origin=where,
    )


def _html_to_text(fragment: str) -> str:
    if "<" not in fragment:
        return clean_text(fragment)
    import lxml.html

    try:
        root = lxml.html.fromstring(f"<div>{fragment}</div>")
    except Exception:
        return clean_text(re.sub(r"<[^>]+>", " ", fragment))
    for br in root.iter("br", "p", "div", "li"):
        br.tail = ("\n" + br.tail) if br.tail else "\n"
    return clean_text(root.text_content())


def load_url(url: str, settings: Settings, single: bool = False, fetcher: Fetcher | None = None) -> list[Item]:
    """Articles from a web address, fetched through the safe fetcher (ingest/fetch.py).

    Every refusal or network failure reads the same (FETCH_FAILED); only this request's
    own limits (fetch count, time budget) are named, since they reveal nothing of the target.
    """
    fetcher = fetcher or Fetcher(settings)
    try:
        got = fetcher.get(url)
    except (FetchError, BudgetExceeded) as exc:
        raise LoadError(str(exc)) from exc
    data, ctype, final = got.body, got.content_type.lower(), got.url
    if "pdf" in ctype or data[:5] == b"%PDF-":
        return [load_pdf(data, final, url, settings)]
    head = data[:500].lower()
    if not single and ("rss" in ctype or "atom" in ctype or b"<rss" in head or b"<feed" in head):
        return list(load_feed(data, url, settings, fetcher))
    art = load_html(data, final, url, url=final, settings=settings)
    return [art]
