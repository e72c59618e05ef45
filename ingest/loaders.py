"""Turn a source (file, folder, glob, URL, feed, JSONL) into Articles.

Every loader reports a bad input as a :class:`LoadFailure` with the path and a
reason a person can act on; it never raises for bad content, so one broken
file cannot stop the good ones of the same run.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

from qa.dates import parse_date
from qa.settings import Settings, get_settings

from .clean import clean_text, normalize_text, split_title
from .models import Article

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

def load(source: str, settings: Settings | None = None) -> Iterator[Item]:
    settings = settings or get_settings()
    if re.match(r"^https?://", source, re.I):
        yield from _guard(source, lambda: load_url(source, settings), settings)
        return
    if source.lower().startswith("file://"):
        source = urlparse(source).path
    path = Path(source).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED)
        if not files:
            yield LoadFailure(str(path), "folder holds no supported files (" + ", ".join(sorted(SUPPORTED)) + ")")
        for f in files:
            yield from load_file(f, settings)
        return
    if not path.exists() and any(ch in source for ch in "*?["):
        matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(source), recursive=True))
        files = [p for p in matches if p.is_file()]
        if not files:
            yield LoadFailure(source, "pattern matched no files")
        for f in files:
            yield from load_file(f, settings)
        return
    yield from load_file(path, settings)


def load_file(path: Path, settings: Settings) -> Iterator[Item]:
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
        yield from _guard(where, lambda: load_feed(data, where, settings), settings)
        return
    if ext == ".pdf":
        yield from _guard(where, lambda: [load_pdf(data, article_id, where)], settings)
        return
    if ext in HTML_EXT:
        yield from _guard(where, lambda: [load_html(data, article_id, where)], settings)
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
    if not article.text.strip():
        return "no article text found"
    return _too_long(article.text, settings.max_article_chars)


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

def load_text(data: bytes, article_id: str, where: str, max_chars: int | None = None) -> Article:
    text = decode_text(data)
    if not text.strip():
        raise LoadError("file holds only whitespace")
    # refuse before cleaning: cleaning 50 MB of text costs half a minute on 2 cores
    problem = _too_long(text, max_chars) if max_chars is not None else None
    if problem:
        raise LoadError(problem)
    title, body = split_title(clean_text(text))
    if not body:
        body = title
    return Article(id=article_id, title=title[:500], text=body, origin=where)


def load_html(data: bytes | str, article_id: str, where: str, url: str | None = None) -> Article:
    import trafilatura

    html = data if isinstance(data, str) else decode_text(data)
    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False)
    if doc is None:
        raise LoadError("no article text found in the HTML")
    d = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    text = clean_text(d.get("text") or "")
    title = (d.get("title") or "").strip()
    if title and text.startswith(title):
        text = text[len(title) :].strip()
    if not text or _only_link_text(html, text):
        raise LoadError("no article text found in the HTML")
    if not title:
        title, text = split_title(text) if "\n" in text else (text[:80], text)
    canonical = d.get("url") or url or ""
    authors = [a.strip() for a in re.split(r";|,| and ", d.get("author") or "") if a.strip()]
    return Article(
        id=canonical or article_id,
        title=title,
        text=text,
        url=canonical if canonical.startswith("http") else "",
        source=d.get("sitename") or d.get("hostname") or (urlparse(canonical).hostname or ""),
        published=parse_date(d.get("date")),
        authors=authors,
        origin=where,
    )


def _only_link_text(html: str, text: str) -> bool:
    """True when every extracted line is the text of a link: trafilatura's fallback on a
    page with no story returns its menu ("Home", "News", ...), which is not an article."""
    import lxml.html

    try:
        root = lxml.html.fromstring(html.encode("utf-8", "surrogatepass"))
    except Exception:
        return False
    norm = lambda t: re.sub(r"\s+", " ", t).strip().casefold()  # noqa: E731
    links = sorted({norm(a.text_content()) for a in root.iter("a")} - {""}, key=len, reverse=True)
    lines = [norm(line) for line in text.split("\n") if line.strip()]

    def only_links(line: str) -> bool:  # "home news sport": menu links side by side on one line
        for link in links:
            line = re.sub(r"(?<!\w)" + re.escape(link) + r"(?!\w)", " ", line)
        return not re.search(r"\w", line)

    return bool(lines) and bool(links) and all(only_links(line) for line in lines)


def load_pdf(data: bytes, article_id: str, where: str) -> Article:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise LoadError("not a PDF file (no %PDF header)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise LoadError("PDF is encrypted with a password")
            except LoadError:
                raise
            except Exception as exc:
                raise LoadError(f"PDF is encrypted and cannot be opened: {exc}") from exc
        pages = [page.extract_text() or "" for page in reader.pages]
        meta = reader.metadata or {}
    except LoadError:
        raise
    except (PdfReadError, Exception) as exc:  # pypdf raises many types on damaged files
        raise LoadError(f"damaged or truncated PDF: {exc}") from exc
    text = clean_text("\n\n".join(pages))
    if not text:
        raise LoadError("PDF has no extractable text (scanned images?)")
    meta_title = str(meta.get("/Title") or "").strip() if hasattr(meta, "get") else ""
    title, body = (meta_title, text) if meta_title else split_title(text)
    created = getattr(reader.metadata, "creation_date", None) if reader.metadata else None
    author = str(meta.get("/Author") or "").strip() if hasattr(meta, "get") else ""
    return Article(
        id=article_id, title=title, text=body or text, published=parse_date(created),
        authors=[author] if author else [], origin=where,
    )


JSONL_FIELDS = "url, title, text, published, source, authors"


def article_from_record(rec: dict, where: str) -> Article:
    if not isinstance(rec, dict):
        raise LoadError(f"expected a JSON object with {JSONL_FIELDS}")
    text = rec.get("text")
    if not isinstance(text, str) or not text.strip():
        raise LoadError("record has no 'text'")
    url = str(rec.get("url") or "").strip()
    title = str(rec.get("title") or "").strip()
    body = clean_text(text)
    if not title:
        first = body.split("\n", 1)[0].strip()
        title = first[:120] if len(first) <= 200 else first[:120] + "…"
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
        yield from _guard(here, lambda rec=rec, here=here: [article_from_record(rec, here)], settings)
    if not records:
        yield LoadFailure(where, "no JSON records in the file (only blank lines)")


def load_feed(data: bytes | str, where: str, settings: Settings) -> Iterator[Item]:
    import feedparser

    feed = feedparser.parse(data)
    if not feed.entries:
        reason = getattr(feed, "bozo_exception", None)
        raise LoadError(f"not an RSS/Atom feed or it has no entries{f' ({reason})' if reason else ''}")
    site = (feed.feed.get("title") or "").strip()
    for n, entry in enumerate(feed.entries, 1):
        here = f"{where}#entry{n}"
        yield from _guard(here, lambda entry=entry, here=here: [_feed_entry(entry, site, here, settings)], settings)


def _feed_entry(entry, site: str, where: str, settings: Settings) -> Article:
    link = (entry.get("link") or "").strip()
    title = normalize_text(entry.get("title") or "").strip()
    published = None
    for key in ("published_parsed", "updated_parsed"):
        if entry.get(key):
            published = dt.date(*entry[key][:3])
            break
    published = published or parse_date(entry.get("published") or entry.get("updated"))
    authors = [a.get("name", "") for a in entry.get("authors", []) if a.get("name")]
    if link.startswith(("http://", "https://")):
        try:
            art = load_url(link, settings, single=True)[0]
            art.title = art.title or title
            art.source = art.source or site
            art.published = art.published or published
            art.authors = art.authors or authors
            art.origin = where
            return art
        except LoadError:
            pass  # offline or extraction failed: fall back to the entry's own text
    summary = entry.get("content", [{}])[0].get("value") if entry.get("content") else entry.get("summary", "")
    text = _html_to_text(summary or "")
    if not text:
        raise LoadError("feed entry has no text and its link could not be fetched")
    return Article(
        id=link or entry.get("id") or f"{where}", title=title or text[:80], text=text,
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


def fetch(url: str, settings: Settings) -> tuple[bytes, str, str]:
    import httpx

    try:
        with httpx.Client(timeout=settings.fetch_timeout_s, follow_redirects=True,
                          headers={"User-Agent": "news-qa/0.1 (+offline-first news QA)"}) as client:
            resp = client.get(url)
    except httpx.TimeoutException as exc:
        raise LoadError(f"timed out after {settings.fetch_timeout_s:.0f} s fetching the URL") from exc
    except httpx.HTTPError as exc:
        raise LoadError(f"cannot fetch the URL (offline or unreachable): {exc}") from exc
    if resp.status_code >= 400:
        raise LoadError(f"the server answered HTTP {resp.status_code}")
    if len(resp.content) > settings.max_file_bytes:
        raise LoadError("the page is larger than QA_MAX_FILE_BYTES")
    return resp.content, resp.headers.get("content-type", ""), str(resp.url)


def load_url(url: str, settings: Settings, single: bool = False) -> list[Item]:
    data, ctype, final = fetch(url, settings)
    ctype = ctype.lower()
    if "pdf" in ctype or data[:5] == b"%PDF-":
        return [load_pdf(data, final, url)]
    head = data[:500].lower()
    if not single and ("rss" in ctype or "atom" in ctype or b"<rss" in head or b"<feed" in head):
        return list(load_feed(data, url, settings))
    art = load_html(data, final, url, url=final)
    if not art.url:
        art.url = final
    return [art]
