"""Check that no article mentions what would answer a hand-written unanswerable question.

    python bench/check_unanswerable.py ARTICLES.jsonl bench/unanswerable.jsonl

Each question lists ``absent_terms`` (the answer, or names only an answering article would use);
a case-insensitive search of every article's title and text must find none of them.
"""
from __future__ import annotations

import json
import sys


def main(articles: str, questions: str) -> int:
    texts = []
    with open(articles, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                texts.append((rec.get("url", ""), f"{rec.get('title', '')}\n{rec.get('text', '')}".casefold()))
    bad = 0
    with open(questions, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            q = json.loads(line)
            terms = q.get("absent_terms") or []
            if not terms or q.get("answer"):
                print(f"{q['id']}: needs absent_terms and answer []")
                bad += 1
            for t in terms:
                hits = [u for u, x in texts if t.casefold() in x]
                if hits:
                    bad += 1
                    print(f"{q['id']}: {t!r} found in {len(hits)} article(s), e.g. {hits[0]}")
    print("ok: no article contains the answers" if not bad else f"{bad} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
