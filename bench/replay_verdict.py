"""Replay a finished reader run's raw model outputs through today's verdict, without the LLM.

    .venv/bin/python bench/replay_verdict.py --results RUN.questions.jsonl --data-dir STORE
        [--made-data-dir STORE_WITHOUT_GOLD] [--show]

The model's replies are recorded in every eval run (``raw_text``). Retrieval and evidence
selection are deterministic, so replaying those replies through :func:`qa.verdict.decide`
scores a change to the verdict (what is cited, what is refused) in seconds instead of a
ten-minute model run. ``--made-data-dir``: a copy of the store with the questions' gold
articles deleted, for the made-unanswerable rows (the eval deletes them the same way).
Prints old and new accuracy, refusal rates and each question whose outcome changed.
A question the reader read twice (``second_look_s`` > 0: the verdict refused its first answer and
it read the next sentences, ``qa.answer._read_again``) keeps its recorded outcome: only the reply
that was kept is recorded, so it is counted as it ran and listed as not replayed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa.answer import _memoised, filters_for  # noqa: E402
from qa.answerers import Draft, _parse  # noqa: E402
from qa.eval import metrics as M  # noqa: E402
from qa.evidence import select_with  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.retrieve import Fusion, newest_visible, retrieve  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.verdict import decide  # noqa: E402


def replay(row: dict, index: Index, settings: Settings) -> dict:
    q = row["question"]
    filters = filters_for(as_of=row["date"])
    passages = retrieve(q, index, k=settings.k, filters=filters, fusion=Fusion.from_settings(settings))
    evidence = select_with(settings, q, passages, _memoised(index.embeddings.embed))
    parsed = _parse(row["raw_text"], len(evidence))
    draft = Draft(raw=row["raw_text"], sentence=parsed[0], short=parsed[1]) if parsed else Draft(raw=row["raw_text"], text=row["raw_text"])
    v = decide(draft, q, evidence, passages, settings.refuse_threshold, newest_days=newest_visible(index, filters))
    n = len(v.citations)
    return {
        "text": v.text, "refused": v.refused,
        "correct": M.is_correct(v.text, v.refused, n, row["answers"], row["choices"], q),
        "correct_fair": M.is_correct(v.text, v.refused, n, row["answers"], row["choices"], q, fair=True),
    }


def _rate(rows, key):
    return round(sum(bool(r[key]) for r in rows) / len(rows), 3) if rows else None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--made-data-dir")
    ap.add_argument("--show", action="store_true", help="print every changed question")
    args = ap.parse_args()
    rows = [json.loads(line) for line in open(args.results, encoding="utf-8") if line.strip()]
    stores = {}
    for kind, where in (("main", args.data_dir), ("made_unanswerable", args.made_data_dir or args.data_dir)):
        s = Settings(data_dir=Path(where).expanduser(), llm="local")
        stores[kind] = (Index(s), s)
    stores["written_unanswerable"] = stores["main"]
    new_rows = []
    read_twice = []
    for row in rows:
        if row["kind"] == "made_unanswerable" and not args.made_data_dir:
            continue
        index, s = stores[row["kind"]]
        if row.get("second_look_s"):
            read_twice.append(row["id"])
            new = {k: row[k] for k in ("text", "refused", "correct", "correct_fair")}
        else:
            new = replay(row, index, s)
        new_rows.append((row, new))
        if args.show and (new["correct"] != row["correct"] or new["text"] != row["text"]):
            print(f"{row['kind']:>20} {row['id']} {'✓' if row['correct'] else '✗'}→{'✓' if new['correct'] else '✗'} "
                  f"{row['text'][:70]!r} → {new['text'][:70]!r}")
    for kind in ("main", "made_unanswerable", "written_unanswerable"):
        pairs = [(o, n) for o, n in new_rows if o["kind"] == kind]
        if not pairs:
            continue
        old = [o for o, _ in pairs]
        new = [n for _, n in pairs]
        print(f"{kind} (n={len(pairs)}): accuracy {_rate(old, 'correct')} → {_rate(new, 'correct')}, "
              f"fair {_rate(old, 'correct_fair')} → {_rate(new, 'correct_fair')}, "
              f"refused {_rate(old, 'refused')} → {_rate(new, 'refused')}")
    if read_twice:
        print(f"read twice, counted as run, not replayed: {', '.join(read_twice)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
