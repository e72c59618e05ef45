"""A real OpenAI-compatible server (llama-cpp-python's) on 127.0.0.1, run by a fixture."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from tests.chroma_server import free_port


def start_llama_server(model_path: str, log_path, n_ctx: int = 4096, alias: str = "local-test-model",
                       port: int | None = None) -> tuple[subprocess.Popen, int]:
    port = port or free_port()
    log = open(log_path, "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", model_path, "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", str(n_ctx), "--model_alias", alias],
        stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}; see {log_path}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("llama_cpp.server did not become ready")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def openai_server(tmp_path_factory):
    """Serves the smallest packaged GGUF (SmolLM2-135M) over the OpenAI API; yields its base URL."""
    from qa.local_model import model_file

    path = model_file("smollm2-135m", tmp_path_factory.mktemp("models"))
    proc, port = start_llama_server(str(path), tmp_path_factory.mktemp("logs") / "llama-server.log")
    yield f"http://127.0.0.1:{port}/v1"
    stop(proc)
