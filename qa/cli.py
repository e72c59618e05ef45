"""``python -m qa "question"``: the answer, then numbered sources; ``--json`` for machines."""

from __future__ import annotations

import sys
from typing import List, Optional

import typer
from rich.console import Console

from .errors import QAError

app = typer.Typer(add_completion=False, help="Ask a question of the indexed news articles.")


@app.command()
def main(
    question: str = typer.Argument(..., help="The question, in English."),
    as_json: bool = typer.Option(False, "--json", help="Print the Answer as JSON."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Answer as of this date (YYYY-MM-DD); later articles are invisible."),
    since: Optional[str] = typer.Option(None, "--since", help="Only articles published on or after this date."),
    until: Optional[str] = typer.Option(None, "--until", help="Only articles published on or before this date."),
    source: Optional[List[str]] = typer.Option(None, "--source", help="Only this site/source (repeatable)."),
    k: Optional[int] = typer.Option(None, "-k", help="Passages given to the answerer."),
    llm: Optional[str] = typer.Option(None, "--llm", help="auto, openai, local or extractive (default: QA_LLM)."),
) -> None:
    from .answer import stream
    from .settings import get_settings, reset_settings
    from .types import Answer, Evidence, Token

    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    if llm:
        import os

        os.environ["QA_LLM"] = llm
        reset_settings()
    get_settings()
    final = None
    try:
        for event in stream(question, as_of=as_of, since=since, until=until, sources=source, k=k):
            if isinstance(event, Evidence) and not as_json:
                err.print(f"[dim]answerer: {event.answerer} ({event.model}); {len(event.passages)} passages found[/dim]")
            elif isinstance(event, Token) and not as_json:
                pass  # printed after checking, so the shown markers are the verified ones
            elif isinstance(event, Answer):
                final = event
    except ValueError as exc:
        err.print(f"[red]Error:[/red] {exc}")
        raise typer.Exit(2)
    except QAError as exc:
        err.print(f"[red]Error:[/red] {exc}")
        raise typer.Exit(1)
    assert final is not None
    if as_json:
        sys.stdout.write(final.model_dump_json(indent=2, exclude={"passages"}) + "\n")
        return
    out.print(final.text)
    if final.flagged:
        out.print("\n[yellow]Not supported by the articles:[/yellow]")
        for s in final.flagged:
            out.print(f"  - {s}")
    if final.citations:
        out.print("\nSources:")
        for c in final.citations:
            site = c.source or "unknown source"
            out.print(f"  [{c.index}] {c.title} — {site}, {c.published}" + (f" — {c.url}" if c.url else ""))
            out.print(f"      “{c.quote}”")
    err.print(f"[dim]{final.answerer} · {final.model} · {final.timings.get('total', 0):.1f} s[/dim]")


def run() -> None:
    app(prog_name="python -m qa")


if __name__ == "__main__":
    run()
