"""Question answering over indexed news articles, with checked, numbered citations.

    from qa import ask
    answer = ask("Who leads the Chinese delegation?")
    print(answer.text, answer.citations)

For LangChain: ``qa.retriever(...)`` is a ``BaseRetriever`` for your own chain and
``qa.chain(...)`` the whole pipeline as a Runnable (see qa/lc.py).

Names are imported lazily so `python -m ingest` (which uses only qa.index) does
not pay for importing the answering chain.
"""

from importlib import import_module

_EXPORTS = {
    "ask": "qa.answer", "stream": "qa.answer",
    "Answer": "qa.types", "Citation": "qa.types", "Evidence": "qa.types", "Passage": "qa.types", "Rereading": "qa.types",
    "Token": "qa.types",
    "retriever": "qa.lc", "chain": "qa.lc",
    "QAError": "qa.errors", "StoreUnavailable": "qa.errors", "IndexMismatch": "qa.errors", "LLMUnavailable": "qa.errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'qa' has no attribute {name!r}")
