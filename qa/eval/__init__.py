"""The benchmark harness: ``python -m qa.eval --articles A.jsonl --questions Q.jsonl``.

See ``bench/README.md`` for the commands and the results. Scoring rules live in
:mod:`qa.eval.metrics`, the embedding cache in :mod:`qa.eval.cache`, the plain
LangChain baseline in :mod:`qa.eval.baseline`.
"""
