#!/usr/bin/env bash
# The issue-11 reader targets on the full corpus (4,973 articles, ≈57k chunks): the first 60 test
# questions, retrieval on the day and in archive, then the default reader with the written and the
# made-unanswerable sets, uncapped. Needs the embedding cache warm first (resumable, ≈1 h on 2 idle
# cores from empty):
#   .venv/bin/python bench/warm_cache.py ../shared/eval/realtimeqa-2022/articles.jsonl --shard 0/2 --threads 1 &
#   .venv/bin/python bench/warm_cache.py ../shared/eval/realtimeqa-2022/articles.jsonl --shard 1/2 --threads 1
# then, on an idle machine:  RTQA=../shared/eval/realtimeqa-2022 bench/reader_full.sh
# The LangChain baseline beside it (BASELINE=1) needs its own 1000/200 chunks in the cache too
# (≈59k texts, ≈1 h on 2 idle cores): the same two warm_cache.py lines with --baseline.
set -euo pipefail
RTQA=${RTQA:-../shared/eval/realtimeqa-2022}
A=$RTQA/articles.jsonl
PY=${PY:-.venv/bin/python}
STORE=${STORE:-$HOME/.cache/news-qa/eval-store-full}   # built once, reused; never modified after
mkdir -p bench/work
head -60 "$RTQA/questions-test.jsonl" > bench/work/questions-test-60.jsonl
Q=bench/work/questions-test-60.jsonl
$PY -m qa.eval --articles "$A" --questions $Q --data-dir "$STORE" --retrieval-only --quiet \
  --json bench/results/full-retrieval-test60-day.json
$PY -m qa.eval --articles "$A" --questions $Q --data-dir "$STORE" --retrieval-only --archive --quiet \
  --json bench/results/full-retrieval-test60-archive.json
# the made-unanswerable step deletes gold articles: the reader runs on a copy
rm -rf /tmp/store-full-run && cp -r "$STORE" /tmp/store-full-run
$PY -m qa.eval --articles "$A" --questions $Q --data-dir /tmp/store-full-run --answerer local \
  --unanswerable bench/unanswerable.jsonl --made-unanswerable --quiet --json bench/results/full-answers-test60-local.json
if [ "${BASELINE:-0}" = 1 ]; then
  # the plain LangChain recipe on the same 60 questions, its own store (built once, reused)
  $PY -m qa.eval --baseline --articles "$A" --questions $Q --data-dir "${BSTORE:-$HOME/.cache/news-qa/eval-store-full-baseline}" \
    --answerer local --quiet --json bench/results/full-baseline-test60-local.json
fi
