"""Split an article into overlapping, sentence-aware chunks with stable ids.

The embedded text starts with the title, site and date so a chunk retrieved on
its own still says what it is; ``text_offset`` lets qa quote the passage
without that header.
"""

from __future__ import annotations

import hashlib
import re
import re

from langchain_text_splitters import RecursiveCharacterTextSplitter

from qa.dates import to_days

from .models import Article, Chunk


def chunk_id(article_id: str, text: str, position: int) -> str:
    h = hashlib.sha256(f"{article_id}\0{position}\0{text}".encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:32]


def header(article: Article) -> str:
    date = article.published.isoformat() if article.published else "undated"
    parts = [p for p in (article.source, date) if p]
    return f"{article.title}\n{' · '.join(parts)}\n\n"


# Where a carried-over overlap may begin: after a sentence end or a line break, else after a space.
_SENTENCE_START = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”’)]))\s+(?=\S)|\n\s*(?=\S)")
_WORD_START = re.compile(r"\s+(?=\S)")


def split_text(text: str, size: int, overlap: int) -> list[str]:
    """Pack whole sentences into chunks of at most ``size`` characters.

    Each chunk starts at a sentence boundary and repeats the previous chunk's
    last sentences (up to ``overlap`` characters) so a fact that spans the
    boundary is whole in one of them. Sentences longer than ``size`` are cut
    by LangChain's recursive splitter (clauses, then words).
    """
    units: list[tuple[str, bool]] = []  # (sentence, starts a new paragraph)
    for para in re.split(r"\n\s*\n", text):
        for i, sent in enumerate(_sentences(para)):
            if len(sent) <= size:
                units.append((sent, i == 0))
            else:
                units.extend((piece, i == 0 and j == 0) for j, piece in enumerate(_long_splitter(size).split_text(sent)))
    chunks: list[str] = []
    cur: list[tuple[str, bool]] = []
    for unit in units:
        if cur and _joined_len(cur + [unit]) > size:
            chunks.append(_join(cur))
            carry: list[tuple[str, bool]] = []
            for prev in reversed(cur):
                if _joined_len([prev] + carry + [unit]) > min(overlap, size // 2) + len(unit[0]) + 2:
                    break
                carry.insert(0, prev)
            cur = carry
        cur.append(unit)
    if cur:
        chunks.append(_join(cur))
    return [c for c in chunks if c.strip()]


_SENT = re.compile(r"(?<=[.!?])[\"”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9])")


def _sentences(para: str) -> list[str]:
    out = []
    for line in para.split("\n"):
        out.extend(s.strip() for s in _SENT.split(line.strip()) if s.strip())
    return out


def _long_splitter(size: int) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        chunk_size=size, chunk_overlap=0, separators=[r"(?<=[;:,])\s+", r"\s+", ""],
        is_separator_regex=True, keep_separator=True, strip_whitespace=True,
    )


def _join(units: list[tuple[str, bool]]) -> str:
    out = ""
    for i, (sent, new_para) in enumerate(units):
        out += sent if i == 0 else ("\n\n" if new_para else " ") + sent
    return out


def _joined_len(units: list[tuple[str, bool]]) -> int:
    return sum(len(s) for s, _ in units) + 2 * max(0, len(units) - 1)


def chunk_article(article: Article, size: int = 1000, overlap: int = 150) -> list[Chunk]:
    head = header(article)
    base = {
        "article_id": article.id,
        "title": article.title,
        "url": article.url,
        "source": article.source,
        "published": article.published.isoformat() if article.published else "",
        "published_days": to_days(article.published),
        "authors": ", ".join(article.authors),
        "text_offset": len(head),
        "article_hash": article.content_hash,
        "origin": article.origin,
    }
    pieces = split_text(article.text, size, overlap) or ([article.title] if article.title else [])
    chunks = []
    for pos, piece in enumerate(pieces):
        meta = dict(base, position=pos)
        chunks.append(Chunk(chunk_id(article.id, piece, pos), article.id, pos, piece, head + piece, meta))
    return chunks
