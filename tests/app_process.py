"""Run ``python app.py`` (chat + API) or ``python -m web.api`` (API alone) as a real process on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env(data_dir: Path, **extra: str) -> dict:
    """The environment of the caller minus its QA_/GRADIO_/OPENAI_ settings, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "GRADIO_", "OPENAI_"))}
    env.update(QA_DATA_DIR=str(data_dir), QA_LLM="extractive", QA_LOAD_SAMPLES="false", QA_HOST="127.0.0.1",
               PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def prefill(env: dict, *sources: Path) -> None:
    code = "import sys, ingest; r = ingest.add(sys.argv[1:]); assert r.indexed and not r.failed, r.summary()"
    subprocess.run([sys.executable, "-c", code, *map(str, sources)], env=env, cwd=ROOT, check=True, timeout=600)


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the server did not answer on {url} in {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


@contextmanager
def running_app(env: dict, log: Path) -> Iterator[str]:
    """Start app.py with ``env``, yield its URL once it answers, stop its whole process group."""
    port = free_port()
    with _running([sys.executable, "app.py"], dict(env, GRADIO_SERVER_PORT=str(port)), log, port, "") as url:
        yield url


@contextmanager
def running_api(env: dict, log: Path) -> Iterator[str]:
    """Start ``python -m web.api`` (the HTTP API without the chat) and yield its URL."""
    port = free_port()
    with _running([sys.executable, "-m", "web.api"], dict(env, QA_API_PORT=str(port)), log, port, "docs") as url:
        yield url


@contextmanager
def _running(cmd: list[str], env: dict, log: Path, port: int, ready_path: str) -> Iterator[str]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_http(url + ready_path, proc, log)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
