"""Answers, evidence and index facts as safe HTML for the web chat (``web.chat``).

Everything that comes from an article or a model is escaped: ``html.escape``
first, then the characters Markdown, GFM autolinks and LaTeX react to become
numeric entities, so a title such as ``[click](javascript:alert(1))`` shows as
text even when the chat renders Markdown. The only links are built here, from
``Citation.url``, and only for ``http(s)`` URLs. The HTML has no newlines, so a
Markdown renderer sees one raw HTML block and leaves it alone.

Each ``[n]`` marker becomes a ``<details>`` element: hovering shows the title,
site, date and quote as a tooltip; clicking opens the passage with the
supporting quote highlighted. Sentences the citation check could not support
are marked, and a refusal reads as "the articles don't cover this", not as an
error.
"""

from __future__ import annotations

import html
import re
from typing import Iterable
from urllib.parse import urlsplit

from qa.citations import MARKER
from qa.export import plain_url
from qa.types import Answer, Citation, Evidence

# After html.escape, the characters that Markdown (and GFM extensions, KaTeX
# delimiters) give meaning to become character references too. html.escape's own
# output holds none of them, so nothing is escaped twice.
_MD_ESCAPES = {ord(c): f"&#{ord(c)};" for c in "[]()*_`~$\\|!{}:+=^"}
_WS = re.compile(r"\s+")
_MARKER_RUN = re.compile(r"(?:\s*" + MARKER.pattern + r")+")
_PUNCT_AFTER = re.compile(r"[.!?,;:]+[\"”’)]*")


def esc(text: object) -> str:
    """Escape text for HTML and neutralise Markdown syntax; newlines become spaces."""
    flat = _WS.sub(" ", str(text if text is not None else ""))
    return html.escape(flat, quote=True).translate(_MD_ESCAPES)


def esc_attr(text: object) -> str:
    """Escape text for a double-quoted attribute value (tooltips)."""
    return esc(text).replace("\n", " ")


def safe_url(url: str | None) -> str | None:
    """The URL if it is a plain absolute http(s) URL, else None (never linked): the export's rule."""
    return plain_url(url) if isinstance(url, str) else None


def link(url: str | None, label: str, cls: str = "qa-link") -> str:
    """An external link to a safe URL with an escaped label; plain escaped text otherwise."""
    good = safe_url(url)
    if not good:
        return esc(label)
    href = html.escape(good, quote=True)
    return f'<a class="{cls}" href="{href}" target="_blank" rel="noopener noreferrer nofollow">{esc(label)}</a>'


def site_label(c: Citation) -> str:
    if c.source:
        return c.source
    good = safe_url(c.url)
    return (urlsplit(good).hostname or "") if good else ""


def date_label(published: str | None) -> str:
    return published if published and published != "undated" else "undated"


# --- the answer -----------------------------------------------------------------

def highlight(passage: str, quote: str) -> str:
    """The passage, escaped, with the quote wrapped in <mark> (found despite whitespace changes)."""
    passage = _WS.sub(" ", passage or "").strip()
    quote = _WS.sub(" ", quote or "").strip()
    if not passage:
        return f'<mark class="qa-quote">{esc(quote)}</mark>' if quote else ""
    if quote:
        i = passage.find(quote)
        if i < 0:
            i = passage.lower().find(quote.lower())
        if i >= 0:
            j = i + len(quote)
            return f'{esc(passage[:i])}<mark class="qa-quote">{esc(passage[i:j])}</mark>{esc(passage[j:])}'
        return f'<mark class="qa-quote">{esc(quote)}</mark> <span class="qa-context">…</span> {esc(passage)}'
    return esc(passage)


def citation_marker(c: Citation) -> str:
    """The inline [n]: tooltip on hover, the passage with its quote on click."""
    site = site_label(c)
    tip = f"[{c.index}] {c.title}" + (f" — {site}" if site else "") + f", {date_label(c.published)}: “{c.quote}”"
    meta = " · ".join(esc(x) for x in (site, date_label(c.published)) if x)
    title = link(c.url, c.title or "(untitled)", "qa-link qa-pop-title") if safe_url(c.url) else (
        f'<span class="qa-pop-title">{esc(c.title or "(untitled)")}</span>'
    )
    return (
        f'<details class="qa-cite" data-cite="{c.index}">'
        f'<summary title="{esc_attr(tip)}" aria-label="Source {c.index}">{c.index}</summary>'
        f'<span class="qa-pop" role="note">'
        f'<span class="qa-pop-head"><span class="qa-pop-n">[{c.index}]</span> {title}</span>'
        f'<span class="qa-pop-meta">{meta}</span>'
        f'<span class="qa-passage">{highlight(c.passage, c.quote)}</span>'
        f"</span></details>"
    )


def _flagged_spans(text: str, flagged: Iterable[str]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for sent in flagged:
        sent = (sent or "").strip()
        if not sent:
            continue
        start = 0
        while True:
            i = text.find(sent, start)
            if i < 0:
                break
            if not any(a < i + len(sent) and i < b for a, b in spans):
                spans.append((i, i + len(sent)))
                break
            start = i + 1
    return sorted(spans)


def answer_body(text: str, citations: list[Citation], flagged: Iterable[str] = ()) -> str:
    """Answer text with markers as citation elements and unsupported sentences marked."""
    by_n = {c.index: c for c in citations}
    spans = _flagged_spans(text, flagged)
    out: list[str] = []

    def plain(segment: str) -> str:
        parts, last = [], 0
        for run in _MARKER_RUN.finditer(segment):
            nums: list[int] = []
            for m in MARKER.finditer(run.group(0)):
                nums.extend(int(n) for n in re.split(r"\s*[,;]\s*", m.group(1)) if int(n) not in nums)
            if not all(n in by_n for n in nums):
                parts.append(esc(segment[last:run.end()]))
                last = run.end()
                continue
            # "claim [1]." reads as "claim.[1]": an opened passage then follows the sentence
            punct = _PUNCT_AFTER.match(segment, run.end())
            parts.append(esc(segment[last:run.start()].rstrip()))
            if punct:
                parts.append(esc(punct.group(0)))
            parts.append('<span class="qa-cites">' + "".join(citation_marker(by_n[n]) for n in nums) + "</span>")
            last = punct.end() if punct else run.end()
        parts.append(esc(segment[last:]))
        return "".join(parts)

    pos = 0
    for a, b in spans:
        out.append(plain(text[pos:a]))
        out.append(
            '<span class="qa-flagged" title="No indexed passage supports this sentence">'
            f"{plain(text[a:b])}</span>"
        )
        pos = b
    out.append(plain(text[pos:]))
    return "".join(out)


def source_list(citations: list[Citation]) -> str:
    if not citations:
        return ""
    items = []
    for c in sorted(citations, key=lambda c: c.index):
        site = site_label(c)
        meta = " · ".join(esc(x) for x in (site, date_label(c.published)) if x)
        items.append(
            f'<li class="qa-source" data-cite="{c.index}"><span class="qa-source-n">[{c.index}]</span> '
            f'{link(c.url, c.title or "(untitled)")} <span class="qa-source-meta">{meta}</span></li>'
        )
    return '<div class="qa-sources"><div class="qa-sources-h">Sources</div><ul>' + "".join(items) + "</ul></div>"


def meta_line(answer: Answer) -> str:
    total = answer.timings.get("total")
    took = f" · {total:.1f} s" if isinstance(total, (int, float)) else ""
    read_as = ""
    standalone = (answer.standalone_question or "").strip()
    if standalone and standalone != answer.question.strip():
        read_as = f'<div class="qa-rewrite">Follow-up read as: “{esc(standalone)}”</div>'
    return f'{read_as}<div class="qa-meta">Answered by {esc(answer.answerer)} · {esc(answer.model)}{took}</div>'


def render_answer(answer: Answer) -> str:
    """The checked Answer as one HTML block: text with citations, flags, sources, who answered."""
    if answer.refused:
        return render_refusal(answer)
    body = answer_body(answer.text, answer.citations, answer.flagged)
    flags = ""
    n_flag = len([f for f in answer.flagged if f.strip()])
    if n_flag:
        flags = (
            '<div class="qa-flag-note">⚠ '
            + ("1 sentence" if n_flag == 1 else f"{n_flag} sentences")
            + " could not be matched to a passage and "
            + ("is" if n_flag == 1 else "are")
            + " marked: treat "
            + ("it" if n_flag == 1 else "them")
            + " with care.</div>"
        )
    return (
        f'<div class="qa-answer"><div class="qa-text">{body}</div>{flags}'
        f"{source_list(answer.citations)}{meta_line(answer)}</div>"
    )


def render_refusal(answer: Answer) -> str:
    seen = []
    for p in answer.passages:
        if p.title not in seen:
            seen.append(p.title)
    searched = ""
    if seen:
        searched = (
            '<div class="qa-refusal-searched">Closest articles searched: '
            + "; ".join(esc(t) for t in seen[:4]) + "</div>"
        )
    said = ""
    if answer.text and answer.text.strip() and answer.text.strip() != "The articles don't say.":
        said = f'<div class="qa-refusal-said">The answerer said: “{esc(answer.text.strip())}”</div>'
    return (
        '<div class="qa-answer qa-refused"><div class="qa-refusal-h">The articles don\'t cover this</div>'
        '<div class="qa-refusal-p">None of the indexed articles answers this question, so no answer is given '
        "rather than a guess. Try rephrasing, loosening the date or source filters, or adding articles about it.</div>"
        f"{searched}{said}{meta_line(answer)}</div>"
    )


# --- while streaming -----------------------------------------------------------------

def render_evidence(ev: Evidence, question: str | None = None) -> str:
    """The first thing shown: which articles the answer will come from."""
    titles: list[str] = []
    for p in ev.passages:
        if p.title not in titles:
            titles.append(p.title)
    if not ev.passages:
        found = "No matching passages found."
    else:
        n = len(ev.passages)
        found = (
            f"Found {n} passage{'s' if n != 1 else ''} in: "
            + "; ".join(f"<cite>{esc(t or '(untitled)')}</cite>" for t in titles)
        )
    rewrite = ""
    asked = _WS.sub(" ", question or "").strip()
    if asked and ev.standalone_question and ev.standalone_question.strip() != asked:
        rewrite = f'<div class="qa-rewrite">Follow-up read as: “{esc(ev.standalone_question)}”</div>'
    return f'<div class="qa-evidence">{found}{rewrite}{evidence_sentences(ev)}</div>'


MAX_EVIDENCE_SENTENCES = 6


def _sentence_rows(ev: Evidence) -> list[tuple[int, str, object, int | None, str]]:
    """(n, text, answer span, 1-based passage, context) for each evidence sentence.

    The numbered ``Evidence.sentences`` when the core provides them; otherwise
    ``best_sentences``, attributed to the first passage that contains them, so
    a reader still sees where each one comes from.
    """
    rows: list[tuple[int, str, object, int | None, str]] = []
    sentences = getattr(ev, "sentences", None)
    if sentences:
        for i, s in enumerate(sentences, 1):
            get = s.get if isinstance(s, dict) else (lambda k, d=None, s=s: getattr(s, k, d))
            rows.append((int(get("n", i) or i), str(get("text", "") or ""), get("answer_span"), get("passage"),
                         str(get("context", "") or "")))
        return rows
    flat = [_WS.sub(" ", p.text or "") for p in ev.passages]
    for i, text in enumerate(ev.best_sentences or [], 1):
        want = _WS.sub(" ", text or "").strip()
        where = next((j for j, body in enumerate(flat, 1) if want and want in body), None)
        rows.append((i, text, None, where, ""))
    return rows


def _marked(text: str, span: object) -> str:
    """The sentence escaped, with the answer span (character range or substring) in <mark>."""
    start = end = -1
    if isinstance(span, (tuple, list)) and len(span) == 2 and all(isinstance(x, int) for x in span):
        start, end = span
    elif isinstance(span, str) and span.strip():
        start = text.find(span.strip())
        end = start + len(span.strip()) if start >= 0 else -1
    if 0 <= start < end <= len(text):
        return f'{esc(text[:start])}<mark class="qa-span">{esc(text[start:end])}</mark>{esc(text[end:])}'
    return esc(text)


def evidence_sentences(ev: Evidence) -> str:
    """The evidence sentences, numbered, each with the article it comes from: shown before the answer."""
    rows = [r for r in _sentence_rows(ev) if _WS.sub("", r[1])][:MAX_EVIDENCE_SENTENCES]
    if not rows:
        return ""
    items = []
    for n, text, span, where, context in rows:
        src = ""
        if isinstance(where, int) and 1 <= where <= len(ev.passages):
            p = ev.passages[where - 1]
            meta = " · ".join(esc(x) for x in (p.source, date_label(p.published)) if x)
            src = (f' <span class="qa-ev-src">— {link(p.url, p.title or "(untitled)")}'
                   f'{" · " + meta if meta else ""}</span>')
        items.append(f'<li class="qa-ev" data-n="{int(n)}"><span class="qa-ev-n">{int(n)}</span> '
                     + (f'<span class="qa-ev-context">{esc(context)}</span> ' if context.strip() else "")
                     + f'<span class="qa-ev-text">{_marked(text, span)}</span>{src}</li>')
    return '<ol class="qa-ev-list">' + "".join(items) + "</ol>"


def render_streaming(evidence_html: str, text: str, done: bool = False) -> str:
    """Evidence, then the raw text as it is generated (escaped), before the citation check."""
    cursor = "" if done else '<span class="qa-cursor">▍</span>'
    status = "Checking citations…" if done else "Writing the answer…"
    return (
        f'<div class="qa-streaming">{evidence_html}<div class="qa-text qa-raw">{esc(text)}{cursor}</div>'
        f'<div class="qa-meta">{status}</div></div>'
    )


def render_rereading(evidence_html: str, more: Evidence) -> str:
    """Evidence, then the next sentences being read because the first ones gave no answer that
    held up: a second reading takes seconds and writes nothing on screen until it is decided."""
    n = len(more.sentences)
    return (
        f'<div class="qa-streaming">{evidence_html}<div class="qa-reread">'
        f'<div class="qa-meta">No answer held up in those sentences; reading {n} more…</div>'
        f'{evidence_sentences(more)}</div></div>'
    )


def render_thinking() -> str:
    return '<div class="qa-evidence">Searching the articles…</div>'


def render_error(message: str, kind: str = "error") -> str:
    """A problem the user can act on (bad question, store or LLM down), never a traceback."""
    head = {"input": "Cannot ask that", "error": "Something is not working"}.get(kind, "Something is not working")
    return (
        f'<div class="qa-error" role="alert"><div class="qa-error-h">⚠ {esc(head)}</div>'
        f'<div class="qa-error-p">{esc(message)}</div></div>'
    )


# --- side panel -----------------------------------------------------------------

def render_stats(stats: dict, answerer: str = "", model: str = "") -> str:
    n = int(stats.get("articles") or 0)
    chunks = int(stats.get("chunks") or 0)
    sources: dict = stats.get("sources") or {}
    parts = ['<div class="qa-stats">']
    if n == 0:
        parts.append('<div class="qa-stats-n">No articles indexed yet.</div>'
                     '<div class="qa-stats-p">Add files or URLs below to start asking questions.</div>')
    else:
        parts.append(
            f'<div class="qa-stats-n"><b>{n:,}</b> article{"s" if n != 1 else ""} · {chunks:,} passages</div>'
        )
        first, last = stats.get("first_published"), stats.get("last_published")
        if first and last:
            span = esc(first) if first == last else f"{esc(first)} → {esc(last)}"
            parts.append(f'<div class="qa-stats-dates">Dates: {span}</div>')
        else:
            parts.append('<div class="qa-stats-dates">Dates: all undated</div>')
        if sources:
            items = "".join(
                f"<li>{esc(name)} <span class=\"qa-count\">{int(count)}</span></li>"
                for name, count in list(sources.items())[:12]
            )
            more = len(sources) - 12
            extra = f"<li>… and {more} more</li>" if more > 0 else ""
            parts.append(f'<ul class="qa-stats-sources">{items}{extra}</ul>')
    if answerer:
        parts.append(f'<div class="qa-stats-model">Answerer: <b>{esc(answerer)}</b> · {esc(model)}</div>')
    parts.append("</div>")
    return "".join(parts)


def render_ingest(rows: list[tuple[str, str, str]], running: bool = False, note: str = "") -> str:
    """Per-file results: (status, name, detail) with status indexed / unchanged / failed."""
    if not rows and not running and not note:
        return ""
    counts = {k: sum(1 for r in rows if r[0] == k) for k in ("indexed", "unchanged", "failed")}
    head = " · ".join(f"{v} {k}" for k, v in counts.items() if v) or "nothing yet"
    status = '<span class="qa-spinner"></span> Working… ' if running else ""
    items = "".join(
        f'<li class="qa-ingest-{esc(st)}"><span class="qa-badge">{esc(st)}</span> '
        f'<span class="qa-ingest-name">{esc(name)}</span>'
        + (f' <span class="qa-ingest-detail">{esc(detail)}</span>' if detail else "")
        + "</li>"
        for st, name, detail in rows
    )
    note_html = f'<div class="qa-ingest-note">{esc(note)}</div>' if note else ""
    return f'<div class="qa-ingest"><div class="qa-ingest-h">{status}{head}</div>{note_html}<ul>{items}</ul></div>'


CSS = """
.qa-answer, .qa-evidence, .qa-streaming, .qa-error { line-height: 1.55; }
.qa-text { white-space: normal; }
.qa-evidence { color: var(--body-text-color-subdued); font-size: 0.92em; }
.qa-evidence cite { font-style: normal; font-weight: 600; }
.qa-raw { margin-top: .4em; }
.qa-reread { margin-top: .5em; font-size: 0.92em; }
.qa-ev-list { list-style: none; padding-left: 0; margin: .35em 0 0; }
.qa-ev { margin: .2em 0; padding-left: .5em; border-left: 3px solid var(--border-color-primary, #d4d4d8); }
.qa-ev-n { font-weight: 700; color: var(--color-accent, #4f46e5); margin-right: .2em; }
.qa-ev-text { color: var(--body-text-color, inherit); }
.qa-ev-src { font-size: .9em; }
.qa-ev-context { color: var(--body-text-color-subdued, #71717a); }
mark.qa-span { background: #fde68a; color: inherit; padding: 0 .1em; border-radius: .2em; }
.qa-cursor { animation: qa-blink 1s steps(1) infinite; }
@keyframes qa-blink { 50% { opacity: 0; } }
.qa-cites { white-space: nowrap; }
details.qa-cite { display: inline; position: relative; }
details.qa-cite > summary { display: inline-block; list-style: none; cursor: pointer; font-size: .78em;
  font-weight: 700; line-height: 1.3; padding: 0 .42em; margin: 0 .08em; border-radius: .6em;
  vertical-align: super; background: var(--color-accent-soft, #e0e7ff); color: var(--color-accent, #4338ca);
  border: 1px solid var(--color-accent, #6366f1); }
details.qa-cite > summary::-webkit-details-marker { display: none; }
details.qa-cite > summary::before { content: "["; } details.qa-cite > summary::after { content: "]"; }
details.qa-cite[open] > summary { background: var(--color-accent, #4f46e5); color: #fff; }
details.qa-cite > summary:hover { filter: brightness(0.93); }
.qa-pop { display: block; margin: .45em 0 .6em; padding: .6em .75em; border-radius: .5em; white-space: normal;
  border: 1px solid var(--border-color-primary, #d4d4d8); border-left: 4px solid var(--color-accent, #6366f1);
  background: var(--background-fill-secondary, #f8fafc); font-size: .93em; max-height: 22em; overflow-y: auto; }
.qa-pop-head { display: block; font-weight: 600; }
.qa-pop-n { color: var(--color-accent, #4f46e5); }
.qa-pop-meta { display: block; color: var(--body-text-color-subdued, #71717a); font-size: .9em; margin-bottom: .35em; }
.qa-passage { display: block; }
mark.qa-quote { background: #fde68a; color: inherit; padding: 0 .1em; border-radius: .2em; }
.qa-flagged { text-decoration: underline wavy #d97706; text-underline-offset: 3px; background: rgba(251,191,36,.12); }
.qa-flag-note { margin-top: .45em; font-size: .88em; color: #b45309; }
.qa-sources { margin-top: .7em; padding-top: .45em; border-top: 1px solid var(--border-color-primary, #e4e4e7); font-size: .88em; }
.qa-sources-h { font-weight: 600; font-size: .85em; text-transform: uppercase; letter-spacing: .04em;
  color: var(--body-text-color-subdued, #71717a); }
.qa-sources ul { list-style: none; padding-left: 0; margin: .25em 0 0; }
.qa-source-n { font-weight: 700; color: var(--color-accent, #4f46e5); }
.qa-source-meta, .qa-meta { color: var(--body-text-color-subdued, #71717a); }
.qa-meta { margin-top: .45em; font-size: .8em; }
.qa-rewrite { margin-top: .45em; font-size: .8em; color: var(--body-text-color-subdued, #71717a); font-style: italic; }
.qa-refused { border-left: 4px solid #64748b; padding-left: .7em; }
.qa-refusal-h { font-weight: 700; }
.qa-refusal-p { margin-top: .2em; }
.qa-refusal-searched, .qa-refusal-said { margin-top: .35em; font-size: .88em; color: var(--body-text-color-subdued, #71717a); }
.qa-error { border-left: 4px solid #dc2626; padding-left: .7em; }
.qa-error-h { font-weight: 700; color: #b91c1c; }
.qa-stats-n { font-size: 1.05em; }
.qa-stats-dates, .qa-stats-model { margin-top: .25em; font-size: .92em; }
.qa-stats-sources { margin: .35em 0 0; padding-left: 1.1em; font-size: .9em; }
.qa-count { color: var(--body-text-color-subdued, #71717a); font-size: .85em; }
.qa-count::before { content: "("; } .qa-count::after { content: ")"; }
.qa-ingest ul { list-style: none; padding-left: 0; margin: .3em 0 0; font-size: .9em; }
.qa-ingest li { margin: .15em 0; overflow-wrap: anywhere; }
.qa-ingest-h { font-weight: 600; }
.qa-badge { display: inline-block; font-size: .78em; font-weight: 700; padding: 0 .45em; border-radius: .5em; text-transform: uppercase; }
.qa-ingest-indexed .qa-badge { background: #dcfce7; color: #166534; }
.qa-ingest-unchanged .qa-badge { background: #e0e7ff; color: #3730a3; }
.qa-ingest-failed .qa-badge { background: #fee2e2; color: #991b1b; }
.qa-ingest-detail { color: var(--body-text-color-subdued, #71717a); }
.qa-spinner { display: inline-block; width: .8em; height: .8em; border: 2px solid #a5b4fc; border-top-color: transparent;
  border-radius: 50%; animation: qa-spin .8s linear infinite; vertical-align: -0.1em; }
@keyframes qa-spin { to { transform: rotate(360deg); } }
"""
