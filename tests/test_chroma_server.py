"""The same ingest code against a real `chroma run` server (QA_CHROMA_HOST/PORT)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ingest
from qa.errors import IndexMismatch, StoreUnavailable
from qa.index import Index
from qa.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]


def _stories(folder: Path) -> Path:
    folder.mkdir()
    (folder / "market.txt").write_text(
        "Market hall reopens\n\nThe covered market hall reopened on Thursday after its roof was rebuilt "
        "with local timber.\n", encoding="utf-8")
    (folder / "ferry.txt").write_text(
        "Ferry fares frozen\n\nIsland ferry fares will not rise this year, the harbour authority said "
        "at its annual meeting.\n", encoding="utf-8")
    return folder


def test_ingest_into_server(tmp_path, chroma_server):
    src = _stories(tmp_path / "in")
    index = Index(get_settings())
    assert index.where == f"Chroma server at 127.0.0.1:{chroma_server.port}"

    r1 = ingest.add(str(src), index=index)
    assert r1.ok and len(r1.indexed) == 2
    s = ingest.stats(index=index)
    assert (s["articles"], s["chunks"]) == (2, r1.chunks_added)

    r2 = ingest.add(str(src), index=index)
    assert r2.indexed == [] and len(r2.unchanged) == 2 and r2.chunks_added == 0

    # a second, independent client (another process would be the same) sees the chunks
    other = Index(get_settings())
    assert other.count() == s["chunks"]
    assert ingest.delete(str(src / "ferry.txt"), index=other) >= 1
    assert ingest.stats(index=index)["articles"] == 1
    # nothing was written to a local store
    assert not get_settings().chroma_dir.exists()


def test_collection_built_with_another_model_is_refused(tmp_path, chroma_server):
    import chromadb

    client = chromadb.HttpClient(host="127.0.0.1", port=chroma_server.port)
    client.create_collection(get_settings().collection, metadata={"embedding_model": "other"})

    index = Index(get_settings())
    with pytest.raises(IndexMismatch) as err:
        index.count()
    msg = str(err.value)
    assert "'other'" in msg and index.embedding_model in msg
    src = _stories(tmp_path / "in")
    with pytest.raises(IndexMismatch):  # an error about the store, not a per-file failure
        ingest.add(str(src), index=Index(get_settings()))
    assert client.get_collection(get_settings().collection).count() == 0  # nothing mixed in
    with pytest.raises(IndexMismatch):
        ingest.stats(index=Index(get_settings()))


def test_stopped_server_gives_a_clear_error_fast(tmp_path, chroma_server):
    src = _stories(tmp_path / "in")
    index = Index(get_settings())
    assert ingest.add(str(src / "market.txt"), index=index).ok
    chroma_server.stop()

    where = f"127.0.0.1:{chroma_server.port}"
    t0 = time.monotonic()
    with pytest.raises(StoreUnavailable) as err:
        ingest.add(str(src / "ferry.txt"), index=index)
    assert time.monotonic() - t0 < 5
    assert where in str(err.value)

    t0 = time.monotonic()
    with pytest.raises(StoreUnavailable) as err2:
        ingest.stats(index=Index(get_settings()))  # a new handle: fails on connect
    assert time.monotonic() - t0 < 5
    assert where in str(err2.value)


def test_stopped_server_cli_says_so_without_traceback(tmp_path, chroma_server):
    src = _stories(tmp_path / "in")
    chroma_server.stop()
    r = subprocess.run([sys.executable, "-m", "ingest", str(src), "--quiet"], cwd=ROOT, env=dict(os.environ),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert f"127.0.0.1:{chroma_server.port}" in r.stderr


def test_frozen_server_times_out(tmp_path, chroma_server):
    src = _stories(tmp_path / "in")
    os.kill(chroma_server.proc.pid, signal.SIGSTOP)  # listening socket stays open, nothing answers
    try:
        code = f"import ingest; ingest.add({str(src)!r})"
        try:
            r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ, QA_CHROMA_TIMEOUT_S="2"),
                               capture_output=True, text=True, timeout=15)
        except subprocess.TimeoutExpired:
            pytest.fail("ingest.add hung on an unresponsive Chroma server")
        assert r.returncode != 0
        assert "StoreUnavailable" in r.stderr and f"127.0.0.1:{chroma_server.port}" in r.stderr
    finally:
        os.kill(chroma_server.proc.pid, signal.SIGCONT)
