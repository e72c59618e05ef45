"""Concurrent questions, in one process and through the web app, with an ingest running.

    .venv/bin/python bench/load_test.py --answerer extractive --threads 8 --requests 32 --app
    .venv/bin/python bench/load_test.py --answerer local --requests 8 --threads 4 --phases quiet

The store holds the seed article (/work/shared/corpus). Phases, each a scenario in
the results:

* ``quiet``:  T threads share R ``qa.ask()`` calls, nothing else running;
* ``ingest``: the same while one thread ingests ``--ingest-chunks`` chunks of
  RealTimeQA articles (writes, revision bumps, BM25 rebuilds, embedding batches);
* ``--app``:  ``python app.py`` on 127.0.0.1 with T ``gradio_client`` sessions
  sharing R questions, plus one upload of those articles through the app.

Questions cycle over three answerable seed questions (checked for the expected
answer) and one unanswerable one (must be refused). Results are merged, keyed by
scenario, into ``--json`` (default bench/results/load.json), so runs with
different answerers accumulate.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import queue
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
SEED = SHARED / "corpus" / "000_6c5d0eca67019274.txt"
ARTICLES = SHARED / "eval" / "realtimeqa-2022" / "articles.jsonl"
QUESTIONS = [
    ("Who leads the Chinese delegation?", "He Lifeng"),
    ("What is the deadline for ByteDance to divest TikTok?", "September 17"),
    ("How many US users does TikTok have?", "170 million"),
    ("What is the capital of Peru?", None),  # not in the store: must be refused
]


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


def stats(lat: list[float]) -> dict:
    r = lambda x: None if x is None else round(x, 3)  # noqa: E731
    return {"p50_s": r(pct(lat, 50)), "p95_s": r(pct(lat, 95)), "max_s": r(max(lat) if lat else None),
            "mean_s": r(statistics.mean(lat) if lat else None)}


def judge(question_i: int, text: str, refused: bool) -> bool:
    want = QUESTIONS[question_i][1]
    return refused if want is None else (not refused and want in text)


def subset(tmp: Path, min_chunks: int) -> tuple[Path, int, int]:
    """The first RealTimeQA articles making at least min_chunks chunks: (file, articles, chunks)."""
    from ingest.chunking import chunk_article
    from ingest.loaders import load
    from qa.settings import get_settings

    s = get_settings()
    out = tmp / "load-subset.jsonl"
    one = tmp / "one.jsonl"
    n = chunks = 0
    with open(ARTICLES, encoding="utf-8") as f, open(out, "w", encoding="utf-8") as w:
        for line in f:
            one.write_text(line, encoding="utf-8")
            chunks += sum(len(chunk_article(a, s.chunk_size, s.chunk_overlap)) for a in load(str(one), s)
                          if hasattr(a, "text"))
            w.write(line)
            n += 1
            if chunks >= min_chunks:
                break
    return out, n, chunks


def drain(n_threads: int, n_requests: int, ask_one) -> tuple[list[dict], float]:
    """n_threads workers share n_requests jobs; ask_one(i) -> (text, refused, extra dict)."""
    jobs: queue.Queue = queue.Queue()
    for i in range(n_requests):
        jobs.put(i)
    rows: list[dict] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n_threads)

    def worker():
        barrier.wait()
        while True:
            try:
                i = jobs.get_nowait()
            except queue.Empty:
                return
            qi = i % len(QUESTIONS)
            t0 = time.perf_counter()
            row = {"i": i, "question": qi}
            try:
                text, refused, extra = ask_one(qi)
                row.update(ok=True, correct=judge(qi, text, refused), refused=refused, **extra)
            except Exception as exc:  # noqa: BLE001 - counted as an error
                row.update(ok=False, error=f"{type(exc).__name__}: {exc}"[:300])
            row["latency_s"] = time.perf_counter() - t0
            with lock:
                rows.append(row)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return rows, time.perf_counter() - t0


def summarize(name: str, rows: list[dict], wall: float, extra: dict) -> dict:
    lat = [r["latency_s"] for r in rows if r["ok"]]
    ft = [r["first_token_s"] for r in rows if r.get("first_token_s") is not None]
    out = {
        "scenario": name, "requests": len(rows), "ok": sum(r["ok"] for r in rows),
        "errors": [r["error"] for r in rows if not r["ok"]][:5], "n_errors": sum(not r["ok"] for r in rows),
        "correct": sum(bool(r.get("correct")) for r in rows), "refused": sum(bool(r.get("refused")) for r in rows),
        **stats(lat), "first_token_p50_s": None if not ft else round(pct(ft, 50), 3),
        "wall_s": round(wall, 2), "throughput_rps": round(len(lat) / wall, 3) if wall else None, **extra,
    }
    print(f"{name}: {out['ok']}/{out['requests']} ok, {out['correct']} correct, p50 {out['p50_s']}s "
          f"p95 {out['p95_s']}s, wall {out['wall_s']}s", flush=True)
    return out


def run_inproc(args, tmp: Path, phases: list[str]) -> list[dict]:
    import ingest
    import qa

    ingest.add([str(SEED)])
    qa.ask(QUESTIONS[0][0])  # load the embedding model (and the LLM) before timing
    results = []
    for phase in phases:
        info: dict = {"answerer": args.answerer, "threads": args.threads}

        def ask_one(qi):
            a = qa.ask(QUESTIONS[qi][0])
            info.setdefault("model", a.model)
            assert a.answerer == args.answerer, f"answerer {a.answerer}, wanted {args.answerer}"
            return a.text, a.refused, {"first_token_s": a.timings.get("first_token")}

        if phase == "ingest":
            path, n_art, n_chunks = subset(tmp, args.ingest_chunks)
            box: dict = {}

            def writer():
                box["start"] = time.perf_counter()
                box["report"] = ingest.add([str(path)])
                box["end"] = time.perf_counter()

            w = threading.Thread(target=writer, daemon=True)
            w.start()
            time.sleep(0.3)
            t_load = time.perf_counter()
            rows, wall = drain(args.threads, args.requests, ask_one)
            w.join()
            rep = box["report"]
            info["ingest"] = {"articles": n_art, "chunks": n_chunks, "seconds": round(box["end"] - box["start"], 2),
                              "failed": len(rep.failed), "overlapped_s": round(min(box["end"], t_load + wall) - t_load, 2)}
            # the store keeps them: a later phase runs on the larger store
        else:
            rows, wall = drain(args.threads, args.requests, ask_one)
        results.append(summarize(f"inproc-{args.answerer}-{phase}", rows, wall, info))
    return results


def run_app(args, tmp: Path) -> dict:
    from gradio_client import Client, handle_file

    from tests.app_process import app_env, prefill, running_app

    env = app_env(tmp / "app-data", QA_LLM=args.answerer,
                  **({"QA_LOCAL_MODEL": args.local_model} if args.local_model else {}))
    prefill(env, SEED)
    with running_app(env, tmp / "app.log") as url:
        path, n_art, n_chunks = subset(tmp, args.ingest_chunks)
        box: dict = {}

        def uploader():
            t0 = time.perf_counter()
            html = Client(url, verbose=False).submit([handle_file(str(path))], "", api_name="/add_sources").result(
                timeout=1800)[0]
            box.update(seconds=round(time.perf_counter() - t0, 2), indexed="qa-ingest-indexed" in html)

        def ask_one(qi):
            answer = Client(url, verbose=False).submit(QUESTIONS[qi][0], api_name="/ask").result(timeout=1800)
            if not isinstance(answer, dict) or "text" not in answer:
                raise RuntimeError(f"no answer: {str(answer)[:200]}")
            return answer["text"], answer["refused"], {}

        up = threading.Thread(target=uploader, daemon=True)
        up.start()
        rows, wall = drain(args.threads, args.requests, ask_one)
        up.join()
        info = {"answerer": args.answerer, "threads": args.threads, "via": "gradio_client /ask",
                "upload": {"articles": n_art, "chunks": n_chunks, **box}}
        return summarize(f"app-{args.answerer}", rows, wall, info)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--answerer", default="extractive", choices=["extractive", "local"])
    ap.add_argument("--local-model", default=None, help="QA_LOCAL_MODEL (default: the project's default)")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--ingest-chunks", type=int, default=150)
    ap.add_argument("--phases", default="quiet,ingest", help="comma list of quiet, ingest (in-process)")
    ap.add_argument("--app", action="store_true", help="also load the web app through gradio_client")
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "load.json"))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="qa-load-"))
    os.environ["QA_DATA_DIR"] = str(tmp / "data")
    os.environ["QA_LLM"] = args.answerer
    if args.local_model:
        os.environ["QA_LOCAL_MODEL"] = args.local_model
    load0 = os.getloadavg()
    results = run_inproc(args, tmp, [p for p in args.phases.split(",") if p]) if args.phases else []
    if args.app:
        results.append(run_app(args, tmp))
    meta = {
        "date": dt.datetime.now().isoformat(timespec="seconds"), "cpus": os.cpu_count(),
        "loadavg_start": [round(x, 2) for x in load0], "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    merged = json.loads(path.read_text()) if path.exists() else {}
    for r in results:
        merged[r["scenario"]] = {**r, **meta}
    path.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
