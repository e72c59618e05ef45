"""``python -m ingest``: a thin layer over :func:`ingest.add`, ``delete`` and ``stats``."""

from __future__ import annotations

import json
import sys
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from qa.errors import QAError

app = typer.Typer(add_completion=False, help="Index news articles for question answering.")


@app.command()
def main(
    sources: Optional[List[str]] = typer.Argument(None, help="Files, folders, globs, feeds, JSONL files or http(s) URLs."),
    delete: Optional[List[str]] = typer.Option(None, "--delete", help="Remove an article by id, URL or path."),
    show_stats: bool = typer.Option(False, "--stats", help="Print what is indexed; the last line is JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    from . import indexer

    out = Console()
    err = Console(stderr=True)
    if not sources and not delete and not show_stats:
        err.print("Nothing to do: give files/URLs to index, --delete ID or --stats.")
        raise typer.Exit(2)
    code = 0
    try:
        for key, n in indexer.delete_many(delete or []).items():
            if n:
                out.print(f"Deleted {escape(key)} ({n} chunks).", soft_wrap=True)
            else:
                err.print(f"[red]Not found:[/red] no indexed article has id or URL {escape(repr(key))}.", soft_wrap=True)
                code = 1
        if sources:
            code = max(code, _ingest(sources, out, err, quiet))
        if show_stats:
            s = indexer.stats()
            out.print(f"{s['articles']} articles, {s['chunks']} chunks; sources: {len(s['sources'])}")
            print(json.dumps({"articles": s["articles"], "chunks": s["chunks"]}))
    except QAError as exc:
        err.print(f"[red]Error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1)
    raise typer.Exit(code)


def _ingest(sources: list[str], out: Console, err: Console, quiet: bool) -> int:
    from .indexer import add

    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err, disable=quiet or not err.is_terminal, transient=True) as bar:
        task = bar.add_task("Indexing", total=None)

        def progress(status, item):
            bar.advance(task)
            bar.update(task, description=f"Indexing ({status}: {getattr(item, 'title', '') or getattr(item, 'where', '')})"[:70])

        report = add(sources, progress=progress)
    s = report.summary()
    out.print(
        f"indexed {s['indexed']}, unchanged {s['unchanged']}, failed {s['failed']} "
        f"({s['chunks_added']} chunks added, {s['chunks_deleted']} removed)"
    )
    for f in report.failed:
        # one line per failure (soft_wrap: no wrapping at 80 columns), paths printed as given
        err.print(f"[red]failed[/red] {escape(f.where)}: {escape(f.reason)}", highlight=False, soft_wrap=True)
    return 1 if report.failed else 0


def run() -> None:
    app(prog_name="python -m ingest")


if __name__ == "__main__":
    run()
