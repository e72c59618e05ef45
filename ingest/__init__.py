"""Files, feeds and URLs in; cleaned, chunked articles in the index out."""

from .indexer import IngestReport, add, add_articles, delete, stats
from .loaders import LoadFailure, load
from .models import Article, Chunk

__all__ = ["Article", "Chunk", "IngestReport", "LoadFailure", "add", "add_articles", "delete", "load", "stats"]
