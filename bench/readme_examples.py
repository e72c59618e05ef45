"""Print the real output of the README's "Use it from LangChain" examples, to paste from.

    QA_DATA_DIR=$(mktemp -d) .venv/bin/python bench/readme_examples.py ../shared/corpus/000_6c5d0eca67019274.txt

A store holding only the seed article; the first two examples with the extractive answerer,
the third with the 0.5B model behind a real llama_cpp.server on 127.0.0.1 (started here).
The headline CLI example is `python -m qa "Who leads the Chinese delegation?"` on the same store.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ingest  # noqa: E402
import qa  # noqa: E402
from qa import Answer, Evidence, Token  # noqa: E402
from qa.answerers import ExtractiveAnswerer  # noqa: E402
from tests.llm_server import start_llama_server, stop  # noqa: E402  (the tests' real server, on the README's port)

PORT = 18931


def main() -> int:
    report = ingest.add([sys.argv[1]])
    assert not report.failed, report.failed
    retriever = qa.retriever(k=2)
    docs = retriever.invoke("Who leads the Chinese delegation?")
    print({k: docs[0].metadata[k] for k in ("title", "chunk_id", "dense_rank", "bm25_rank")})

    chain = qa.chain(answerer=ExtractiveAnswerer())
    answer = chain.invoke("Who leads the Chinese delegation?")
    print(answer.text)
    for event in chain.stream({"question": "And who leads the American one?",
                               "history": [("Who leads the Chinese delegation?", answer.text)]}):
        if isinstance(event, Evidence):
            print("evidence:", event.best_sentences[0][:60])
        elif isinstance(event, Token):
            print("token:", event[:60])
        elif isinstance(event, Answer):  # a Rereading event may come before it
            print("answer:", event.answerer, len(event.citations), "citation(s)")
    print([a.refused for a in chain.batch(["Who leads the Chinese delegation?", "What is the TikTok deadline?"])])

    from langchain_openai import ChatOpenAI

    from qa.local_model import model_file
    from qa.settings import get_settings

    path = model_file("qwen2.5-0.5b", get_settings().model_cache_dir)
    log = Path(tempfile.mkdtemp()) / "llama-server.log"
    server, port = start_llama_server(str(path), log, alias="qwen2.5-0.5b", port=PORT)
    try:
        llm = ChatOpenAI(model="qwen2.5-0.5b", base_url=f"http://127.0.0.1:{port}/v1", api_key="none", temperature=0)
        answer = qa.ask("Who leads the Chinese delegation?", llm=llm)
        print(answer.answerer, "|", answer.model)
        print(answer.raw_text)
        print(answer.text)
    finally:
        stop(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
