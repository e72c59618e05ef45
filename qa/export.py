"""Answers as portable text: Markdown with numbered footnotes, JSON, and plain text.

An exported answer has to keep its sources when it leaves the app (a pasted
answer whose links are gone is an uncited claim). So every ``[n]`` marker
becomes a Markdown footnote reference ``[^n]`` and each footnote carries what a
reader needs to check it without us: title, outlet, date, link and the quoted
sentence. The JSON form holds the same facts for programs. Nothing here knows
about HTML; the web chat and the CLI both call these functions.
"""

from __future__ import annotations

import json
import re
from typing import Iterable, Sequence
from urllib.parse import urlsplit

from .citations import MARKER
from .types import Answer, Citation

# Characters that would end a footnote label, open a link, an autolink or HTML, or start
# emphasis, a heading or a table cell when a title or quote lands inside Markdown. With
# brackets escaped, parentheses and "!" can no longer form a link or image, so they stay as-is.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#+|~])")
_WS = re.compile(r"\s+")
_MARKER_NUMS = re.compile(r"\s*[,;]\s*")


def _flat(text: object) -> str:
    """One line of text: a newline inside a title would end a footnote early."""
    return _WS.sub(" ", str(text or "")).strip()


def md_escape(text: object) -> str:
    """Text that Markdown shows literally (no links, emphasis or footnote syntax)."""
    return _MD_SPECIAL.sub(r"\\\1", _flat(text))


def plain_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL safe to put in ``<…>``; otherwise None (not linked)."""
    url = (url or "").strip()
    if not url or any(ord(ch) < 33 or ord(ch) == 127 or ch in "<>\"'`\\" for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def date_label(published: str | None) -> str:
    return published if published and published != "undated" else "undated"


def _marker_numbers(match: re.Match) -> list[int]:
    return [int(n) for n in _MARKER_NUMS.split(match.group(1))]


def _with_footnote_refs(text: str, known: set[int], prefix: str) -> str:
    """``[1, 2]`` → ``[^p1][^p2]`` for markers that have a citation; others stay as they are, escaped."""
    out, last = [], 0
    for m in MARKER.finditer(text):
        nums = _marker_numbers(m)
        out.append(md_escape_keep_spaces(text[last:m.start()]))
        if all(n in known for n in nums):
            out.append("".join(f"[^{prefix}{n}]" for n in nums))
        else:
            out.append(md_escape_keep_spaces(m.group(0)))
        last = m.end()
    out.append(md_escape_keep_spaces(text[last:]))
    return "".join(out)


def md_escape_keep_spaces(text: str) -> str:
    """Like :func:`md_escape` but keeps the spacing around markers (text pieces between them)."""
    return _MD_SPECIAL.sub(r"\\\1", text.replace("\r", "").replace("\n", " "))


def footnote(c: Citation, prefix: str = "") -> str:
    """``[^n]: Title. Outlet, date. <url> "quote"`` on one line."""
    parts = [f"[^{prefix}{c.index}]: {md_escape(c.title) or '(untitled)'}."]
    meta = ", ".join(x for x in (md_escape(c.source), date_label(c.published)) if x)
    parts.append(f"{meta}.")
    url = plain_url(c.url)
    if url:
        parts.append(f"<{url}>")
    if _flat(c.quote):
        parts.append(f"“{md_escape(c.quote)}”")
    return " ".join(parts)


def answer_markdown(answer: Answer, *, heading: bool = True, prefix: str = "") -> str:
    """One answer as Markdown: the question, the text with footnote references, the footnotes.

    ``prefix`` keeps footnote labels unique when several answers share one
    document (a whole chat): answer 2's ``[1]`` becomes ``[^2-1]``.
    """
    lines: list[str] = []
    if heading:
        lines += [f"## {md_escape(answer.question)}", ""]
    cited = sorted(answer.citations, key=lambda c: c.index)
    if answer.refused:
        lines.append("_The indexed articles don't cover this; no answer was given._")
    else:
        lines.append(_with_footnote_refs(answer.text.strip(), {c.index for c in cited}, prefix))
    if answer.flagged and not answer.refused:
        lines += ["", "Not supported by the articles:"]
        lines += [f"- {md_escape(s)}" for s in answer.flagged if _flat(s)]
    if cited and not answer.refused:
        lines.append("")
        lines += [footnote(c, prefix) for c in cited]
    lines += ["", f"_Answered by {md_escape(answer.answerer)} · {md_escape(answer.model)}_"]
    return "\n".join(lines) + "\n"


def chat_markdown(answers: Sequence[Answer], title: str = "News Q&A") -> str:
    """A whole conversation, one section per answer, footnotes kept apart by answer number."""
    body = [f"# {md_escape(title)}", ""]
    for i, a in enumerate(answers, 1):
        body.append(answer_markdown(a, prefix=f"{i}-" if len(answers) > 1 else ""))
    return "\n".join(body)


def citation_dict(c: Citation) -> dict:
    """The fields a reader needs, under the names the HTTP API uses too."""
    return {"index": c.index, "title": c.title, "url": c.url, "source": c.source,
            "date": date_label(c.published), "quote": c.quote}


def answer_dict(answer: Answer) -> dict:
    return {
        "question": answer.question,
        "text": answer.text,
        "refused": answer.refused,
        "citations": [citation_dict(c) for c in sorted(answer.citations, key=lambda c: c.index)],
        "flagged": list(answer.flagged),
        "answerer": answer.answerer,
        "model": answer.model,
    }


def answer_json(answer: Answer) -> str:
    return json.dumps(answer_dict(answer), ensure_ascii=False, indent=2) + "\n"


def chat_json(answers: Iterable[Answer]) -> str:
    return json.dumps({"answers": [answer_dict(a) for a in answers]}, ensure_ascii=False, indent=2) + "\n"


def answer_text(answer: Answer) -> str:
    """Plain text for a terminal: the answer, then numbered sources with their quotes."""
    lines = [answer.text.strip()]
    if answer.flagged:
        lines += ["", "Not supported by the articles:"] + [f"  - {_flat(s)}" for s in answer.flagged]
    if answer.citations:
        lines += ["", "Sources:"]
        for c in sorted(answer.citations, key=lambda c: c.index):
            site = _flat(c.source) or "unknown source"
            url = plain_url(c.url)
            lines.append(f"  [{c.index}] {_flat(c.title)} — {site}, {date_label(c.published)}"
                         + (f" — {url}" if url else ""))
            lines.append(f"      “{_flat(c.quote)}”")
    return "\n".join(lines) + "\n"
