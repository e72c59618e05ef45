"""The HTTP API: OpenAI-compatible chat completions plus plain JSON routes, over the same ``qa.stream``.

    python -m web.api                # the API alone, no chat UI, on QA_HOST:QA_API_PORT (127.0.0.1:8000)
    python app.py                    # the chat and this API on one port

Routes:

* ``POST /v1/chat/completions`` and ``GET /v1/models``: what the official
  ``openai`` client, LangChain's ``ChatOpenAI`` and other OpenAI-compatible
  tools speak. The whole message list is the conversation: each user message
  with the assistant reply after it is one ``(question, answer)`` pair of
  history, the last user message is the question. The reply's content is the
  checked answer with its ``[n]`` markers; a top-level ``citations`` array has
  ``index, title, url, source, date, quote`` for each. With ``stream=true`` the
  first chunk is sent as soon as the evidence is found and the checked text
  follows once the citation check has run: the streamed text and its markers
  are exactly the ones the citations describe, never unchecked model output.
  Parameters that would change the answer in ways we cannot honour (tools,
  JSON mode, ``n`` > 1, logprobs, stop sequences) are refused with a 400 in
  OpenAI's error shape rather than silently ignored; sampling knobs
  (temperature, top_p, max_tokens, penalties, seed) are accepted and have no
  effect, as the answer is grounded and checked.
* ``POST /api/ask``: ``{"question": …, "history": [[q, a], …], "as_of", "since",
  "until", "sources", "k"}`` → the ``Answer`` fields as JSON.
* ``GET /api/stats``: what is indexed (``ingest.stats``) and the answering load.
* ``POST /api/ingest``: ``{"urls": […]}`` and/or ``{"records": [{…JSONL
  article…}]}``; off unless ``QA_API_INGEST=true``.

A bearer key (``QA_API_KEY``) is checked when set and required when the server
listens beyond loopback or has a login (``QA_AUTH``). Bodies are capped
(``QA_API_MAX_BODY_BYTES``), each client is rate-limited
(``QA_API_RATE_PER_MIN``), and every question waits for one of the
``QA_CHAT_CONCURRENCY`` slots the chat uses too.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import threading
import time
import uuid
from collections import defaultdict, deque
from typing import Any, AsyncIterator

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

import qa
from qa.errors import QAError
from qa.export import citation_dict
from qa.settings import Settings
from qa.types import Answer, Evidence

from .guard import is_loopback
from .service import Busy, Service

log = logging.getLogger("news-qa.api")

MODEL_ID = "news-qa"
# accepted and without effect: the answer is grounded and checked, not sampled to taste
IGNORED_PARAMS = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "presence_penalty", "frequency_penalty",
    "seed", "user", "metadata", "store", "service_tier", "reasoning_effort", "prompt_cache_key", "safety_identifier",
    "verbosity",
})
# our own additions, passed with extra_body
FILTER_PARAMS = frozenset({"as_of", "since", "until", "sources", "k"})
KEEPALIVE_S = 10.0


class ApiError(Exception):
    """An error answered in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def _error_response(exc: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


# --- access: key, rate, body ----------------------------------------------------------------

class RateLimit:
    """At most ``per_min`` requests per client address in any 60 s (a sliding window)."""

    def __init__(self, per_min: int, clock=time.monotonic):
        self.per_min = per_min
        self.clock = clock
        self._hits: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = self.clock()
        with self._lock:
            q = self._hits[client]
            while q and q[0] <= now - 60.0:
                q.popleft()
            if len(q) >= self.per_min:
                return False
            q.append(now)
            return True


def key_required(settings: Settings) -> bool:
    return bool(settings.api_key) or not is_loopback(settings.host) or bool(settings.auth)


class Gate:
    """Key check and rate limit for every API route (a FastAPI dependency)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.rate = RateLimit(settings.api_rate_per_min)

    async def __call__(self, request: Request) -> None:
        s = self.settings
        if key_required(s):
            if not s.api_key:
                raise ApiError(401, "The HTTP API needs a key here (the server listens beyond loopback or has a "
                                    "login): start it with QA_API_KEY set.", code="invalid_api_key")
            scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), s.api_key.encode()):
                raise ApiError(401, "Missing or wrong API key (Authorization: Bearer <QA_API_KEY>).",
                               code="invalid_api_key")
        client = request.client.host if request.client else "?"
        if not self.rate.allow(client):
            raise ApiError(429, f"Rate limit: {s.api_rate_per_min} requests per minute per client.",
                           type="rate_limit_error", code="rate_limit_exceeded")


async def read_json(request: Request, limit: int) -> dict:
    """The body as a JSON object, refusing more than ``limit`` bytes before reading them all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"Request body over {limit:,} bytes.", code="body_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"Request body over {limit:,} bytes.", code="body_too_large")
        chunks.append(chunk)
    try:
        data = json.loads(b"".join(chunks) or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"The body is not valid JSON ({exc}).", code="invalid_json") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "The body must be a JSON object.", code="invalid_json")
    return data


# --- turning requests into qa.stream arguments ----------------------------------------------

def _text_content(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise ApiError(400, f"Only text content is supported ({where} has a {kind!r} part).", param=where)
        return "\n".join(parts)
    if content is None:
        return ""
    raise ApiError(400, f"{where} must be a string or a list of text parts.", param=where)


def conversation(messages: Any, max_messages: int) -> tuple[str, list[tuple[str, str]]]:
    """The question (last user message) and history pairs (user question, the assistant reply after it).

    System and developer messages are accepted and not used: what the
    assistant may say is fixed by the articles, not by the caller's prompt.
    """
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list.", param="messages")
    if len(messages) > max_messages:
        raise ApiError(400, f"At most {max_messages} messages.", param="messages")
    turns: list[tuple[str, str]] = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise ApiError(400, f"{where} must be an object.", param=where)
        role = m.get("role")
        if role in ("system", "developer"):
            continue
        if role not in ("user", "assistant"):
            raise ApiError(400, f"{where}.role {role!r} is not supported (user, assistant, system).", param=where)
        if role == "assistant" and m.get("tool_calls"):
            raise ApiError(400, "Tool calls are not supported.", param=where)
        turns.append((role, _text_content(m.get("content"), f"{where}.content")))
    if not turns or turns[-1][0] != "user":
        raise ApiError(400, "The last message must be the user's question.", param="messages")
    history: list[tuple[str, str]] = []
    pending: str | None = None
    for role, text in turns[:-1]:
        if role == "user":
            pending = text
        elif pending is not None:
            history.append((pending, text))
            pending = None
    return turns[-1][1], history


def _filters(body: dict) -> dict:
    out: dict[str, Any] = {}
    for name in ("as_of", "since", "until"):
        v = body.get(name)
        if v is not None and not isinstance(v, str):
            raise ApiError(400, f"{name} must be a date string (YYYY-MM-DD).", param=name)
        out[name] = v or None
    sources = body.get("sources")
    if sources is not None and (not isinstance(sources, list) or not all(isinstance(s, str) for s in sources)):
        raise ApiError(400, "sources must be a list of strings.", param="sources")
    out["sources"] = sources or None
    k = body.get("k")
    if k is not None and (not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 20):
        raise ApiError(400, "k must be an integer from 1 to 20.", param="k")
    out["k"] = k
    return out


def check_completion_params(body: dict) -> None:
    """Refuse what we cannot honour, naming the parameter (OpenAI's own style for unknown params)."""
    for name, value in body.items():
        if name in ("model", "messages", "stream", "stream_options") or name in IGNORED_PARAMS or name in FILTER_PARAMS:
            continue
        if name == "n" and value in (None, 1):
            continue
        if name in ("logprobs", "parallel_tool_calls") and value in (None, False):
            continue
        if name in ("tools", "functions", "stop", "logit_bias", "top_logprobs") and value in (None, [], {}):
            continue
        if name in ("tool_choice", "function_call") and value in (None, "none"):
            continue
        if name == "response_format" and (value is None or (isinstance(value, dict) and value.get("type") == "text")):
            continue
        if name == "modalities" and value in (None, ["text"]):
            continue
        raise ApiError(400, f"Unsupported parameter: {name!r} is not supported by this server "
                            "(it answers from the indexed articles only, as cited text).", param=name,
                       code="unsupported_parameter")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise ApiError(400, "model is required (GET /v1/models lists it).", param="model")
    if body["model"] != MODEL_ID:
        raise ApiError(404, f"The model {body['model']!r} does not exist; this server serves {MODEL_ID!r}.",
                       param="model", code="model_not_found")
    if not isinstance(body.get("stream", False), bool):
        raise ApiError(400, "stream must be true or false.", param="stream")


# --- running a question ----------------------------------------------------------------------

class Run:
    """One question on a worker thread, its events handed to the event loop through a queue.

    ``stop()`` (the client went away) makes the worker close ``qa.stream`` at
    its next event and give its slot back, so an abandoned stream does not keep
    a slot or a thread.
    """

    def __init__(self, svc: Service, question: str, kwargs: dict):
        self.svc, self.question, self.kwargs = svc, question, kwargs
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._work, name="api-answer", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _put(self, item) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is gone (shutdown): nobody is listening
            self._stop.set()

    def _work(self) -> None:
        try:
            who = self.svc.require_answerer()
            with self.svc.slots.hold(self.svc.settings.api_queue_timeout_s):
                if self._stop.is_set():
                    return
                events = qa.stream(self.question, answerer=who, **self.kwargs)
                try:
                    for event in events:
                        if self._stop.is_set():
                            break
                        if isinstance(event, (Evidence, Answer)):
                            self._put(("event", event))
                finally:
                    events.close()
        except BaseException as exc:  # handed to the request, which maps it to an HTTP error
            self._put(("error", exc))
        finally:
            self._put(("end", None))

    async def next(self, timeout: float | None = None):
        return await asyncio.wait_for(self.queue.get(), timeout)


def as_api_error(exc: BaseException) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ValueError):  # empty, too long or unreadable question or date
        return ApiError(400, str(exc), param="messages", code="invalid_question")
    if isinstance(exc, Busy):
        return ApiError(503, f"The server is busy ({exc}); try again.", type="server_error", code="busy")
    if isinstance(exc, QAError):
        return ApiError(503, str(exc), type="server_error", code="unavailable")
    log.error("answering failed", exc_info=exc)
    return ApiError(500, f"Unexpected error ({type(exc).__name__}); the server log has the details.",
                    type="server_error", code="internal_error")


async def answer_of(svc: Service, question: str, kwargs: dict) -> Answer:
    run = Run(svc, question, kwargs)
    try:
        while True:
            kind, item = await run.next()
            if kind == "error":
                raise as_api_error(item)
            if kind == "end":
                raise ApiError(500, "The answer ended without a result.", type="server_error")
            if isinstance(item, Answer):
                return item
    finally:
        run.stop()


# --- response shapes --------------------------------------------------------------------------

def _words(text: str) -> int:
    return len(text.split())


def _usage(question: str, history: list[tuple[str, str]], answer: Answer) -> dict:
    """Word counts standing in for tokens (the answer is not billed; clients only want the shape)."""
    prompt = _words(question) + sum(_words(q) + _words(a) for q, a in history)
    done = _words(answer.text)
    return {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}


def _extension(answer: Answer) -> dict:
    return {"refused": answer.refused, "flagged": list(answer.flagged), "answerer": answer.answerer,
            "model": answer.model, "timings": answer.timings}


def completion(cid: str, model: str, answer: Answer, usage: dict) -> dict:
    return {
        "id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": usage,
        "citations": [citation_dict(c) for c in sorted(answer.citations, key=lambda c: c.index)],
        "news_qa": _extension(answer),
    }


def _chunk(cid: str, model: str, created: int, delta: dict, finish: str | None = None, **extra) -> str:
    body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra}
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def _pieces(text: str, size: int = 24) -> list[str]:
    """The checked text in word-boundary pieces (joined, exactly the text), so a client renders it as it comes."""
    out, cur = [], ""
    for tok in re.findall(r"\s*\S+|\s+$", text):
        cur += tok
        if len(cur) >= size:
            out.append(cur)
            cur = ""
    if cur:
        out.append(cur)
    return out


async def sse_stream(run: Run, first: Evidence, cid: str, model: str, question: str, history, include_usage: bool
                     ) -> AsyncIterator[str]:
    created = int(time.time())
    try:
        evidence = [{"title": p.title, "url": p.url, "source": p.source, "date": p.published or "undated"}
                    for p in first.passages]
        yield _chunk(cid, model, created, {"role": "assistant", "content": ""}, evidence=evidence)
        while True:
            try:
                kind, item = await run.next(KEEPALIVE_S)
            except asyncio.TimeoutError:
                yield ": still answering\n\n"  # an SSE comment: clients ignore it, proxies keep the line open
                continue
            if kind == "error":
                err = as_api_error(item)
                yield f"data: {json.dumps(err.body())}\n\n"
                break
            if kind == "end":
                break
            if isinstance(item, Answer):
                for piece in _pieces(item.text):
                    yield _chunk(cid, model, created, {"content": piece})
                yield _chunk(cid, model, created, {}, "stop",
                             citations=[citation_dict(c) for c in sorted(item.citations, key=lambda c: c.index)],
                             news_qa=_extension(item))
                if include_usage:
                    body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                            "choices": [], "usage": _usage(question, history, item)}
                    yield f"data: {json.dumps(body)}\n\n"
        yield "data: [DONE]\n\n"
    finally:
        run.stop()  # also when the client disconnected and the response was cancelled


# --- the routes ---------------------------------------------------------------------------------

def router(svc: Service) -> APIRouter:
    """The API's routes over one Service (so the chat, when mounted beside, shares its slots)."""
    from fastapi import Depends

    settings = svc.settings
    gate = Gate(settings)
    r = APIRouter(dependencies=[Depends(gate)])
    limit = settings.api_max_body_bytes

    @r.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [_model_card()]}

    @r.get("/v1/models/{model_id}")
    async def model(model_id: str) -> dict:
        if model_id != MODEL_ID:
            raise ApiError(404, f"The model {model_id!r} does not exist.", param="model", code="model_not_found")
        return _model_card()

    @r.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        body = await read_json(request, limit)
        check_completion_params(body)
        question, history = conversation(body.get("messages"), settings.api_max_messages)
        kwargs = dict(history=history, **_filters(body))
        model_name = body["model"]
        cid = f"chatcmpl-{uuid.uuid4().hex}"
        if not body.get("stream"):
            answer = await answer_of(svc, question, kwargs)
            return completion(cid, model_name, answer, _usage(question, history, answer))
        opts = body.get("stream_options") or {}
        if not isinstance(opts, dict):
            raise ApiError(400, "stream_options must be an object.", param="stream_options")
        run = Run(svc, question, kwargs)
        try:
            kind, item = await run.next()  # errors before any output get a real status code
        except BaseException:
            run.stop()
            raise
        if kind != "event":
            run.stop()
            raise as_api_error(item) if kind == "error" else ApiError(500, "No answer.", type="server_error")
        if isinstance(item, Answer):  # no evidence event first: answer in one go
            run.stop()
            return completion(cid, model_name, item, _usage(question, history, item))
        return StreamingResponse(
            sse_stream(run, item, cid, model_name, question, history, bool(opts.get("include_usage"))),
            media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @r.post("/api/ask")
    async def api_ask(request: Request) -> dict:
        body = await read_json(request, limit)
        unknown = set(body) - {"question", "history"} - FILTER_PARAMS
        if unknown:
            raise ApiError(400, f"Unknown field(s): {', '.join(sorted(unknown))}.", param=sorted(unknown)[0])
        question = body.get("question")
        if not isinstance(question, str):
            raise ApiError(400, "question must be a string.", param="question")
        history = body.get("history") or []
        if not isinstance(history, list) or not all(
                isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in history):
            raise ApiError(400, "history must be a list of [question, answer] pairs.", param="history")
        if len(history) > settings.api_max_messages:
            raise ApiError(400, f"At most {settings.api_max_messages} history pairs.", param="history")
        answer = await answer_of(svc, question, dict(history=[tuple(p) for p in history], **_filters(body)))
        return answer.model_dump(mode="json")

    @r.get("/api/stats")
    async def stats() -> dict:
        import ingest

        try:
            facts = await run_in_threadpool(ingest.stats)
        except QAError as exc:
            raise ApiError(503, str(exc), type="server_error", code="unavailable") from exc
        who = svc.answerer()
        return {**facts, "answerer": who.name if who else None,
                "model": who.model if who else svc.answerer_error,
                "in_flight": svc.slots.in_flight, "slots": svc.slots.size, "served": svc.slots.served}

    @r.post("/api/ingest")
    async def api_ingest(request: Request) -> dict:
        if not settings.api_ingest:
            raise ApiError(403, "Ingest over the API is off; start the server with QA_API_INGEST=true.",
                           code="ingest_disabled")
        body = await read_json(request, limit)
        return await run_in_threadpool(_ingest, settings, body)

    return r


def _model_card() -> dict:
    return {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "news-qa"}


def _ingest(settings: Settings, body: dict) -> dict:
    import ingest

    unknown = set(body) - {"urls", "records"}
    if unknown:
        raise ApiError(400, f"Unknown field(s): {', '.join(sorted(unknown))}.", param=sorted(unknown)[0])
    urls = body.get("urls") or []
    records = body.get("records") or []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise ApiError(400, "urls must be a list of strings.", param="urls")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ApiError(400, "records must be a list of article objects (url, title, text, published, source).",
                       param="records")
    bad = [u for u in urls if not re.match(r"^https?://\S+$", u, re.I)]
    if bad:
        raise ApiError(400, f"Not an http(s) URL: {bad[0][:200]!r}.", param="urls")
    if not urls and not records:
        raise ApiError(400, "Give urls or records.", param="urls")
    sources: list[str] = list(urls)
    if records:
        folder = settings.data_dir / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"api-{uuid.uuid4().hex}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        sources.append(str(path))
    try:
        report = ingest.add(sources)
    except QAError as exc:
        raise ApiError(503, str(exc), type="server_error", code="unavailable") from exc
    return {"indexed": report.indexed, "unchanged": report.unchanged,
            "failed": [{"where": f.where, "reason": f.reason} for f in report.failed],
            "chunks_added": report.chunks_added, "chunks_deleted": report.chunks_deleted}


def install(app: FastAPI, svc: Service) -> FastAPI:
    """Add the API's routes and its error shape to ``app`` (the standalone API or the chat's server)."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return _error_response(exc)

    app.include_router(router(svc))
    return app


def create_app(settings: Settings) -> FastAPI:
    """The API alone (no chat UI), behind the same host guard as the chat."""
    from .guard import HostOriginGuard, HostPolicy

    app = FastAPI(title="News Q&A API", docs_url="/docs", redoc_url=None, openapi_url="/openapi.json")
    app.state.service = Service(settings)
    install(app, app.state.service)
    app.add_middleware(HostOriginGuard, policy=HostPolicy(settings))
    return app


def main() -> None:
    import uvicorn

    from qa.settings import get_settings

    from .guard import Pruner, check_exposure

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    for line in check_exposure(settings, ui=False):
        log.warning(line)
    port = settings.api_port
    log.warning("News Q&A API on http://%s:%d/v1 (no chat UI)", settings.host, port)
    pruner = Pruner(settings).start()  # /api/ingest writes its records under uploads/
    app = create_app(settings)
    app.state.service.start_warm_up()
    try:
        uvicorn.run(app, host=settings.host, port=port, log_level="warning", timeout_graceful_shutdown=2)
    finally:
        pruner.stop()


if __name__ == "__main__":
    main()
