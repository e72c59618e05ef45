"""The web chat (Gradio): ask about the indexed articles, see cited answers, add articles, export.

The page streams each answer in three steps (the evidence sentences with their
sources, the text as it is written, the checked answer), keeps the
conversation as ``(question, answer)`` pairs for follow-ups, and offers the
whole chat as Markdown with footnotes or as JSON. HTML comes from
:mod:`web.render`, answers from :func:`qa.stream`, indexing from
:func:`ingest.add`; questions take a slot of the :class:`web.service.Slots`
the HTTP API uses too.

Gradio's own API shows named, documented endpoints only: ``/ask`` (an answer
as JSON), ``/stats`` and ``/add_sources``. The handlers behind the page are
``api_visibility="private"``: the page calls them, client libraries cannot.

(No ``from __future__ import annotations`` here: ``gr.api`` reads the type
hints of ``ask``/``stats`` at runtime to describe them.)
"""

import logging
import os
import queue
import re
import threading
import time
import uuid
from pathlib import Path

import gradio as gr

import ingest
import qa
from qa import export
from qa.errors import QAError
from qa.types import Answer, Evidence, Rereading, Token

from . import render
from .service import Busy, Service

log = logging.getLogger("news-qa.chat")

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
UPLOAD_TYPES = [".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".jsonl", ".ndjson", ".rss", ".atom", ".xml"]
EXAMPLES = [
    "How many homes will the floating solar array in Port Alder power?",
    "When will passenger trains return to the Ridgeback valley line?",
    "Who won the open section of the Lowfield chess festival?",
    "How deep did the tagged eels swim during the day?",
]
NO_SOURCE = "(no source)"
PRIVATE = {"api_visibility": "private"}


def _user_bubble(text: str) -> dict:
    return {"role": "user", "content": f'<div class="qa-q">{render.esc(text)}</div>'}


def safe_filename(name: str) -> str:
    """A plain file name for an upload: no path, no odd characters, at most 120 characters."""
    base = Path(str(name)).name
    base = re.sub(r"[^\w.\- ]+", "_", base).strip(" .") or "upload"
    return base[-120:]


def _display_name(where: str, upload_dir: Path) -> str:
    where = str(where)
    prefix = str(upload_dir) + os.sep
    return where[len(prefix):] if where.startswith(prefix) else where


class Chat:
    """The page's handlers over one Service (shared with the HTTP API in the same process)."""

    def __init__(self, svc: Service):
        self.svc = svc
        self.settings = svc.settings

    # --- answering ---------------------------------------------------------------

    def respond(self, message, chat, pairs, answers, sources, since, until, as_of):
        """Stream one answer into the chat: evidence sentences, then text, then the checked answer."""
        question = message or ""
        chat = list(chat or []) + ([_user_bubble(question)] if question.strip() else [])
        chat.append({"role": "assistant", "content": render.render_thinking()})
        pairs = list(pairs or [])
        answers = list(answers or [])
        yield chat, pairs, answers, ""
        try:
            who = self.svc.require_answerer()
            with self.svc.slots.hold(self.settings.api_queue_timeout_s):
                evidence_html, text, found = "", "", None
                for event in qa.stream(
                    question, history=pairs, sources=list(sources or []) or None,
                    since=since or None, until=until or None, as_of=as_of or None, answerer=who,
                ):
                    if isinstance(event, Evidence):
                        found = event
                        evidence_html = render.render_evidence(event, question)
                        chat[-1] = {"role": "assistant", "content": evidence_html}
                    elif isinstance(event, Rereading):
                        more = found.model_copy(update={"sentences": event.sentences})
                        chat[-1] = {"role": "assistant", "content": render.render_rereading(evidence_html, more)}
                    elif isinstance(event, Answer):
                        chat[-1] = {"role": "assistant", "content": render.render_answer(event)}
                        pairs.append((event.question, event.text))
                        answers.append(event.model_dump(mode="json", exclude={"passages"}))
                    elif isinstance(event, Token):
                        text += event
                        chat[-1] = {"role": "assistant", "content": render.render_streaming(evidence_html, text)}
                    yield chat, pairs, answers, ""
        except ValueError as exc:  # empty, too long or unreadable question or date
            chat[-1] = {"role": "assistant", "content": render.render_error(str(exc), "input")}
            yield chat, pairs, answers, question
        except (QAError, Busy) as exc:  # store or LLM unavailable, or every slot busy: say which
            chat[-1] = {"role": "assistant", "content": render.render_error(str(exc))}
            yield chat, pairs, answers, question
        except Exception as exc:  # never a traceback in the page; the log has it
            log.exception("answering failed")
            chat[-1] = {
                "role": "assistant",
                "content": render.render_error(f"Unexpected error ({type(exc).__name__}); the server log has the details."),
            }
            yield chat, pairs, answers, question

    def ask(self, question: str, history: list[list[str]] | None = None, as_of: str | None = None,
            since: str | None = None, until: str | None = None, sources: list[str] | None = None) -> dict:
        """Answer a question from the indexed articles.

        Returns the checked answer as JSON: text with [n] markers, citations
        (title, url, source, date, quote), refused, flagged sentences, answerer
        and model. history is a list of [question, answer] pairs of earlier turns.
        """
        who = self.svc.require_answerer()
        pairs = [(str(q), str(a)) for q, a in (history or [])]
        with self.svc.slots.hold(self.settings.api_queue_timeout_s):
            answer = qa.ask(question, history=pairs, as_of=as_of or None, since=since or None, until=until or None,
                            sources=sources or None, answerer=who)
        return export.answer_dict(answer)

    def stats(self) -> dict:
        """What is indexed: article and passage counts, sources with counts, first and last publication date."""
        return ingest.stats()

    # --- export ------------------------------------------------------------------

    def export_chat(self, answers):
        """The last answer as Markdown (to copy) and the whole chat as .md and .json files (to download)."""
        items = [Answer.model_validate(a) for a in answers or []]
        if not items:
            return "", gr.update(value=None, interactive=False), gr.update(value=None, interactive=False)
        folder = Path(self.settings.data_dir / "gradio-tmp" / "exports" / uuid.uuid4().hex)
        folder.mkdir(parents=True, exist_ok=True)
        md, js = folder / "news-qa-chat.md", folder / "news-qa-chat.json"
        md.write_text(export.chat_markdown(items), encoding="utf-8")
        js.write_text(export.chat_json(items), encoding="utf-8")
        return (export.answer_markdown(items[-1]), gr.update(value=str(md), interactive=True),
                gr.update(value=str(js), interactive=True))

    # --- the side panel ----------------------------------------------------------

    def index_facts(self):
        """Stats HTML and the source filter's choices."""
        who = self.svc.answerer()
        name, model = (who.name, who.model) if who else ("unavailable", self.svc.answerer_error)
        try:
            stats = ingest.stats()
        except QAError as exc:
            return render.render_error(str(exc)), gr.update(choices=[])
        choices = [s for s in stats.get("sources", {}) if s and s != NO_SOURCE]
        return render.render_stats(stats, name, model), gr.update(choices=choices)

    def add_sources(self, files, urls_text):
        """Index uploaded files and pasted URLs (one per line); returns the per-article report as HTML.

        Uploads are kept under <data dir>/uploads/<file name>, which is their article id:
        the same file again is "unchanged", an edited file of the same name replaces it.
        """
        upload_dir = (self.settings.data_dir / "uploads").resolve()
        rows: list[tuple[str, str, str]] = []
        paths: list[str] = []
        for f in files or []:
            src = Path(getattr(f, "name", f))
            try:
                upload_dir.mkdir(parents=True, exist_ok=True)
                dest = upload_dir / safe_filename(src.name)
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
            yield render.render_ingest(rows, note=note), *self.index_facts(), gr.update(), gr.update()
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
        yield render.render_ingest(rows, note=note), *self.index_facts(), gr.update(value=None), gr.update(value="")

    # --- the page --------------------------------------------------------------------

    def build(self) -> gr.Blocks:
        who = self.svc.answerer()
        model_line = (
            f"Answerer: **{who.name}** · {render.esc(who.model)}" if who
            else f"⚠ No answerer: {render.esc(self.svc.answerer_error)}"
        )
        with gr.Blocks(title="News Q&A", fill_height=False) as demo:
            pairs = gr.State([])
            answers = gr.State([])
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
                    gr.Examples(EXAMPLES, inputs=[msg], label="Example questions (sample articles)",
                                elem_id="qa-examples")
                    with gr.Accordion("Export", open=False, elem_id="qa-export"):
                        last_md = gr.Textbox(
                            label="Last answer as Markdown (footnotes hold title, outlet, date, link and quote)",
                            lines=6, max_lines=16, interactive=False, buttons=["copy"], elem_id="qa-export-md",
                        )
                        with gr.Row():
                            dl_md = gr.DownloadButton("Download chat (.md)", interactive=False, elem_id="qa-dl-md")
                            dl_json = gr.DownloadButton("Download chat (.json)", interactive=False,
                                                        elem_id="qa-dl-json")
                with gr.Column(scale=2, min_width=300, elem_id="qa-side"):
                    gr.Markdown("### Index")
                    stats_html = gr.HTML(elem_id="qa-stats")
                    with gr.Accordion("Filters for the next questions", open=True, elem_id="qa-filters"):
                        source_filter = gr.Dropdown(
                            label="Sources (none = all)", multiselect=True, choices=[], elem_id="qa-sources-filter",
                        )
                        since = gr.DateTime(label="Published since", include_time=False, type="string",
                                            elem_id="qa-since")
                        until = gr.DateTime(label="Published until", include_time=False, type="string",
                                            elem_id="qa-until")
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

            ask_inputs = [msg, chatbot, pairs, answers, source_filter, since, until, as_of]
            ask_outputs = [chatbot, pairs, answers, msg]
            export_outputs = [last_md, dl_md, dl_json]
            limit = self.settings.chat_concurrency
            gr.on([msg.submit, send.click], self.respond, ask_inputs, ask_outputs, concurrency_limit=limit,
                  concurrency_id="chat", **PRIVATE).then(self.export_chat, [answers], export_outputs, **PRIVATE)
            clear.click(lambda: ([], [], [], ""), None, [chatbot, pairs, answers, msg], queue=False,
                        **PRIVATE).then(self.export_chat, [answers], export_outputs, **PRIVATE)
            chatbot.clear(lambda: ([], []), None, [pairs, answers], queue=False, **PRIVATE)  # its own trash button
            add_btn.click(self.add_sources, [files, urls], [results, stats_html, source_filter, files, urls],
                          concurrency_limit=1, api_name="add_sources",
                          api_description="Index uploaded files and http(s) URLs (one per line); returns the "
                                          "per-article report as HTML.")
            demo.load(self.index_facts, None, [stats_html, source_filter], **PRIVATE)
            gr.api(self.ask, api_name="ask", concurrency_limit=limit, concurrency_id="chat")
            gr.api(self.stats, api_name="stats", queue=False)
        return demo


def theme() -> gr.themes.Base:
    system = ["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"]
    mono = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
    return gr.themes.Soft(primary_hue="indigo", font=system, font_mono=mono)


def load_samples_if_empty(settings) -> None:
    """Index the sample articles into an empty store on a first start (QA_LOAD_SAMPLES=false skips it)."""
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

