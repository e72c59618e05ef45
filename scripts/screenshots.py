"""Take the README screenshots of the web chat over the sample articles.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--llm extractive]

Starts ``app.py`` on a free port with a fresh temporary store (the samples
are indexed on first start), drives Debian's Chromium with Playwright, and
writes answer-citation.png, refusal.png and side-panel.png. Only the sample
articles (written for this project) appear in the pictures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.app_process import app_env, running_app  # noqa: E402
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
UPLOAD = """Lowfield library starts lending tools alongside books

The public library in Lowfield now lends power drills, ladders and sewing machines as well as books.
Librarian Joan Pelka said 140 tools were donated by residents in the first month of the scheme.
"""


def ask(page, question: str):
    before = page.evaluate("() => document.querySelectorAll('#qa-chat .qa-answer, #qa-chat .qa-error').length")
    box = page.locator("#qa-question textarea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('#qa-chat .qa-answer, #qa-chat .qa-error').length > n", arg=before,
        timeout=300_000,
    )
    return page.locator("#qa-chat .qa-answer, #qa-chat .qa-error").last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--llm", default="extractive", help="QA_LLM for the app (default: extractive, fast)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="newsqa-shots-") as tmp:
        env = app_env(Path(tmp) / "data", QA_LLM=args.llm, QA_LOAD_SAMPLES="true")
        with running_app(env, Path(tmp) / "app.log") as url:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                page = browser.new_page(viewport={"width": 1360, "height": 940})
                page.goto(url)
                page.wait_for_selector("#qa-stats .qa-stats-n", timeout=60_000)

                answer = ask(page, "Who won the open section of the Lowfield chess festival?")
                answer.locator("details.qa-cite > summary").first.click()
                page.wait_for_timeout(300)
                page.screenshot(path=str(out / "answer-citation.png"))

                ask(page, "What is the capital of Peru?")
                page.wait_for_timeout(300)
                page.screenshot(path=str(out / "refusal.png"))

                upload = Path(tmp) / "lowfield-library.txt"
                upload.write_text(UPLOAD, encoding="utf-8")
                page.locator("#qa-files input[type=file]").set_input_files(str(upload))
                page.locator("#qa-urls textarea").fill("not-a-url")
                page.locator("#qa-add-btn").click()
                page.wait_for_selector("#qa-ingest .qa-ingest-indexed", timeout=300_000)
                page.wait_for_function("() => !document.querySelector('#qa-ingest .qa-spinner')")
                page.locator("#qa-side").screenshot(path=str(out / "side-panel.png"))
                browser.close()
    for name in ("answer-citation.png", "refusal.png", "side-panel.png"):
        print(out / name)


if __name__ == "__main__":
    main()
