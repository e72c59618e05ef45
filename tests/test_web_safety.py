"""The web server's defences: trusted hosts, login throttling, startup refusal, temp pruning, and what held up.

Real processes on 127.0.0.1 where the behaviour is the server's (login, auth on
every route, file serving, upload limit, the API without the chat); plain
function calls where the rule is a pure one (host policy, pruning, file names).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from qa.settings import Settings
from tests.app_process import ROOT, app_env, running_api, running_app
from web.guard import HostPolicy, check_exposure, is_loopback, prune


# --- pure rules ---------------------------------------------------------------------

def test_host_policy():
    local = HostPolicy(Settings(host="127.0.0.1"))
    for ok in ("127.0.0.1:7860", "localhost:7860", "LOCALHOST", "[::1]:7860", "127.0.0.1"):
        assert local.allows(ok), ok
    for bad in ("evil.example", "evil.example:7860", "127.0.0.1.evil.example", "10.0.0.5:7860", "", "localhost.evil"):
        assert not local.allows(bad), bad
    named = HostPolicy(Settings(host="127.0.0.1", trusted_hosts="news.example.org, qa.lan"))
    assert named.allows("news.example.org:443") and named.allows("qa.lan") and not named.allows("evil.example")
    lan = HostPolicy(Settings(host="192.168.1.20"))
    assert lan.allows("192.168.1.20:7860") and not lan.allows("192.168.1.21") and not lan.allows("evil.example")
    everywhere = HostPolicy(Settings(host="0.0.0.0"))
    assert everywhere.allows("192.168.1.20:7860")  # an IP literal cannot be a rebinding name
    assert not everywhere.allows("evil.example")
    assert HostPolicy(Settings(trusted_hosts="*")).allows("anything.example")


def test_exposure_rules():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    assert check_exposure(Settings(host="127.0.0.1"), ui=True) == []
    with pytest.raises(SystemExit, match="QA_AUTH"):
        check_exposure(Settings(host="0.0.0.0"), ui=True)
    warned = check_exposure(Settings(host="0.0.0.0", allow_open=True), ui=True)
    assert any("NO LOGIN" in w for w in warned) and any("QA_API_KEY" in w for w in warned)
    assert check_exposure(Settings(host="0.0.0.0", auth="u:p", api_key="k"), ui=True) == []
    with pytest.raises(SystemExit, match="QA_API_KEY"):
        check_exposure(Settings(host="0.0.0.0"), ui=False)


def test_prune_deletes_old_files_then_the_oldest_over_the_cap(tmp_path):
    now = 1_000_000_000.0
    tmp, up = tmp_path / "gradio-tmp", tmp_path / "uploads"

    def put(folder: Path, name: str, age_s: float, size: int) -> Path:
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x" * size)
        os.utime(p, (now - age_s, now - age_s))
        return p

    stale = put(tmp, "abc/old.txt", 2 * 86400, 10)
    big_old = put(up, "big.pdf", 3600, 600)
    mid = put(tmp, "def/mid.txt", 1800, 300)
    fresh = put(up, "fresh.txt", 5, 500)  # younger than a minute: maybe being indexed right now
    removed = prune([tmp, up], max_age_s=86400, max_bytes=1000, now=now)
    assert set(removed) == {stale, big_old}
    assert mid.exists() and fresh.exists()
    assert not (tmp / "abc").exists()  # the emptied folder went too
    # the cap never removes a file younger than min_age_s, even when still over
    assert prune([tmp, up], max_age_s=86400, max_bytes=100, now=now) == [mid]
    assert fresh.exists()


def test_upload_file_names_are_sanitised():
    from web.chat import safe_filename

    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("a<b>|c.txt") == "a_b_c.txt"
    assert safe_filename("..") == "upload" and safe_filename("   ") == "upload"
    assert len(safe_filename("x" * 500 + ".txt")) == 120


def test_default_binding_is_loopback(monkeypatch):
    monkeypatch.delenv("QA_HOST", raising=False)
    assert Settings().host == "127.0.0.1"


# --- processes ---------------------------------------------------------------------------

def test_open_chat_beyond_loopback_refuses_to_start(tmp_path):
    env = app_env(tmp_path / "data", QA_HOST="0.0.0.0")
    done = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode != 0
    assert "QA_AUTH" in done.stderr and "Refusing" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def login_app(tmp_path_factory):
    """app.py with a login and a small upload limit, no key: the API must still not be open."""
    data = tmp_path_factory.mktemp("login") / "data"
    env = app_env(data, QA_AUTH="editor:correct-horse", QA_LOGIN_MAX_FAILURES="3", QA_MAX_UPLOAD_MB="1")
    with running_app(env, data.parent / "app.log") as url:
        yield url, data


def test_login_attempts_are_rate_limited(login_app):
    url, _ = login_app
    with httpx.Client(base_url=url, timeout=30) as c:
        for _ in range(3):
            assert c.post("login", data={"username": "editor", "password": "guess"}).status_code == 400
        r = c.post("login", data={"username": "editor", "password": "correct-horse"})
        assert r.status_code == 429  # locked out for the window, even with the right password


def test_login_guards_every_route(login_app):
    url, data = login_app
    with httpx.Client(base_url=url, timeout=30) as c:
        assert c.get("config").status_code == 401
        assert c.get("gradio_api/info").status_code == 401
        assert c.post("gradio_api/call/ask", json={"data": ["Who?"]}).status_code == 401
        assert c.get("v1/models").status_code == 401  # the API needs QA_API_KEY once there is a login
        assert c.post("api/ask", json={"question": "Who?"}).status_code == 401


def test_file_serving_and_upload_limit_held_up(tmp_path):
    data = tmp_path / "data"
    env = app_env(data, QA_MAX_UPLOAD_MB="1")
    with running_app(env, tmp_path / "app.log") as url, httpx.Client(base_url=url, timeout=60) as c:
        (data / "uploads").mkdir(parents=True, exist_ok=True)
        (data / "uploads" / "kept.txt").write_text("private upload")
        for path in ("/etc/passwd", str(data / "uploads" / "kept.txt"), str(ROOT / "app.py")):
            r = c.get(f"gradio_api/file={path}")
            assert r.status_code == 403, (path, r.status_code)
        big = c.post("gradio_api/upload", files={"files": ("big.txt", b"x" * 1_500_000, "text/plain")})
        assert big.status_code == 413
        small = c.post("gradio_api/upload", files={"files": ("small.txt", b"hello", "text/plain")})
        assert small.status_code == 200
        # an upload from another site's page is refused (cross-origin write)
        r = c.post("gradio_api/upload", files={"files": ("s.txt", b"hi", "text/plain")},
                   headers={"Origin": "http://evil.example"})
        assert r.status_code == 403


def test_api_alone_without_the_chat_ingests_answers_and_rate_limits(tmp_path):
    from openai import OpenAI

    env = app_env(tmp_path / "data", QA_API_RATE_PER_MIN="6", QA_API_INGEST="true")
    record = {"url": "https://news.example.com/saltmere-cranes", "title": "Saltmere harbour orders electric cranes",
              "text": "The harbour board of Saltmere ordered two electric cranes from the shipyard of Varn on "
                      "Tuesday. The cranes will arrive in the spring.", "published": "2025-09-01",
              "source": "Example News"}
    with running_api(env, tmp_path / "api.log") as url, httpx.Client(base_url=url, timeout=120) as c:
        assert c.get("").status_code == 404  # no chat UI here
        assert c.get("gradio_api/info").status_code == 404
        r = c.post("api/ingest", json={"records": [record]})  # 1
        assert r.status_code == 200 and r.json()["indexed"] == [record["url"]], r.text
        client = OpenAI(base_url=url + "v1", api_key="unused", max_retries=0, timeout=120)
        answer = client.chat.completions.create(model="news-qa", messages=[  # 2
            {"role": "user", "content": "How many electric cranes did the Saltmere harbour board order?"}])
        assert [c["url"] for c in answer.model_extra["citations"]] == [record["url"]]
        codes = [c.get("v1/models").status_code for _ in range(5)]  # 3..6, then over the limit
        assert codes == [200, 200, 200, 200, 429]
        assert c.get("v1/models").json()["error"]["type"] == "rate_limit_error"
        assert c.get("v1/models", headers={"Host": "evil.example"}).status_code == 421
