"""Shared fixtures: every test gets a fresh store in a temp folder, never the user's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qa.index import Index, reset_index
from qa.settings import get_settings, reset_settings

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SEED_ARTICLE = SHARED / "corpus" / "000_6c5d0eca67019274.txt"
REALTIMEQA = SHARED / "eval" / "realtimeqa-2022"

pytest_plugins = ["tests.chroma_server", "tests.llm_server"]


@pytest.fixture(autouse=True)
def fresh_env(tmp_path, monkeypatch):
    """Each test: its own QA_DATA_DIR, no Chroma server, no OpenAI key, settings re-read."""
    for key in list(os.environ):
        if key.startswith("QA_") or key in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("QA_DATA_DIR", str(tmp_path / "data"))
    # the joined GGUF is expensive: share it across tests (and runs) in the user cache
    reset_settings()
    reset_index()
    yield
    reset_index()
    reset_settings()


@pytest.fixture
def settings():
    return get_settings()


@pytest.fixture
def index(settings):
    return Index(settings)


@pytest.fixture
def seed_article() -> Path:
    assert SEED_ARTICLE.exists(), f"missing shared test data: {SEED_ARTICLE}"
    return SEED_ARTICLE
