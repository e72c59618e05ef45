"""``python -m ingest`` as a user runs it: a real subprocess on the test's own data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chroma_server import free_port

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ)  # QA_DATA_DIR was set by the fresh_env fixture
    assert env.get("QA_DATA_DIR"), "fresh_env should have set QA_DATA_DIR"
    env.pop("QA_CHROMA_HOST", None)
    return subprocess.run(
        [sys.executable, "-m", "ingest", *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=timeout,
    )


def last_json(stdout: str) -> dict:
    lines = [line for line in stdout.strip().splitlines() if line.strip()]
    assert lines, "no output"
    return json.loads(lines[-1])


def story(path: Path, title: str, body: str) -> Path:
    path.write_text(f"{title}\n\n{body}\n", encoding="utf-8")
    return path


@pytest.fixture
def two_stories(tmp_path) -> tuple[Path, Path]:
    d = tmp_path / "in"
    d.mkdir()
    a = story(d / "market.txt", "Market hall reopens",
              "The covered market hall reopened on Thursday after its roof was rebuilt with local timber.")
    b = story(d / "ferry.txt", "Ferry fares frozen",
              "Island ferry fares will not rise this year, the harbour authority said at its annual meeting.")
    return a, b


def test_good_input_exits_0_and_stats_are_json(two_stories):
    a, b = two_stories
    r = run_cli(str(a.parent), "--stats", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert "indexed 2" in r.stdout
    assert last_json(r.stdout) == {"articles": 2, "chunks": 2}
    # data went to the test's data dir, not anywhere else
    assert (Path(os.environ["QA_DATA_DIR"]) / "chroma").is_dir()

    again = run_cli(str(a.parent), "--quiet")
    assert again.returncode == 0 and "unchanged 2" in again.stdout


def test_failed_input_exits_nonzero_but_good_ones_are_indexed(tmp_path, two_stories):
    a, _ = two_stories
    bad = tmp_path / "in" / "broken [draft].pdf"  # brackets must not be eaten as markup
    bad.write_bytes(b"not a pdf")
    binary = tmp_path / "in" / ("a_rather_long_file_name_so_the_failure_line_is_wider_than_eighty_columns" + ".txt")
    binary.write_bytes(b"\x00\x01\x02binary")
    url = f"http://127.0.0.1:{free_port()}/missing"

    r = run_cli(str(a.parent), url, "--quiet")
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "Traceback" not in out
    assert "indexed 2" in r.stdout and "failed 3" in r.stdout
    lines = r.stderr.splitlines()
    for where, reason in ((str(bad), "not a PDF"), (str(binary), "binary"), (url, "unreachable")):
        hits = [line for line in lines if where in line]
        assert hits, f"no failure line names {where}:\n{r.stderr}"
        assert reason in hits[0], f"the failure line for {where} lacks its reason: {hits[0]!r}"

    # read back in this process: the two good stories are in the store
    import ingest
    from qa.index import Index

    s = ingest.stats(index=Index())
    assert s["articles"] == 2 and s["chunks"] == 2


def test_delete_by_id_and_unknown(two_stories):
    import ingest
    from qa.index import Index

    a, b = two_stories
    index = Index()
    assert ingest.add([str(a), str(b)], index=index).ok
    index.close()
    r = run_cli("--delete", str(a.resolve()), "--stats")
    assert r.returncode == 0, r.stderr
    assert "Deleted" in r.stdout
    assert last_json(r.stdout) == {"articles": 1, "chunks": 1}

    missing = run_cli("--delete", "https://nowhere.example/none")
    assert missing.returncode == 1
    assert "Not found" in missing.stderr and "https://nowhere.example/none" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_nothing_to_do_is_a_usage_error():
    r = run_cli()
    assert r.returncode == 2
    assert "Nothing to do" in r.stderr
