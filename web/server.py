"""One server for both faces: the HTTP API's routes and the Gradio chat mounted at ``/``, on one port.

The API's routes are added first, so ``/v1/…`` and ``/api/…`` are ours and
everything else is Gradio's. Around both sit the guards of :mod:`web.guard`
(trusted hosts and same-origin writes outermost, then the login throttle), and
a background thread prunes uploads and Gradio's temp files. ``app.py`` only
sets Gradio's temp folder and calls :func:`main`.
"""

from __future__ import annotations

import asyncio
import logging
import os

import gradio as gr
import uvicorn
from fastapi import FastAPI

from qa.errors import QAError
from qa.settings import Settings, get_settings

from . import api, render
from .chat import Chat, load_samples_if_empty, parse_auth, theme
from .guard import HostOriginGuard, HostPolicy, LoginThrottle, Pruner, check_exposure
from .service import Service

log = logging.getLogger("news-qa.web")


def create_app(settings: Settings, port: int = 7860) -> FastAPI:
    """The FastAPI app serving the API and the chat, with the guards around it (not started)."""
    svc = Service(settings)
    app = FastAPI(title="News Q&A", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = svc
    api.install(app, svc)
    demo = Chat(svc).build()
    demo.queue(default_concurrency_limit=1)
    gr.mount_gradio_app(
        app, demo, path="/",
        server_name=settings.host,
        server_port=port,
        auth=parse_auth(settings.auth),
        max_file_size=f"{settings.max_upload_mb}mb",
        allowed_paths=[],
        blocked_paths=[str(settings.chroma_dir), str(settings.data_dir / "uploads")],
        show_error=False,
        footer_links=["api"],
        run_history=False,
        theme=theme(),
        css=render.CSS,
        ssr_mode=False,
    )
    app.add_middleware(LoginThrottle, max_failures=settings.login_max_failures, window_s=settings.login_window_s)
    app.add_middleware(HostOriginGuard, policy=HostPolicy(settings))
    return app


class _ShutdownCancel(logging.Filter):
    """Drop uvicorn's traceback for streams cut at shutdown.

    Every open page holds Gradio's heartbeat stream; when the server stops,
    uvicorn cancels it after the grace period and logs the CancelledError as if
    the app had failed. It did not, and a traceback in the log should mean a bug.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, asyncio.CancelledError)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    for line in check_exposure(settings, ui=True):  # refuses an open chat beyond loopback
        log.warning(line)
    (settings.data_dir / "gradio-tmp").mkdir(parents=True, exist_ok=True)
    try:
        load_samples_if_empty(settings)
    except QAError as exc:  # start anyway: the page shows the problem and recovers when the store is back
        log.error("Could not check or fill the store: %s", exc)
    port = int(os.environ.get("GRADIO_SERVER_PORT") or 7860)
    app = create_app(settings, port)
    logging.getLogger("uvicorn.error").addFilter(_ShutdownCancel())
    pruner = Pruner(settings).start()
    app.state.service.start_warm_up()
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    log.warning("News Q&A on http://%s:%d/ (chat) and http://%s:%d/v1 (OpenAI-compatible API)",
                shown, port, shown, port)
    try:
        uvicorn.run(app, host=settings.host, port=port, log_level="warning", timeout_graceful_shutdown=2)
    finally:
        pruner.stop()
