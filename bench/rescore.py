"""Re-score finished runs with the current scoring rules (qa/eval/metrics.py), without re-asking.

    .venv/bin/python bench/rescore.py bench/results/answers-*.json bench/results/pair-*.json

Each summary's per-question JSONL (``results_file``) keeps the answer text, refusal and citation
count, so ``correct`` and the accuracy figures are recomputed from them; retrieval, timing and
cost figures are left as measured. The summary gets ``rescored_with`` (the git commit).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.eval import metrics as M  # noqa: E402


def rescore(summary_path: Path) -> None:
    s = json.loads(summary_path.read_text())
    rows_path = Path(s.get("results_file") or "")
    if not rows_path.is_file():
        print(f"{summary_path}: no per-question file, skipped")
        return
    rows = [json.loads(line) for line in rows_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    last = rows[-1].get("fp") if rows else None
    rows = [r for r in rows if r.get("fp") == last and "correct" in r]
    for r in rows:
        r["correct"] = M.is_correct(r["text"], r["refused"], r.get("n_citations", 0), r["answers"],
                                    r.get("choices") or [], r.get("question", ""))
    main = [r for r in rows if r["kind"] == "main"]
    answerable = [r for r in main if r["answers"]]
    verb = [r for r in answerable if r.get("verbatim")]
    before = s.get("accuracy")
    s["accuracy"] = round(M.mean(r["correct"] for r in answerable), 3) if answerable else None
    s["verbatim_accuracy"] = round(M.mean(r["correct"] for r in verb), 3) if verb else None
    for kind in ("made_unanswerable", "written_unanswerable"):
        sub = [r for r in rows if r["kind"] == kind]
        s[f"{kind}_correct"] = round(M.mean(r["correct"] for r in sub), 3) if sub else None
    s["rescored_with"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                        text=True).stdout.strip()
    summary_path.write_text(json.dumps(s, indent=2) + "\n")
    print(f"{summary_path.name}: accuracy {before} -> {s['accuracy']} (n={len(answerable)})")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        if not arg.endswith(".questions.jsonl"):
            rescore(Path(arg))
