"""A data dir that is read-only or full: a clear error, nothing half-written, and a clean rerun.

We run as root, so ``chmod`` blocks nothing: a read-only *bind mount* makes the
data dir really read-only, and a 16 MB *tmpfs* filled up to a few hundred KB
makes it really full. Both need ``mount`` (CAP_SYS_ADMIN); without it the tests
skip and say so. Every mount is undone in a ``finally``.

The store is written and checked by child processes (as the CLI and the app
are): an embedded Chroma that failed once keeps its broken state cached for the
rest of the process (the regressions below), and a fresh process is what a
user retries with.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ingest
import qa
from ingest.chunking import chunk_article
from ingest.loaders import load
from qa.errors import StoreUnavailable
from qa.index import reset_index
from qa.settings import get_settings, reset_settings
from tests.conftest import REALTIMEQA, SEED_ARTICLE

ROOT = Path(__file__).resolve().parents[1]


def _sh(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=60)


def _umount(path: Path) -> None:
    from chromadb.api.shared_system_client import SharedSystemClient

    reset_index()
    SharedSystemClient.clear_system_cache()  # let go of files this process opened there
    _sh("umount", str(path))
    if os.path.ismount(path):
        _sh("umount", "-l", str(path))


def _can_mount(tmp_path: Path) -> str | None:
    """None if mount works here, else the precise reason it does not."""
    if not shutil.which("mount"):
        return "no mount(8) binary"
    probe = tmp_path / "mount-probe"
    probe.mkdir()
    r = _sh("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe))
    if r.returncode != 0:
        return f"mount -t tmpfs failed (needs CAP_SYS_ADMIN): {r.stderr.strip()}"
    _sh("umount", str(probe))
    return None


class Mounts:
    """Mounts made by one test (or module), all undone by :meth:`undo`."""

    def __init__(self):
        self.mounted: list[Path] = []

    def tmpfs(self, path: Path, size: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        r = _sh("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
        assert r.returncode == 0, r.stderr
        self.mounted.append(path)
        return path

    def bind(self, src: Path, dst: Path) -> Path:
        src.mkdir(parents=True, exist_ok=True)
        dst.mkdir(parents=True, exist_ok=True)
        r = _sh("mount", "--bind", str(src), str(dst))
        assert r.returncode == 0, r.stderr
        self.mounted.append(dst)
        return dst

    def remount(self, path: Path, mode: str) -> None:
        r = _sh("mount", "-o", f"remount,bind,{mode}", str(path))
        assert r.returncode == 0, f"remount {mode} failed: {r.stderr}"

    def undo(self) -> None:
        for path in reversed(self.mounted):
            _umount(path)
        assert not any(os.path.ismount(p) for p in self.mounted), "a test mount was left behind"


def _mounts_or_skip(tmp_path: Path) -> Mounts:
    reason = _can_mount(tmp_path)
    if reason:
        print(f"SKIP disk-fault tests: {reason}")
        pytest.skip(reason)
    return Mounts()


@pytest.fixture
def mounts(tmp_path):
    m = _mounts_or_skip(tmp_path)
    try:
        yield m
    finally:
        m.undo()


def _env(data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "OPENAI_"))}
    env.update(QA_DATA_DIR=str(data_dir), QA_LLM="extractive", PYTHONUNBUFFERED="1")
    return env


def _child(code: str, env: dict, timeout: float = 240) -> dict:
    """Run python code in a fresh process; it prints one JSON line last."""
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=timeout)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert r.returncode == 0 and lines, f"child failed (rc={r.returncode}):\n{r.stdout[-1500:]}\n{r.stderr[-3000:]}"
    return json.loads(lines[-1])


ADD = """
import json, sys, ingest
try:
    r = ingest.add(sys.argv[1:] if len(sys.argv) > 1 else {paths!r})
    print(json.dumps({{"ok": True, "summary": r.summary()}}))
except BaseException as exc:
    from qa.errors import QAError
    print(json.dumps({{"ok": False, "type": type(exc).__module__ + "." + type(exc).__name__,
                      "qa_error": isinstance(exc, QAError), "message": str(exc)}}))
"""

STATE = """
import json
from qa.index import get_index
index = get_index()
by_article = {}
for item in index.iter_all(include=("metadatas",)):
    by_article.setdefault(item.metadata["article_id"], []).append(item.id)
print(json.dumps({"by_article": by_article, "bm25": sorted(index.bm25().ids), "revision": index.revision()}))
"""


def _expected(*paths: Path) -> dict[str, set[str]]:
    s = get_settings()
    out: dict[str, set[str]] = {}
    for p in paths:
        for a in load(str(p), s):
            out.setdefault(a.id, set()).update(c.id for c in chunk_article(a, s.chunk_size, s.chunk_overlap))
    return out


def _subset(tmp_path: Path, n: int) -> Path:
    out = tmp_path / f"rtqa-{n}.jsonl"
    with open(REALTIMEQA / "articles.jsonl", encoding="utf-8") as f:
        out.write_text("".join(line for _, line in zip(range(n), f)), encoding="utf-8")
    return out


def _assert_whole(state: dict, expected: dict[str, set[str]]) -> None:
    """Every stored article has exactly its chunks (none half-written); BM25 agrees with Chroma."""
    for aid, ids in state["by_article"].items():
        assert aid in expected, f"unexpected article {aid}"
        assert set(ids) == expected[aid], f"{aid}: {len(ids)} of {len(expected[aid])} chunks stored"
    stored = sorted(i for ids in state["by_article"].values() for i in ids)
    assert state["bm25"] == stored, "BM25 cache out of step with Chroma"


# --- read-only ----------------------------------------------------------------------

def test_read_only_empty_data_dir_is_a_clear_error(mounts, tmp_path, monkeypatch, seed_article):
    data = mounts.bind(tmp_path / "src", tmp_path / "data")
    mounts.remount(data, "ro")
    monkeypatch.setenv("QA_DATA_DIR", str(data))
    reset_settings()
    reset_index()
    with pytest.raises(StoreUnavailable, match=r"Read-only file system") as err:
        ingest.add([str(seed_article)])
    assert str(data) in str(err.value)
    assert not any((tmp_path / "src").iterdir()), "something was written"


@pytest.fixture
def read_only_store(mounts, tmp_path, seed_article):
    """A store holding the seed article, then made read-only; yields (data dir, env, state before)."""
    data = mounts.bind(tmp_path / "src", tmp_path / "data")
    env = _env(data)
    assert _child(ADD.format(paths=[str(seed_article)]), env)["ok"]
    before = _child(STATE, env)
    mounts.remount(data, "ro")
    yield data, env, before
    mounts.remount(data, "rw")


def test_read_only_store_clear_error_nothing_written_then_rerun(read_only_store, mounts, tmp_path, monkeypatch):
    data, env, before = read_only_store
    new = tmp_path / "cranes.txt"
    new.write_text("Harbour cranes ordered\n\nThe harbour board of Saltmere ordered two electric cranes on Tuesday.\n",
                   encoding="utf-8")
    # the CLI: exit 1, one line naming the store and the cause, no traceback
    r = subprocess.run([sys.executable, "-m", "ingest", "--quiet", str(new)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=240)
    print(f"\nread-only store, CLI stderr: {r.stderr.strip()}")
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr, r.stderr[-2000:]
    assert "Error:" in r.stderr and "readonly database" in r.stderr and str(data) in r.stderr.replace("\n", "")
    # the library: a StoreUnavailable (a QAError the app shows as a message)
    monkeypatch.setenv("QA_DATA_DIR", str(data))
    reset_settings()
    reset_index()
    with pytest.raises(StoreUnavailable, match="readonly database"):
        ingest.add([str(new)])
    # nothing changed on disk; once writable again, a rerun completes with the exact chunk set
    mounts.remount(data, "rw")
    after = _child(STATE, env)
    assert after == before, "the read-only store changed"
    assert _child(ADD.format(paths=[str(new)]), env)["ok"]
    expected = _expected(SEED_ARTICLE, new)
    final = _child(STATE, env)
    _assert_whole(final, expected)
    assert set(final["by_article"]) == set(expected)


# Regression (found here): after the first failure on a read-only store, chromadb 1.5.9 kept a
# half-started client cached for that path, and every second call in the same process failed
# with "'RustBindingsAPI' object has no attribute 'bindings'". Index._connect now checks the
# folder first (os.access(W_OK) is False on a read-only mount, even for root) and clears
# chromadb's client cache after any failed open.
def test_read_only_store_second_call_still_says_read_only(read_only_store, monkeypatch):
    data, _, _ = read_only_store
    monkeypatch.setenv("QA_DATA_DIR", str(data))
    reset_settings()
    messages = []
    for call in (qa.ask, qa.ask, ingest.stats, qa.ask):  # today: every other call says "RustBindingsAPI"
        with pytest.raises(StoreUnavailable) as err:
            call("Who leads the Chinese delegation?") if call is qa.ask else call()
        messages.append(str(err.value))
    assert all("readonly" in m or "read-only" in m for m in messages), messages


# --- full disk ------------------------------------------------------------------------

HEADROOM = 400_000  # bytes left free: the store opens, the first batch of chunks does not fit


@pytest.fixture(scope="module")
def full_disk_run(tmp_path_factory):
    """Seed indexed on a 16 MB tmpfs, the disk filled to HEADROOM, then 8 articles ingested.

    Module-scoped (it costs three child processes): the tests below only read its outcome,
    and the one that frees the space runs first."""
    tmp_path = tmp_path_factory.mktemp("full")
    mounts = _mounts_or_skip(tmp_path)
    try:
        data = mounts.tmpfs(tmp_path / "data", "16m")
        env = _env(data)
        articles = _subset(tmp_path, 8)
        assert _child(ADD.format(paths=[str(SEED_ARTICLE)]), env)["ok"]
        before = _child(STATE, env)
        filler = data / "filler"
        st = os.statvfs(data)
        with open(filler, "wb") as f:
            f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - HEADROOM))
        result = _child(ADD.format(paths=[str(articles)]), env)
        print(f"\nfull disk: {json.dumps(result)}")
        yield data, env, before, filler, articles, result
    finally:
        mounts.undo()


def test_full_disk_fails_then_rerun_completes_exactly(full_disk_run, seed_article):
    data, env, before, filler, articles, result = full_disk_run
    assert not result["ok"], f"the ingest succeeded with {HEADROOM} bytes free: lower HEADROOM"
    filler.unlink(missing_ok=True)
    # nothing half-written: each article is whole or absent, the seed untouched
    expected = _expected(seed_article, articles)
    state = _child(STATE, env)
    _assert_whole(state, expected)
    print(f"after the failed ingest: {len(state['by_article']) - 1} of 8 articles stored, each whole")
    seed_id = str(seed_article.resolve())
    assert state["by_article"][seed_id] == before["by_article"][seed_id]
    # the next run, space freed, completes with the exact expected chunk set
    again = _child(ADD.format(paths=[str(articles)]), env)
    assert again["ok"], again
    final = _child(STATE, env)
    _assert_whole(final, expected)
    assert set(final["by_article"]) == set(expected), "articles missing after the rerun"


# Regression (found here): a full disk surfaced as chromadb.errors.InternalError ("database or
# disk is full", or "Error in compaction: ..." when the write-ahead log fit but its compaction
# did not), so the CLI printed a traceback. Index.call now maps it to StoreUnavailable and
# says whether the disk is full or read-only.
def test_full_disk_error_is_a_clear_qa_error(full_disk_run):
    *_, result = full_disk_run
    assert not result["ok"]
    assert result["qa_error"], result["type"]
    assert "full" in result["message"] or "space" in result["message"], result["message"]


# Regression (found here, chromadb 1.5.9): in the *same* process, retrying the ingest after the
# disk-full failure and freeing space hung inside Collection.upsert (the Rust binding) in about
# one run of three, with no timeout. Index.call now drops chromadb's client cache after a failed
# write; three tries guard against the old one-in-three hang.
SAME_PROCESS_RETRY = """
import faulthandler, json, os, sys
import ingest
filler, articles = sys.argv[1], sys.argv[2]
try:
    ingest.add([articles])
    print(json.dumps({"failed_first": False}))
    sys.exit(0)
except Exception as exc:
    pass
os.remove(filler)
faulthandler.dump_traceback_later(120, exit=True)  # a hang ends the process with its stack
r = ingest.add([articles])
print(json.dumps({"failed_first": True, "retry": r.summary()}))
"""


@pytest.mark.parametrize("attempt", range(3))
def test_same_process_retry_after_full_disk_does_not_hang(mounts, tmp_path, attempt):
    data = mounts.tmpfs(tmp_path / "data", "16m")
    env = _env(data)
    articles = _subset(tmp_path, 8)
    assert _child(ADD.format(paths=[str(SEED_ARTICLE)]), env)["ok"]
    filler = data / "filler"
    st = os.statvfs(data)
    filler.write_bytes(b"\0" * max(0, st.f_bavail * st.f_frsize - HEADROOM))
    r = subprocess.run([sys.executable, "-c", SAME_PROCESS_RETRY, str(filler), str(articles)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert "Timeout" not in r.stderr, "the retry hung:\n" + r.stderr[-2000:]
    out = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("{")][-1])
    assert out["failed_first"] and out["retry"]["failed"] == 0
