"""One article under two spellings of its address is stored once."""

from __future__ import annotations

import pytest

import ingest
from ingest.models import Article
from ingest.urls import canonical_url
from qa.index import get_index


@pytest.mark.parametrize(
    "url, canonical",
    [
        ("https://www.cnn.com/2022/09/25/europe/vote/index.html", "https://www.cnn.com/2022/09/25/europe/vote"),
        ("https://www.cnn.com/2022/09/25/europe/vote/", "https://www.cnn.com/2022/09/25/europe/vote"),
        ("HTTPS://News.Example.COM/a/b?utm_source=rss&id=7#top", "https://news.example.com/a/b?id=7"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/Case/Matters", "https://example.com/Case/Matters"),
        ("/home/me/articles/story.txt", "/home/me/articles/story.txt"),
        ("not a url", "not a url"),
    ],
)
def test_canonical_url(url, canonical):
    assert canonical_url(url) == canonical


def test_twin_urls_are_one_article():
    body = "The harbour board of Saltmere ordered two electric cranes on Tuesday. " * 3
    twins = [
        Article(id=u, url=u, title="Cranes ordered", text=body)
        for u in ("https://news.example.com/2022/cranes/index.html", "https://news.example.com/2022/cranes")
    ]
    ingest.add_articles(twins)
    stats = ingest.stats()
    assert stats["articles"] == 1
    ids = get_index().ids_where({"article_id": "https://news.example.com/2022/cranes"})
    assert ids and len(ids) == stats["chunks"]
    # deleting by either spelling removes it
    assert ingest.delete("https://news.example.com/2022/cranes/index.html") == len(ids)
    assert ingest.stats()["chunks"] == 0
