"""What the HTTP API adds over calling ``qa.ask()`` in-process, and 8 HTTP clients at once.

    .venv/bin/python bench/api_overhead.py            # ~1-2 minutes on 2 cores
    .venv/bin/python bench/api_overhead.py --n 60 --concurrent 32

Two fresh stores hold the seed article: one for the in-process calls, one for
``python app.py`` (chat and API on one port) so the two processes never share
an embedded Chroma folder. Extractive answerer throughout, so the numbers are
about the plumbing, not a model. Reported:

* ``inproc``: ``qa.ask()`` latency in this process;
* ``http_api_ask`` / ``http_openai``: the same question through ``POST /api/ask``
  (httpx, one kept-alive connection) and through the official ``openai`` client,
  each request right after its in-process twin so both see the same CPU load;
* ``overhead_p50_ms``: p50(HTTP) - p50(in-process), and ``per_request_overhead_p50_ms``:
  the p50 of (client latency - the server's own ``timings.total``) per request,
  which is less sensitive to the two runs seeing different CPU load;
* ``concurrent``: 8 clients (threads, one connection each) sharing ``--concurrent``
  requests: how many were answered correctly, none hung (a 120 s timeout each).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.app_process import app_env, prefill, running_app  # noqa: E402

SEED = ROOT.parent / "shared" / "corpus" / "000_6c5d0eca67019274.txt"
QUESTIONS = [
    ("Who leads the Chinese delegation?", "He Lifeng"),
    ("What is the deadline for ByteDance to divest TikTok?", "September 17"),
    ("How many US users does TikTok have?", "170 million"),
]
KEY = "bench-key"


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


def stats_ms(values: list[float]) -> dict:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 1), "p95_ms": round(pct(ms, 95), 1),
            "mean_ms": round(statistics.mean(ms), 1)}


def http_phase(url: str, n: int) -> dict:
    """Alternate in-process ``qa.ask()`` and the same question over HTTP, so both see the same CPU load."""
    import httpx
    from openai import OpenAI

    import qa
    from qa.llm import resolve
    from qa.settings import get_settings

    who = resolve(get_settings())
    headers = {"Authorization": f"Bearer {KEY}"}
    client = OpenAI(base_url=url + "v1", api_key=KEY, max_retries=0, timeout=120)
    out = {name: ([], []) for name in ("inproc", "api_ask", "openai")}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as c:
        for q, _ in QUESTIONS:  # warm both sides: embeddings, BM25, caches
            qa.ask(q, answerer=who)
            c.post("api/ask", json={"question": q}).raise_for_status()
        for i in range(n):
            q, want = QUESTIONS[i % len(QUESTIONS)]
            t = time.perf_counter()
            a = qa.ask(q, answerer=who)
            out["inproc"][0].append(time.perf_counter() - t)
            out["inproc"][1].append(a.timings["total"])
            assert a.answerer == "extractive" and want in a.text
            t = time.perf_counter()
            r = c.post("api/ask", json={"question": q})
            out["api_ask"][0].append(time.perf_counter() - t)
            r.raise_for_status()
            assert want in r.json()["text"]
            out["api_ask"][1].append(r.json()["timings"]["total"])
            t = time.perf_counter()
            r = client.chat.completions.create(model="news-qa", messages=[{"role": "user", "content": q}])
            out["openai"][0].append(time.perf_counter() - t)
            assert want in r.choices[0].message.content
            out["openai"][1].append(r.model_extra["news_qa"]["timings"]["total"])
    return out


def concurrent_phase(url: str, clients: int, requests: int) -> dict:
    import httpx

    jobs = list(range(requests))
    lock = threading.Lock()
    rows: list[tuple[float, bool]] = []
    errors: list[str] = []

    def worker():
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120) as c:
            while True:
                with lock:
                    if not jobs:
                        return
                    i = jobs.pop()
                q, want = QUESTIONS[i % len(QUESTIONS)]
                t = time.perf_counter()
                try:
                    r = c.post("v1/chat/completions",
                               json={"model": "news-qa", "messages": [{"role": "user", "content": q}]})
                    r.raise_for_status()
                    ok = want in r.json()["choices"][0]["message"]["content"]
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    rows.append((time.perf_counter() - t, ok))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=600)
    wall = time.perf_counter() - t0
    hung = sum(th.is_alive() for th in threads)
    lat = [t for t, _ in rows]
    return {"clients": clients, "requests": requests, "answered": len(rows),
            "correct": sum(ok for _, ok in rows), "errors": errors[:5], "hung_clients": hung,
            "wall_s": round(wall, 2), **(stats_ms(lat) if lat else {})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=30, help="sequential requests per phase")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--concurrent", type=int, default=24, help="requests shared by the concurrent clients")
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "api_overhead.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="qa-api-bench-") as tmp:
        a, b = Path(tmp) / "inproc", Path(tmp) / "server"
        for d in (a, b):
            prefill(app_env(d), SEED)
        # this process answers in-process from store a (a bench script, like load_test.py, sets its own env)
        os.environ.update(QA_DATA_DIR=str(a), QA_LLM="extractive")
        env = app_env(b, QA_API_KEY=KEY, QA_API_RATE_PER_MIN="100000", QA_CHAT_CONCURRENCY="4")
        with running_app(env, Path(tmp) / "app.log") as url:
            http = http_phase(url, args.n)
            conc = concurrent_phase(url, args.clients, args.concurrent)
    ip = http.pop("inproc")[0]
    result = {"inproc": stats_ms(ip)}
    for name, (lat, server) in http.items():
        per = [c - s for c, s in zip(lat, server)]
        result[f"http_{name}"] = {**stats_ms(lat),
                                  "overhead_p50_ms": round((pct(lat, 50) - pct(ip, 50)) * 1000, 1),
                                  "per_request_overhead_p50_ms": round(pct(per, 50) * 1000, 1)}
    result["concurrent"] = conc
    result["meta"] = {"date": dt.datetime.now().isoformat(timespec="seconds"), "cpus": os.cpu_count(),
                      "loadavg": [round(x, 2) for x in os.getloadavg()],
                      "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                            text=True).stdout.strip(),
                      "command": " ".join([Path(sys.executable).name, *sys.argv])}
    print(json.dumps(result, indent=2))
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
