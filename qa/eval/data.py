"""Reading the benchmark's articles and questions, and choosing the subset to index."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

from ingest.urls import canonical_url
from qa.dates import parse_date


@dataclass
class Question:
    id: str
    question: str
    answers: list[str]  # acceptable answers; [] = unanswerable (correct when refused)
    date: dt.date | None = None
    choices: list[str] = field(default_factory=list)
    gold_urls: list[str] = field(default_factory=list)
    kind: str = "main"  # main | made_unanswerable | written_unanswerable
    # a made-unanswerable question's answers before its gold articles were removed: an answer that
    # matches them came from a remaining article that says it in other words (the rule that keeps
    # a question matches the answer's text only)
    removed_answers: list[str] = field(default_factory=list)

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def read_jsonl(path: Path | str) -> list[dict]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise SystemExit(f"{path}:{n}: not valid JSON ({exc.msg})") from exc
    return out


def load_questions(path: Path | str, kind: str = "main") -> list[Question]:
    out = []
    for n, rec in enumerate(read_jsonl(path), 1):
        if not isinstance(rec, dict) or not str(rec.get("question") or "").strip():
            raise SystemExit(f"{path}:{n}: a question record needs a 'question'")
        ans = rec.get("answer", rec.get("answers", []))
        if isinstance(ans, str):
            ans = [ans]
        out.append(
            Question(
                id=str(rec.get("id") or f"{Path(path).stem}-{n}"),
                question=str(rec["question"]).strip(),
                answers=[str(a) for a in (ans or []) if str(a).strip()],
                date=parse_date(rec.get("date") or rec.get("as_of")),
                choices=[str(c) for c in rec.get("choices") or []],
                # canonical, as ingest stores article ids: "…/story/index.html" is "…/story"
                gold_urls=[canonical_url(str(u)) for u in rec.get("gold_urls") or []],
                kind=kind,
            )
        )
    ids = [q.id for q in out]
    if len(set(ids)) != len(ids):
        raise SystemExit(f"{path}: question ids are not unique")
    return out


def select_articles(records: list[dict], questions: list[Question], max_articles: int | None) -> list[dict]:
    """Every gold article of the questions, plus the first ``max_articles`` others in file order
    (all of them when ``max_articles`` is None). File order is kept."""
    if max_articles is None:
        return list(records)
    gold = {u for q in questions for u in q.gold_urls}  # canonical since load_questions
    out, others = [], 0
    for rec in records:
        url = canonical_url(str(rec.get("url") or ""))
        if url in gold:
            out.append(rec)
        elif others < max_articles:
            out.append(rec)
            others += 1
    return out


def to_articles(records: list[dict], where: str):
    """Records -> ingest Articles (records the loader refuses are returned as failures)."""
    from ingest.loaders import LoadError, article_from_record, check_article
    from qa.settings import get_settings

    settings = get_settings()
    arts, failed = [], []
    for n, rec in enumerate(records, 1):
        try:
            art = article_from_record(rec, f"{where}:{n}")
        except (LoadError, ValueError, TypeError) as exc:
            failed.append((n, str(exc)))
            continue
        problem = check_article(art, settings)
        if problem:
            failed.append((n, problem))
            continue
        arts.append(art)
    return arts, failed
