"""``python -m qa "question"``: the answer, then numbered sources.

``--format markdown`` gives the answer with numbered footnotes (title, outlet,
date, link, quoted sentence) to paste anywhere; ``--format json`` (or
``--json``) the checked Answer for programs; ``text`` (default) the terminal
view. ``--llm`` picks the answerer for this call only, through a settings copy
(nothing global changes, so a library caller's settings stay theirs).
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import List, Optional

import typer
from rich.console import Console

from .errors import QAError


class Format(str, Enum):
    text = "text"
    markdown = "markdown"
    json = "json"


class LLM(str, Enum):
    auto = "auto"
    openai = "openai"
    local = "local"
    extractive = "extractive"


app = typer.Typer(add_completion=False, help="Ask a question of the indexed news articles.")


@app.command()
def main(
    question: str = typer.Argument(..., help="The question, in English."),
    fmt: Format = typer.Option(Format.text, "--format", "-f", help="text, markdown (footnoted) or json."),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Answer as of this date (YYYY-MM-DD); later articles are invisible."),
    since: Optional[str] = typer.Option(None, "--since", help="Only articles published on or after this date."),
    until: Optional[str] = typer.Option(None, "--until", help="Only articles published on or before this date."),
    source: Optional[List[str]] = typer.Option(None, "--source", help="Only this site/source (repeatable)."),
    k: Optional[int] = typer.Option(None, "-k", help="Passages given to the answerer."),
    llm: Optional[LLM] = typer.Option(None, "--llm", help="auto, openai, local or extractive (default: QA_LLM)."),
) -> None:
    from . import export
    from .answer import stream
    from .answerers import resolve
    from .settings import get_settings
    from .types import Answer, Evidence

    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    if as_json:
        fmt = Format.json
    settings = get_settings()
    if llm:
        settings = settings.model_copy(update={"llm": llm.value})
    final = None
    try:
        answerer = resolve(settings)
        for event in stream(question, as_of=as_of, since=since, until=until, sources=source, k=k, answerer=answerer):
            if isinstance(event, Evidence) and fmt is Format.text:
                err.print(f"[dim]answerer: {event.answerer} ({event.model}); {len(event.passages)} passages found[/dim]")
            elif isinstance(event, Answer):
                final = event  # tokens are not printed: the shown markers are the checked ones
    except ValueError as exc:
        err.print(f"[red]Error:[/red] {exc}")
        raise typer.Exit(2)
    except QAError as exc:
        err.print(f"[red]Error:[/red] {exc}")
        raise typer.Exit(1)
    assert final is not None
    if fmt is Format.json:
        sys.stdout.write(final.model_dump_json(indent=2, exclude={"passages"}) + "\n")
        return
    if fmt is Format.markdown:
        sys.stdout.write(export.answer_markdown(final))
        return
    out.print(export.answer_text(final), markup=False, end="")
    err.print(f"[dim]{final.answerer} · {final.model} · {final.timings.get('total', 0):.1f} s[/dim]")


def run() -> None:
    app(prog_name="python -m qa")


if __name__ == "__main__":
    run()
