"""The two records that cross the ingest boundary."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from .urls import canonical_url


@dataclass
class Article:
    id: str  # canonical URL, or the absolute path of a local file
    title: str
    text: str
    url: str = ""
    source: str = ""  # site or publication
    published: dt.date | None = None
    authors: list[str] = field(default_factory=list)
    origin: str = ""  # the file, feed or URL it was read from

    def __post_init__(self) -> None:
        self.id = canonical_url(self.id)  # one article under two spellings of its address is one article

    @property
    def content_hash(self) -> str:
        h = hashlib.sha256()
        for part in (self.title, self.text, self.url, self.source, str(self.published or "")):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\0")
        h.update(",".join(self.authors).encode("utf-8", "surrogatepass"))
        return h.hexdigest()


@dataclass
class Chunk:
    id: str
    article_id: str
    position: int
    text: str  # the passage as written in the article
    embed_text: str  # title + date header + text: what is embedded and BM25-indexed
    metadata: dict
