"""Split an article into overlapping, sentence-aware chunks with stable ids.

The embedded text starts with the title, site and date so a chunk retrieved on
its own still says what it is; ``text_offset`` lets qa quote the passage
without that header.
"""

from __future__ import annotations

import hashlib

from langchain_text_splitters import RecursiveCharacterTextSplitter

from qa.dates import to_days

from .models import Article, Chunk

# Paragraphs, then lines, then sentence ends, then clauses, then words.
_SEPARATORS = ["\n\n", "\n", r"(?<=[.!?])\s+", r"(?<=[;:])\s+", r"(?<=,)\s+", r"\s+", ""]


def chunk_id(article_id: str, text: str, position: int) -> str:
    h = hashlib.sha256(f"{article_id}\0{position}\0{text}".encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:32]


def header(article: Article) -> str:
    date = article.published.isoformat() if article.published else "undated"
    parts = [p for p in (article.source, date) if p]
    return f"{article.title}\n{' · '.join(parts)}\n\n"


def split_text(text: str, size: int, overlap: int) -> list[str]:
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=size,
        chunk_overlap=min(overlap, size // 2),
        separators=_SEPARATORS,
        is_separator_regex=True,
        keep_separator=True,  # joined with "", so the separators must stay in the pieces
        strip_whitespace=True,
    )
    return [t for t in splitter.split_text(text) if t.strip()]


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
