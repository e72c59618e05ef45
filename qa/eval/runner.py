"""``python -m qa.eval``: index a corpus into a fresh store, ask every question as of its date, score.

    python -m qa.eval --articles ARTICLES.jsonl --questions QUESTIONS.jsonl [--limit N]
        [--max-articles M] [--retrieval-only] [--answerer auto|openai|local|extractive] [--json OUT]
        [--mode hybrid|dense|bm25] [--no-dates] [--embedding-model NAME] [--local-model NAME]
        [--data-dir DIR] [--unanswerable FILE] [--made-unanswerable] [--baseline] [--results FILE]

Each question's result is appended to a JSONL file (``--results``, default next to ``--json``)
tagged with a fingerprint of the settings, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
)
from rich.table import Table

from ingest.urls import canonical_url

from . import metrics as M
from .data import Question, load_questions, read_jsonl, select_articles

EMBED_SAMPLE = 64  # chunks used to measure the embedding model's own throughput


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m qa.eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("--articles", required=True, help="JSONL of articles (url, title, text, published, source, authors)")
    ap.add_argument("--questions", required=True, help="JSONL of questions (id, date, question, answer, choices, gold_urls)")
    ap.add_argument("--limit", type=int, help="only the first N questions")
    ap.add_argument("--max-articles", type=int, help="index the gold articles plus the first M others (file order)")
    ap.add_argument("--retrieval-only", action="store_true", help="score retrieval only; no answers")
    ap.add_argument("--answerer", choices=["auto", "openai", "local", "extractive"], default="auto")
    ap.add_argument("--local-model", help="QA_LOCAL_MODEL for --answerer local (qwen2.5-1.5b, qwen2.5-0.5b, smollm2-135m)")
    ap.add_argument("--json", dest="json_out", help="write the summary here")
    ap.add_argument("--results", help="per-question JSONL (resumable); default: next to --json")
    ap.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid")
    ap.add_argument("--no-dates", action="store_true", help="ignore question dates (no as-of filter, no recency bonus)")
    ap.add_argument("--archive", nargs="?", const="auto", default=None, metavar="DATE",
                    help="archive mode: ask every question as of DATE (default: the corpus's last day + 30 days) "
                         "instead of its own date, as a person reading an archive later would")
    ap.add_argument("--embedding-model", default=None, help="all-MiniLM-L6-v2-int8 (default) or paraphrase-MiniLM-L3-v2")
    ap.add_argument("--k", type=int, default=None, help="passages given to the answerer (default QA_K)")
    ap.add_argument("--candidates", type=int, default=None, help="per-retriever candidates before fusion")
    ap.add_argument("--recency-tau-days", type=float, default=None)
    ap.add_argument("--data-dir", help="store here instead of a fresh temporary folder (reused between runs)")
    ap.add_argument("--unanswerable", help="extra questions with answer [] (e.g. bench/unanswerable.jsonl)")
    ap.add_argument("--made-unanswerable", action="store_true",
                    help="afterwards, drop the gold articles and re-ask the questions whose answer no remaining article contains")
    ap.add_argument("--baseline", action="store_true", help="run the plain LangChain recipe instead of our pipeline")
    ap.add_argument("--cache", help="embedding cache file (default ~/.cache/news-qa/eval-embeddings/embeddings.sqlite)")
    ap.add_argument("--max-minutes", type=float, help="stop asking new questions after this long and score what was "
                    "asked (the summary says partial; rerun to resume)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run(args)


# ------------------------------------------------------------------------------------------

def _settings(args, data_dir: Path):
    from qa.settings import Settings

    kw = {"data_dir": data_dir}
    if args.answerer:
        kw["llm"] = args.answerer
    if args.local_model:
        kw["local_model"] = args.local_model
    if args.k:
        kw["k"] = args.k
    if args.candidates:
        kw["candidates"] = args.candidates
    if args.recency_tau_days is not None:
        kw["recency_tau_days"] = args.recency_tau_days
    return Settings(**kw)


def _fingerprint(cfg: dict) -> str:
    keys = {k: v for k, v in cfg.items() if k not in ("data_dir",)}
    return hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _code_hash(root: Path | None = None) -> str:
    """The answering code (qa/ and ingest/, not the harness): a run resumes only answers that the
    same code gave. Without it a rerun after a change to the verdict silently kept the old answers."""
    root = root or Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for path in sorted([*(root / "qa").rglob("*.py"), *(root / "ingest").rglob("*.py")]):
        rel = path.relative_to(root)
        if rel.parts[:2] == ("qa", "eval"):
            continue
        h.update(str(rel).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _results_path(args) -> Path | None:
    if args.results:
        return Path(args.results)
    if args.json_out:
        out = Path(args.json_out)
        return out.with_name(out.stem + ".questions.jsonl")
    return None


def _load_done(path: Path | None, fp: str) -> dict[str, dict]:
    done: dict[str, dict] = {}
    if path and path.exists():
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by an interrupted run
                if rec.get("fp") == fp:
                    done[rec["key"]] = rec
    return done


def run(args) -> int:
    con = Console(stderr=True)
    out = Console()
    t_start = time.time()
    load_start = os.getloadavg()[0]
    _GIT_AT_START.update(_git())  # the code this process loaded, not what HEAD is when it finishes
    from qa.embeddings import DEFAULT_MODEL

    from .cache import CachedEmbeddings, EmbeddingCache

    emb_model = args.embedding_model or DEFAULT_MODEL
    questions = load_questions(args.questions)
    if args.limit is not None:
        questions = questions[: args.limit]
    extra: list[Question] = []
    if args.unanswerable:
        extra = load_questions(args.unanswerable, kind="written_unanswerable")
        for q in extra:
            if q.answers:
                con.print(f"[yellow]warning:[/yellow] {q.id} in {args.unanswerable} has an answer; treated as unanswerable")
                q.answers = []
    records = read_jsonl(args.articles)
    selected = select_articles(records, questions, args.max_articles)
    missing_gold = sorted({u for q in questions for u in q.gold_urls} - {canonical_url(str(r.get("url"))) for r in selected})
    if missing_gold:
        con.print(f"[yellow]warning:[/yellow] {len(missing_gold)} gold URLs are not in {args.articles}")

    tmp = None
    if args.data_dir:
        data_dir = Path(args.data_dir).expanduser().resolve()
    else:
        tmp = tempfile.mkdtemp(prefix="qa-eval-")
        data_dir = Path(tmp)
    settings = _settings(args, data_dir)
    dates = not args.no_dates
    emb = CachedEmbeddings(emb_model, batch_size=settings.embed_batch_size, cache=EmbeddingCache(args.cache) if args.cache else None)
    if args.baseline:
        from .baseline import CHUNK_OVERLAP, CHUNK_SIZE, TOP_K, BaselineSystem

        system = BaselineSystem(settings, emb=emb)
        cfg = {"system": "baseline", "chunk_size": CHUNK_SIZE, "chunk_overlap": CHUNK_OVERLAP, "k": TOP_K,
               "mode": "dense", "dates": False}
    else:
        from .systems import OurSystem

        ask_as_of = archive_day(args.archive, selected) if args.archive else None
        system = OurSystem(settings, embedding_model=emb_model, mode=args.mode, dates=dates, k=settings.k, emb=emb,
                           ask_as_of=ask_as_of)
        cfg = {"system": "ours", "chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap,
               "k": settings.k, "mode": args.mode, "dates": dates, "candidates": settings.candidates,
               "recency_tau_days": settings.recency_tau_days if dates else 0.0,
               "rrf_k": settings.rrf_k, "dense_weight": settings.dense_weight,
               "recency_weight": settings.recency_weight if dates else 0.0,
               "asked_as_of": ask_as_of.isoformat() if ask_as_of else "question date"}
    cfg.update({
        "embedding_model": emb.name, "retrieval_only": bool(args.retrieval_only),
        "answerer": None if args.retrieval_only else args.answerer,
        "local_model": None if args.retrieval_only else settings.local_model if args.answerer in ("local", "auto") else None,
        "local_reader": None if args.retrieval_only else settings.local_reader,
        "evidence_token_budget": settings.evidence_token_budget, "evidence_sentences": settings.evidence_sentences,
        "evidence_neighbour": settings.evidence_neighbour, "evidence_headings": settings.evidence_headings,
        "local_prompt_lookup": settings.local_prompt_lookup,
        "articles_file": Path(args.articles).name, "articles_indexed": len(selected),
        "questions_file": Path(args.questions).name, "data_dir": str(data_dir),
        "code": _code_hash(),
    })
    fp = _fingerprint(cfg)
    res_path = _results_path(args)
    done = _load_done(res_path, fp)
    if done:
        con.print(f"Resuming: {len(done)} results already in {res_path}")
    # which gold answers are verbatim in a gold article (the 169-question subset of the README)
    by_url = {str(r.get("url")): r for r in records}
    verbatim = {}
    for q in questions:
        golds = [M.padded_norm(f"{by_url[u].get('title', '')}\n{by_url[u].get('text', '')}") for u in q.gold_urls if u in by_url]
        verbatim[q.id] = bool(q.answers) and any(M.text_contains(g, a) for g in golds for a in q.answers)

    progress = Progress(
        SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
        console=con, disable=args.quiet, transient=False,
    )
    results: list[dict] = []
    loads: list[float] = []
    stopped = None
    made_info: dict = {}
    rss_questions = None
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with progress:
            # 1. ingest ------------------------------------------------------------------
            task = progress.add_task("Indexing articles", total=len(selected), info="")
            build = system.build(selected, args.articles, lambda n: progress.advance(task, n))
            progress.update(task, completed=len(selected), info=f"{build['chunks']:,} chunks")
            emb_stats = {"embed_cache_hits": emb.hits, "embed_cache_misses": emb.misses,
                         "embed_model_s_in_ingest": round(emb.model_seconds, 2)}
            emb.caching = False  # from here on, queries run the model: latencies are real
            # 2. the embedding model's own throughput on the same chunks -------------------
            sample = system.sample_texts(EMBED_SAMPLE)
            t0 = time.perf_counter()
            emb.raw_embed(sample)
            embed_rate = len(sample) / max(time.perf_counter() - t0, 1e-9) if sample else None
            if not args.retrieval_only:
                task = progress.add_task("Loading the answerer", total=1, info="")
                system.warm_up()
                progress.update(task, completed=1, info=f"{system.answerer.name}: {system.answerer.model}")
                if args.answerer != "auto" and system.answerer.name != args.answerer:
                    raise SystemExit(f"asked for --answerer {args.answerer} but {system.answerer.name} ran")
            # 3. questions -------------------------------------------------------------------
            todo = questions + extra
            task = progress.add_task("Questions", total=len(todo), info="")
            if res_path:
                res_path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(res_path, "a", encoding="utf-8") if res_path else None
            try:
                for q in todo:
                    key = q.id
                    if key not in done and _out_of_time(args, t_start):
                        stopped = f"--max-minutes {args.max_minutes} reached"
                        break
                    rec = done.get(key) or _ask(system, q, args.retrieval_only, verbatim.get(q.id, False))
                    rec.update({"fp": fp, "key": key})
                    if key not in done and fh:
                        fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                        fh.flush()
                    results.append(rec)
                    loads.append(os.getloadavg()[0])
                    progress.update(task, advance=1, info=_running(results))
                # the process's peak before the store is changed: the answering figure (deleting gold
                # articles rebuilds BM25 beside the old arrays, a cost of the eval, not of asking)
                rss_questions = _peak_rss_mb()
                # 4. made-unanswerable cases ---------------------------------------------------
                made_info = {}
                if args.made_unanswerable and not args.retrieval_only and not stopped:
                    made, made_info = _made_unanswerable(questions, selected)
                    task = progress.add_task("Removing gold articles", total=1, info="")
                    removed = system.remove(sorted({u for q in questions for u in q.gold_urls}))
                    made_info["chunks_removed"] = removed
                    progress.update(task, completed=1, info=f"{removed:,} chunks")
                    task = progress.add_task("Made-unanswerable", total=len(made), info="")
                    for q in made:
                        key = f"{q.id}#made"
                        if key not in done and _out_of_time(args, t_start):
                            stopped = f"--max-minutes {args.max_minutes} reached"
                            break
                        rec = done.get(key) or _ask(system, q, False, False)
                        rec.update({"fp": fp, "key": key})
                        if key not in done and fh:
                            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                            fh.flush()
                        results.append(rec)
                        progress.update(task, advance=1, info=_running([r for r in results if r["kind"] == "made_unanswerable"]))
            except KeyboardInterrupt:  # Ctrl-C or SIGTERM: score what was asked
                stopped = "interrupted"
            finally:
                if fh:
                    fh.close()
    finally:
        system.close()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    summary = summarize(results, cfg, build, emb_stats, embed_rate, made_info, answerer=None if args.retrieval_only else system.answerer)
    summary["partial"] = stopped
    summary["peak_rss_mb_questions"] = rss_questions
    if stopped:
        summary["questions_selected"] = len(questions) + len(extra)
    summary["wall_s"] = round(time.time() - t_start, 1)
    # the machine is shared: the 1-minute load average says how contended the timings were
    summary["load_avg_1m"] = {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2),
                              "mean_during_questions": _r(M.mean(loads), 2)}
    summary["results_file"] = str(res_path) if res_path else None
    if stopped:
        con.print(f"[yellow]Partial:[/yellow] {stopped}; {len(results)} of {len(questions) + len(extra)} questions scored "
                  f"(rerun the same command to resume)")
    print_table(out, summary)
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        con.print(f"Wrote {args.json_out}")
    return 0


def archive_day(arg: str, records: list[dict]) -> dt.date:
    """The day an archive is read: the one given, or 30 days after the newest article indexed."""
    from qa.dates import parse_date, require_date

    if arg != "auto":
        return require_date(arg, "--archive")
    days = [d for d in (parse_date(r.get("published")) for r in records) if d]
    if not days:
        raise SystemExit("--archive: no article has a date; give the day explicitly (--archive YYYY-MM-DD)")
    return max(days) + dt.timedelta(days=30)


def _out_of_time(args, t_start: float) -> bool:
    return bool(args.max_minutes) and time.time() - t_start > args.max_minutes * 60


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _ask(system, q: Question, retrieval_only: bool, verbatim: bool) -> dict:
    rec = {
        "id": q.id, "kind": q.kind, "question": q.question, "date": q.date.isoformat() if q.date else None,
        "answers": q.answers, "choices": q.choices, "gold_urls": q.gold_urls, "verbatim": verbatim,
    }
    if q.gold_urls:
        urls, took = system.retrieve(q)
        rec.update({"retrieved_urls": urls, "gold_rank": M.retrieval_ranks(urls, q.gold_urls), "retrieval_ms": took * 1000})
    if retrieval_only:
        return rec
    a = system.answer(q)
    n_cit = len(a["citations"])
    rec.update({k: v for k, v in a.items() if k != "citations"})
    rec["citation_urls"] = [c["url"] for c in a["citations"]]
    rec["n_citations"] = n_cit
    rec["correct"] = M.is_correct(a["text"], a["refused"], n_cit, q.answers, q.choices, q.question)
    rec["correct_fair"] = M.is_correct(a["text"], a["refused"], n_cit, q.answers, q.choices, q.question, fair=True)
    if q.removed_answers:
        rec["right_from_remaining"] = not a["refused"] and M.is_correct(
            a["text"], a["refused"], n_cit, q.removed_answers, q.choices, q.question, fair=True)
    if q.answers and a.get("evidence_text") is not None:
        # sentence selection on its own: was an answer-bearing sentence among those the reader got?
        rec["evidence_has_answer"] = any(M.text_contains(M.padded_norm(t), g) for t in a["evidence_text"] for g in q.answers)
    rec["f1"] = 0.0 if a["refused"] or not q.answers else M.token_f1(a["text"], q.answers)
    if q.answers and not a["refused"] and n_cit:
        gold = set(q.gold_urls)
        rec["citation_gold"] = any(
            canonical_url(c["url"]) in gold or any(M.text_contains(M.padded_norm(c["passage"]), g) for g in q.answers)
            for c in a["citations"]
        )
    elif q.answers and not a["refused"]:
        rec["citation_gold"] = False
    return rec


def _made_unanswerable(questions: list[Question], selected: list[dict]) -> tuple[list[Question], dict]:
    """The questions again, with their gold articles gone, kept only where no remaining article holds the answer."""
    gold = {u for q in questions for u in q.gold_urls}
    remaining = [M.padded_norm(f"{r.get('title', '')}\n{r.get('text', '')}") for r in selected
                 if canonical_url(str(r.get("url"))) not in gold]
    made = []
    candidates = [q for q in questions if q.answers and q.gold_urls]
    for q in candidates:
        if not any(M.text_contains(t, a) for t in remaining for a in q.answers):
            made.append(Question(id=q.id, question=q.question, answers=[], date=q.date, choices=q.choices,
                                 gold_urls=[], kind="made_unanswerable", removed_answers=list(q.answers)))
    return made, {"made_candidates": len(candidates), "made_kept": len(made), "gold_articles_removed": len(gold)}


def _running(results: list[dict]) -> str:
    parts = []
    ranks = [r for r in results if r.get("gold_urls")]
    if ranks:
        h5 = sum(1 for r in ranks if r.get("gold_rank") and r["gold_rank"] <= 5) / len(ranks)
        parts.append(f"hit@5 {h5:.2f}")
    ans = [r for r in results if "correct" in r and r["answers"]]
    if ans:
        parts.append(f"acc {sum(r['correct'] for r in ans) / len(ans):.2f}")
    un = [r for r in results if "correct" in r and not r["answers"]]
    if un:
        parts.append(f"refused(unans) {sum(r['refused'] for r in un) / len(un):.2f}")
    return "  ".join(parts)


_GIT_AT_START: dict = {}


def _git() -> dict:
    """Which code produced the numbers (chunking and retrieval change under the benchmark)."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "qa", "ingest"], cwd=root, capture_output=True,
                               text=True, timeout=10).stdout.split("\n")
        return {"commit": head or None, "uncommitted_in_qa_ingest": sorted(l[3:] for l in dirty if l.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None}


def _r(x, nd=3):
    return None if x is None else round(float(x), nd)


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def summarize(results, cfg, build, emb_stats, embed_rate, made_info, answerer=None) -> dict:
    main = [r for r in results if r["kind"] == "main"]
    answerable = [r for r in main if r["answers"]]
    ret = M.summarize_retrieval(main)
    ans = M.summarize_answers(main)
    verb = [r for r in answerable if r.get("verbatim")]
    verb_ans = M.summarize_answers(verb)
    made = [r for r in results if r["kind"] == "made_unanswerable"]
    written = [r for r in results if r["kind"] == "written_unanswerable"]
    unans_main = [r for r in main if not r["answers"] and "correct" in r]
    lat = [r["retrieval_ms"] for r in results if r.get("retrieval_ms") is not None]
    ingest_s = build["ingest_s"]
    chunks = build["chunks_added"]
    est = None
    if embed_rate and chunks:
        est = chunks / max(1e-9, ingest_s - emb_stats["embed_model_s_in_ingest"] + chunks / embed_rate)
    s = {
        "n": len(main),
        "n_answerable": len(answerable),
        "hit@1": _r(ret.get("hit@1")), "hit@5": _r(ret.get("hit@5")), "hit@10": _r(ret.get("hit@10")),
        "mrr@10": _r(ret.get("mrr@10")),
        "accuracy": _r(ans.get("accuracy")), "accuracy_fair": _r(ans.get("accuracy_fair")),
        "evidence_answer_rate": _r(ans.get("evidence_answer_rate")), "token_f1": _r(ans.get("token_f1")),
        "refusal_rate": _r(ans.get("refusal_rate")),
        "citation_validity": _r(ans.get("citation_validity")), "citation_markers": ans.get("citation_markers"),
        "citation_invalid_markers": ans.get("citation_invalid_markers"),
        "supported_rate": _r(ans.get("supported_rate")), "cited_sentences": ans.get("cited_sentences"),
        "flagged_sentences": ans.get("flagged_sentences"),
        "citation_gold_rate": _r(ans.get("citation_gold_rate")),
        "verbatim_n": len(verb), "verbatim_accuracy": _r(verb_ans.get("accuracy")),
        "verbatim_token_f1": _r(verb_ans.get("token_f1")),
        "verbatim_hit@5": _r(M.summarize_retrieval(verb).get("hit@5")) if verb else None,
        "unanswerable_in_questions_n": len(unans_main),
        "unanswerable_in_questions_refusal_rate": _r(M.mean(r["refused"] for r in unans_main)) if unans_main else None,
        "made_unanswerable_n": len(made),
        "made_unanswerable_refusal_rate": _r(M.mean(r["refused"] for r in made)) if made else None,
        "made_unanswerable_correct": _r(M.mean(r["correct"] for r in made)) if made else None,
        "made_unanswerable_right_from_remaining": sum(bool(r.get("right_from_remaining")) for r in made) if made else None,
        "written_unanswerable_n": len(written),
        "written_unanswerable_refusal_rate": _r(M.mean(r["refused"] for r in written)) if written else None,
        "written_unanswerable_correct": _r(M.mean(r["correct"] for r in written)) if written else None,
        "ingest_articles": build["articles"], "ingest_chunks": build["chunks"],
        "ingest_s": _r(ingest_s, 1), "ingest_chunks_added": chunks,
        "ingest_skipped": bool(build.get("ingest_skipped")),  # a reused --data-dir already held these chunks
        "ingest_chunks_per_s": _r(chunks / ingest_s if ingest_s and chunks else None, 1),
        "ingest_chunks_per_s_uncached_est": _r(est, 1),
        "bm25_build_s": _r(build.get("bm25_build_s"), 1),
        **emb_stats,
        "embed_chunks_per_s": _r(embed_rate, 1),
        "retrieval_p50_ms": _r(M.percentile(lat, 50), 1), "retrieval_p95_ms": _r(M.percentile(lat, 95), 1),
        "answer_p50_s": _r(ans.get("answer_p50_s"), 2), "answer_p95_s": _r(ans.get("answer_p95_s"), 2),
        "first_token_p50_s": _r(ans.get("first_token_p50_s"), 2),
        "peak_rss_mb": _peak_rss_mb(),
        "made_unanswerable": made_info or None,
        "settings": {**cfg, "answerer_ran": answerer.name if answerer else None,
                     "model": answerer.model if answerer else None, "cpu_count": os.cpu_count(), "git": dict(_GIT_AT_START) or _git(),
                     "date": dt.date.today().isoformat()},
    }
    return s


def print_table(out: Console, s: dict) -> None:
    cfg = s["settings"]
    title = (f"{cfg['system']} · {cfg['mode']} · dates {'on' if cfg['dates'] else 'off'} · "
             f"{cfg['embedding_model']} · {cfg.get('model') or 'retrieval only'}")
    t = Table(title=title)
    t.add_column("metric")
    t.add_column("value", justify="right")
    rows = [
        ("questions", s["n"]), ("hit@1", s["hit@1"]), ("hit@5", s["hit@5"]), ("hit@10", s["hit@10"]),
        ("MRR@10", s["mrr@10"]), ("accuracy", s["accuracy"]), ("accuracy (fair choice mapping)", s["accuracy_fair"]),
        ("token F1", s["token_f1"]),
        ("refusal rate (answerable)", s["refusal_rate"]),
        (f"verbatim subset (n={s['verbatim_n']}) accuracy", s["verbatim_accuracy"]),
        (f"made-unanswerable (n={s['made_unanswerable_n']}) refused", s["made_unanswerable_refusal_rate"]),
        ("made-unanswerable answered right from a remaining article", s["made_unanswerable_right_from_remaining"]),
        (f"written-unanswerable (n={s['written_unanswerable_n']}) refused", s["written_unanswerable_refusal_rate"]),
        (f"citation validity ({s['citation_markers']} markers)", s["citation_validity"]),
        ("supported rate", s["supported_rate"]), ("citation gold rate", s["citation_gold_rate"]),
        ("ingest chunks/s (cache hits)", s["ingest_chunks_per_s"]),
        ("ingest chunks/s (uncached, est.)", s["ingest_chunks_per_s_uncached_est"]),
        ("embed chunks/s (model alone)", s["embed_chunks_per_s"]),
        ("retrieval p50 / p95 ms", f"{s['retrieval_p50_ms']} / {s['retrieval_p95_ms']}"),
        ("answer p50 / p95 s", f"{s['answer_p50_s']} / {s['answer_p95_s']}"),
        ("peak RSS MB", s["peak_rss_mb"]),
        ("peak RSS MB before removing gold articles", s.get("peak_rss_mb_questions")),
    ]
    for name, v in rows:
        if v is None or v == "None / None":
            continue
        t.add_row(name, f"{v:.3f}" if isinstance(v, float) else str(v))
    out.print(t)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
