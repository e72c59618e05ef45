"""Files, feeds and URLs in; cleaned, chunked articles in the index out."""

from .fetch import check_url
from .indexer import IngestReport, add, add_articles, delete, delete_many, stats
from .loaders import LoadFailure, load
from .models import Article, Chunk

__all__ = ["Article", "Chunk", "IngestReport", "LoadFailure", "add", "add_articles", "check_url", "delete", "delete_many", "load",
           "stats"]
