"""The web chat: ask questions about the indexed news articles, see cited answers.

    python app.py            # http://127.0.0.1:7860 (GRADIO_SERVER_PORT to change)

Settings come from ``QA_*`` variables (see qa/settings.py): ``QA_HOST`` to
listen elsewhere than 127.0.0.1, ``QA_AUTH="user:password"`` for a login,
``QA_MAX_UPLOAD_MB`` for the upload limit, ``QA_LOAD_SAMPLES=false`` to skip
indexing the sample articles into an empty store. This file is UI only: the
HTML comes from ``qa.render``, answers from ``qa.stream``, indexing from
``ingest.add``.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from pathlib import Path

from qa.settings import get_settings

# Gradio reads these at import time: its upload/cache folder lives inside the data dir.
_settings = get_settings()
os.environ["GRADIO_TEMP_DIR"] = str((_settings.data_dir / "gradio-tmp").resolve())
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402

import ingest  # noqa: E402
import qa  # noqa: E402
from qa import render  # noqa: E402
from qa.errors import QAError  # noqa: E402
from qa.llm import Answerer, resolve  # noqa: E402
from qa.types import Answer, Evidence, Token  # noqa: E402

log = logging.getLogger("news-qa.app")

ROOT = Path(__file__).resolve().parent
SAMPLES = ROOT / "samples"
UPLOAD_TYPES = [".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".jsonl", ".ndjson", ".rss", ".atom", ".xml"]
EXAMPLES = [
    "How many homes will the floating solar array in Port Alder power?",
    "When will passenger trains return to the Ridgeback valley line?",
    "Who won the open section of the Lowfield chess festival?",
    "How deep did the tagged eels swim during the day?",
]
NO_SOURCE = "(no source)"


# --- answering -------------------------------------------------------------------

_answerer: Answerer | None = None
_answerer_error: str = ""


def answerer() -> Answerer | None:
    """The answerer chosen by QA_LLM, resolved once (None, with the reason kept, if it cannot run)."""
    global _answerer, _answerer_error
    if _answerer is None and not _answerer_error:
        try:
            _answerer = resolve(get_settings())
        except QAError as exc:
            _answerer_error = str(exc)
    return _answerer


def _user_bubble(text: str) -> dict:
    return {"role": "user", "content": f'<div class="qa-q">{render.esc(text)}</div>'}


def respond(message, chat, pairs, sources, since, until, as_of):
    """Stream one answer into the chat: evidence, then text, then the checked answer."""
    question = message or ""
    chat = list(chat or []) + ([_user_bubble(question)] if question.strip() else [])
    chat.append({"role": "assistant", "content": render.render_thinking()})
    pairs = list(pairs or [])
    yield chat, pairs, ""
    try:
        who = answerer()
        if who is None:
            raise QAError(_answerer_error or "No answerer is available.")
        evidence_html, text = "", ""
        for event in qa.stream(
            question, history=pairs, sources=list(sources or []) or None,
            since=since or None, until=until or None, as_of=as_of or None, answerer=who,
        ):
            if isinstance(event, Evidence):
                evidence_html = render.render_evidence(event, question)
                chat[-1] = {"role": "assistant", "content": evidence_html}
            elif isinstance(event, Answer):
                chat[-1] = {"role": "assistant", "content": render.render_answer(event)}
                pairs.append((event.question, event.text))
            elif isinstance(event, Token):
                text += event
                chat[-1] = {"role": "assistant", "content": render.render_streaming(evidence_html, text)}
            yield chat, pairs, ""
    except ValueError as exc:  # empty, too long or unreadable question or date
        chat[-1] = {"role": "assistant", "content": render.render_error(str(exc), "input")}
        yield chat, pairs, question
    except QAError as exc:  # store or LLM unavailable: say which and where
        chat[-1] = {"role": "assistant", "content": render.render_error(str(exc))}
        yield chat, pairs, question
    except Exception as exc:  # never a traceback in the page; the log has it
        log.exception("answering failed")
        chat[-1] = {
            "role": "assistant",
            "content": render.render_error(f"Unexpected error ({type(exc).__name__}); the server log has the details."),
        }
        yield chat, pairs, question


# --- the side panel ----------------------------------------------------------------

def index_facts():
    """Stats HTML and the source filter's choices."""
    who = answerer()
    name, model = (who.name, who.model) if who else ("unavailable", _answerer_error)
    try:
        stats = ingest.stats()
    except QAError as exc:
        return render.render_error(str(exc)), gr.update(choices=[])
    choices = [s for s in stats.get("sources", {}) if s and s != NO_SOURCE]
    return render.render_stats(stats, name, model), gr.update(choices=choices)


def _display_name(where: str, upload_dir: Path) -> str:
    where = str(where)
    prefix = str(upload_dir) + os.sep
    return where[len(prefix):] if where.startswith(prefix) else where


def _safe_filename(name: str) -> str:
    base = Path(str(name)).name
    base = re.sub(r"[^\w.\- ]+", "_", base).strip(" .") or "upload"
    return base[-120:]


def add_sources(files, urls_text):
    """Index uploaded files and pasted URLs, streaming a per-article result list.

    Uploads are kept under <data dir>/uploads/<file name>, which is their article id:
    the same file again is "unchanged", an edited file of the same name replaces it.
    """
    settings = get_settings()
    upload_dir = (settings.data_dir / "uploads").resolve()
    rows: list[tuple[str, str, str]] = []
    paths: list[str] = []
    for f in files or []:
        src = Path(getattr(f, "name", f))
        try:
            upload_dir.mkdir(parents=True, exist_ok=True)
            dest = upload_dir / _safe_filename(src.name)
            dest.write_bytes(src.read_bytes())
            paths.append(str(dest))
        except OSError as exc:
            rows.append(("failed", src.name, f"cannot store the upload: {exc.strerror or exc}"))
    for token in re.split(r"\s+", urls_text or ""):
        if not token:
            continue
        if re.match(r"^https?://\S+$", token, re.I):
            paths.append(token)
        else:
            rows.append(("failed", token, "not an http(s) URL"))
    if not paths:
        note = "" if rows else "Choose files or paste URLs (one per line) first."
        yield render.render_ingest(rows, note=note), *index_facts(), gr.update(), gr.update()
        return

    events: queue.Queue = queue.Queue()

    def on_progress(status, item):
        if isinstance(item, ingest.LoadFailure):
            events.put(("failed", _display_name(item.where, upload_dir), item.reason))
        else:
            name = _display_name(item.origin or item.id, upload_dir)
            label = item.title if not name or name == item.title else f"{name}: {item.title}"
            events.put((status, label, ""))

    outcome: dict = {}

    def work():
        try:
            outcome["report"] = ingest.add(paths, progress=on_progress)
        except QAError as exc:
            outcome["error"] = str(exc)
        except Exception as exc:  # shown as a note; the log has the traceback
            log.exception("ingest failed")
            outcome["error"] = f"Unexpected error while indexing ({type(exc).__name__}: {exc})"

    thread = threading.Thread(target=work, name="ingest", daemon=True)
    started = time.monotonic()
    thread.start()
    keep = (gr.update(),) * 4
    yield render.render_ingest(rows, running=True), *keep
    while thread.is_alive() or not events.empty():
        changed = False
        try:
            while True:
                rows.append(events.get(timeout=0.25))
                changed = True
        except queue.Empty:
            pass
        if changed and thread.is_alive():
            yield render.render_ingest(rows, running=True), *keep
    thread.join()
    note = outcome.get("error", "")
    report = outcome.get("report")
    if report is not None and not note:
        n = report.chunks_added
        note = f"Done in {time.monotonic() - started:.1f} s: {n} passage{'s' if n != 1 else ''} added."
    yield render.render_ingest(rows, note=note), *index_facts(), gr.update(value=None), gr.update(value="")


# --- the page ----------------------------------------------------------------------

def build_app() -> gr.Blocks:
    who = answerer()
    model_line = (
        f"Answerer: **{who.name}** · {render.esc(who.model)}" if who else f"⚠ No answerer: {render.esc(_answerer_error)}"
    )
    with gr.Blocks(title="News Q&A", fill_height=False) as demo:
        pairs = gr.State([])
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=420):
                gr.Markdown(
                    "## News Q&A\nAnswers come only from the indexed articles, with numbered citations: "
                    "click a **[n]** to read the passage. " + model_line,
                    elem_id="qa-header",
                )
                chatbot = gr.Chatbot(
                    elem_id="qa-chat", height=560, label="Chat", show_label=False,
                    latex_delimiters=[], sanitize_html=True, allow_tags=False, feedback_options=None,
                    placeholder="Ask about the news articles in the index. Try one of the examples below.",
                    buttons=[],
                )
                with gr.Row():
                    msg = gr.Textbox(
                        placeholder="Ask a question about the articles…", show_label=False, scale=6,
                        elem_id="qa-question", autofocus=True, max_lines=4, submit_btn=False,
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="qa-ask")
                    clear = gr.Button("New chat", scale=1, min_width=80, elem_id="qa-clear")
                gr.Examples(EXAMPLES, inputs=[msg], label="Example questions (sample articles)", elem_id="qa-examples")
            with gr.Column(scale=2, min_width=300, elem_id="qa-side"):
                gr.Markdown("### Index")
                stats_html = gr.HTML(elem_id="qa-stats")
                with gr.Accordion("Filters for the next questions", open=True, elem_id="qa-filters"):
                    source_filter = gr.Dropdown(
                        label="Sources (none = all)", multiselect=True, choices=[], elem_id="qa-sources-filter",
                    )
                    since = gr.DateTime(label="Published since", include_time=False, type="string", elem_id="qa-since")
                    until = gr.DateTime(label="Published until", include_time=False, type="string", elem_id="qa-until")
                    as_of = gr.DateTime(
                        label="As of (ignore newer articles; empty = today)", include_time=False, type="string",
                        elem_id="qa-asof",
                    )
                with gr.Accordion("Add articles", open=True, elem_id="qa-add"):
                    files = gr.File(
                        label="Files: txt, md, html, pdf, jsonl, RSS/Atom", file_count="multiple",
                        file_types=UPLOAD_TYPES, elem_id="qa-files", height=150,
                    )
                    urls = gr.Textbox(
                        label="URLs (one per line)", lines=2, placeholder="https://…", elem_id="qa-urls",
                    )
                    add_btn = gr.Button("Add to index", variant="secondary", elem_id="qa-add-btn")
                    results = gr.HTML(elem_id="qa-ingest")

        ask_inputs = [msg, chatbot, pairs, source_filter, since, until, as_of]
        ask_outputs = [chatbot, pairs, msg]
        chat_limit = get_settings().chat_concurrency
        msg.submit(respond, ask_inputs, ask_outputs, concurrency_limit=chat_limit, concurrency_id="chat")
        send.click(respond, ask_inputs, ask_outputs, concurrency_limit=chat_limit, concurrency_id="chat")
        clear.click(lambda: ([], [], ""), None, [chatbot, pairs, msg], queue=False)
        chatbot.clear(lambda: [], None, [pairs], queue=False)  # the chat's own trash button
        add_btn.click(add_sources, [files, urls], [results, stats_html, source_filter, files, urls],
                      concurrency_limit=1)
        demo.load(index_facts, None, [stats_html, source_filter])
    return demo


def theme() -> gr.themes.Base:
    system = ["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"]
    mono = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
    return gr.themes.Soft(primary_hue="indigo", font=system, font_mono=mono)


def load_samples_if_empty() -> None:
    settings = get_settings()
    if not settings.load_samples:
        return
    if ingest.stats()["articles"]:
        return
    report = ingest.add([str(SAMPLES)])
    log.warning("Indexed %d sample articles from %s (QA_LOAD_SAMPLES=false to skip).", len(report.indexed), SAMPLES)


def parse_auth(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise SystemExit('QA_AUTH must look like "user:password".')
    return user, password


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    Path(os.environ["GRADIO_TEMP_DIR"]).mkdir(parents=True, exist_ok=True)
    try:
        load_samples_if_empty()
    except QAError as exc:  # start anyway: the page shows the problem and recovers when the store is back
        log.error("Could not check or fill the store: %s", exc)
    port = int(os.environ.get("GRADIO_SERVER_PORT") or 7860)
    demo = build_app()
    demo.queue(default_concurrency_limit=1)
    demo.launch(
        server_name=settings.host,
        server_port=port,
        auth=parse_auth(settings.auth),
        max_file_size=f"{settings.max_upload_mb}mb",
        allowed_paths=[],
        blocked_paths=[str(settings.chroma_dir), str(settings.data_dir / "uploads")],
        show_error=False,
        footer_links=[],
        theme=theme(),
        css=render.CSS,
        ssr_mode=False,
    )


if __name__ == "__main__":
    main()
