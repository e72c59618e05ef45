"""Split an article into overlapping, sentence-aware chunks with stable ids.

The embedded text starts with the title, site and date so a chunk retrieved on
its own still says what it is; ``text_offset`` lets qa quote the passage
without that header.
"""

from __future__ import annotations

import hashlib
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


def split_text(text: str, size: int, overlap: int) -> list[str]:
    """Pack whole sentences into chunks of at most ``size`` characters.

    Each chunk starts at a sentence boundary and repeats the previous chunk's
    last sentences (up to ``overlap`` characters; when the last sentence alone
    is longer, that one sentence if it is at most half a chunk) so a fact that
    spans the boundary is whole in one of them. Sentences longer than ``size``
    are cut by LangChain's recursive splitter (clauses, then words). Sentences
    are joined by the whitespace that separated them (space, line break or
    paragraph break), so a chunk reads as the article does.
    """
    units: list[tuple[str, str]] = []  # (joiner before it, sentence)
    for para in re.split(r"\n\s*\n", text):
        for n, line in enumerate(para.split("\n")):
            for i, sent in enumerate(_split_sentences(line.strip())):
                joiner = " " if i else ("\n" if n else "\n\n")
                if len(sent) <= size:
                    units.append((joiner, sent))
                else:
                    pieces = _long_splitter(size).split_text(sent)
                    units.extend((joiner if j == 0 else " ", piece) for j, piece in enumerate(pieces))
    budget = max(0, min(overlap, size // 2))
    chunks: list[str] = []
    cur: list[tuple[str, str]] = []
    for unit in units:
        if cur and _joined_len(cur + [unit]) > size:
            chunks.append(_join(cur))
            carry: list[tuple[str, str]] = []
            for prev in reversed(cur):
                if _joined_len([prev] + carry + [unit]) > size:
                    break  # the chunk must still fit
                within = _joined_len([prev] + carry) <= budget
                if not within and (carry or not budget or len(prev[1]) > size // 2):
                    break
                carry.insert(0, prev)
                if not within:
                    break  # one sentence longer than the budget, carried so the chunks still overlap
            cur = carry
        cur.append(unit)
    if cur:
        chunks.append(_join(cur))
    return [c for c in chunks if c.strip()]


# A sentence ends at . ! or ? plus any closing quotes or brackets; the next one starts
# with a capital or a digit (optionally after an opening quote or bracket).
_SENT_END = re.compile(r"[.!?][\"”’)\]]*(\s+)(?=[\"“‘(\[]?[A-Z0-9])")


def _split_sentences(line: str) -> list[str]:
    out, start = [], 0
    for m in _SENT_END.finditer(line):
        out.append(line[start : m.start(1)])
        start = m.end(1)
    out.append(line[start:])
    return [s.strip() for s in out if s.strip()]


def _long_splitter(size: int) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        chunk_size=size, chunk_overlap=0, separators=[r"(?<=[;:,])\s+", r"\s+", ""],
        is_separator_regex=True, keep_separator=True, strip_whitespace=True,
    )


def _join(units: list[tuple[str, str]]) -> str:
    return "".join(sent if i == 0 else joiner + sent for i, (joiner, sent) in enumerate(units))


def _joined_len(units: list[tuple[str, str]]) -> int:
    return len(_join(units))


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
