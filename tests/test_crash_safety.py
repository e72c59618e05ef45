"""A kill -9 in the middle of ingest or delete loses nothing and leaves no orphans.

The expected state is computed without embedding anything (chunk ids are pure
functions of the article), so the check is exact: same ids as a clean run,
no extra ones, and the BM25 cache rebuilt in step with Chroma.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ingest
from ingest.chunking import chunk_article
from ingest.loaders import load
from qa.index import Index
from qa.settings import get_settings
from tests.conftest import REALTIMEQA


def _subset(tmp_path: Path, n: int) -> Path:
    out = tmp_path / "subset.jsonl"
    with open(REALTIMEQA / "articles.jsonl") as f, open(out, "w") as w:
        for i, line in enumerate(f):
            if i >= n:
                break
            w.write(line)
    return out


def _expected_ids(path: Path) -> set[str]:
    s = get_settings()
    return {c.id for a in load(str(path), s) for c in chunk_article(a, s.chunk_size, s.chunk_overlap)}


def _stored_count(data_dir: Path) -> int:
    db = data_dir / "chroma" / "chroma.sqlite3"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return con.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    except sqlite3.Error:
        return 0


def _kill_when(proc: subprocess.Popen, condition, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"process finished before it could be killed (rc={proc.returncode})")
        if condition():
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return
        time.sleep(0.05)
    proc.kill()
    pytest.fail("condition for the kill never came")


def _check_consistent(expected: set[str]) -> None:
    index = Index(get_settings())
    stored = [item.id for item in index.iter_all(include=())]
    assert len(stored) == len(set(stored)), "duplicate chunk ids"
    assert set(stored) == expected, f"missing {len(expected - set(stored))}, orphans {len(set(stored) - expected)}"
    assert set(index.bm25().ids) == expected, "BM25 cache out of step with Chroma"


@pytest.mark.timeout(1800)
def test_sigkill_mid_ingest_then_rerun_gives_a_clean_index(tmp_path):
    data_dir = Path(os.environ["QA_DATA_DIR"])
    articles = _subset(tmp_path, 40)
    expected = _expected_ids(articles)
    Index(get_settings()).bm25()  # a cache exists before the crash; it must not look fresh after
    cmd = [sys.executable, "-m", "ingest", "--quiet", str(articles)]
    proc = subprocess.Popen(cmd, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _kill_when(proc, lambda: _stored_count(data_dir) >= 64)
    partial = _stored_count(data_dir)
    assert 0 < partial < len(expected), f"kill did not land mid-ingest ({partial} of {len(expected)})"
    # right after the crash, a reader sees Chroma and BM25 agree on the partial state
    index = Index(get_settings())
    stored = {item.id for item in index.iter_all(include=())}
    assert stored <= expected and set(index.bm25().ids) == stored
    rerun = subprocess.run(cmd, env=dict(os.environ), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    _check_consistent(expected)


def test_sigkill_during_delete_then_rerun_finishes_it(tmp_path):
    data_dir = Path(os.environ["QA_DATA_DIR"])
    articles = _subset(tmp_path, 12)
    assert not ingest.add([str(articles)]).failed
    urls = [json.loads(line)["url"] for line in articles.read_text().splitlines()]
    total = _stored_count(data_dir)
    code = "import sys, ingest\nfor u in sys.argv[1:]:\n    ingest.delete(u)\n"
    proc = subprocess.Popen([sys.executable, "-c", code, *urls], env=dict(os.environ))
    _kill_when(proc, lambda: _stored_count(data_dir) < total, timeout=120)
    left = _stored_count(data_dir)
    assert 0 < left < total, f"kill did not land mid-delete ({left} of {total})"
    subprocess.run([sys.executable, "-c", code, *urls], env=dict(os.environ), check=True, timeout=300)
    _check_consistent(set())
