"""ask() latency per answerer on the seed article's questions.

    .venv/bin/python bench/latency.py [--answerers extractive,local,openai] [--local-model qwen2.5-1.5b]
                                      [--repeat 2] [--json bench/results/latency.json]

Indexes the seed article into a fresh temporary store, then asks each question
(`repeat` rounds, so the second round shows llama.cpp's prompt-prefix cache)
and reports time to first token and to the full answer, p50/p95, plus the
process's peak RSS. The openai answerer is measured against llama-cpp-python's
OpenAI-compatible server on 127.0.0.1 serving the same local model.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SEED = ROOT.parent / "shared" / "corpus" / "000_6c5d0eca67019274.txt"
QUESTIONS = [
    "Who leads the Chinese delegation?",
    "Who leads the American delegation?",
    "In which city are the talks being held?",
    "What is the deadline for ByteDance to divest TikTok's US operations?",
    "How many US users does TikTok have?",
    "What is the capital of Peru?",
]


def pct(values, p):
    values = sorted(values)
    if not values:
        return None
    k = (len(values) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return round(values[lo] + (values[hi] - values[lo]) * (k - lo), 3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answerers", default="extractive,local,openai")
    ap.add_argument("--local-model", default="qwen2.5-1.5b")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    os.environ["QA_DATA_DIR"] = tempfile.mkdtemp(prefix="qa-latency-")
    os.environ["QA_LOCAL_MODEL"] = args.local_model
    import ingest
    from qa import ask
    from qa.settings import get_settings, reset_settings

    ingest.add([str(SEED)])
    results = {"cpu_threads": os.cpu_count(), "local_model": args.local_model, "questions": len(QUESTIONS),
               "repeat": args.repeat, "answerers": {}}
    server = None
    for name in args.answerers.split(","):
        os.environ["QA_LLM"] = name
        if name == "openai":
            from qa.local_model import model_file
            from tests.llm_server import start_llama_server

            path = model_file(args.local_model, get_settings().model_cache_dir)
            server, port = start_llama_server(str(path), Path(os.environ["QA_DATA_DIR"]) / "server.log")
            os.environ["OPENAI_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
            os.environ["OPENAI_API_KEY"] = "local"
            os.environ["QA_OPENAI_MODEL"] = "local-test-model"
            os.environ["QA_OPENAI_TIMEOUT_S"] = "600"
        reset_settings()
        first, total, rows = [], [], []
        for _ in range(args.repeat):
            for q in QUESTIONS:
                a = ask(q)
                assert a.answerer == name, (a.answerer, name)
                first.append(a.timings["first_token"])
                total.append(a.timings["total"])
                rows.append({"q": q, "text": a.text, "refused": a.refused, "timings": a.timings})
                print(name, round(a.timings["total"], 2), a.text[:90], flush=True)
        results["answerers"][name] = {
            "model": a.model,
            "first_token_p50_s": pct(first, 0.5), "first_token_p95_s": pct(first, 0.95),
            "total_p50_s": pct(total, 0.5), "total_p95_s": pct(total, 0.95),
            "total_mean_s": round(statistics.mean(total), 3), "answers": rows,
        }
        if server is not None:
            from tests.llm_server import stop

            stop(server)
            server = None
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    summary = {k: {m: v[m] for m in v if m != "answers"} for k, v in results["answerers"].items()}
    print(json.dumps(summary, indent=2), "peak_rss_mb", results["peak_rss_mb"])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
