#!/usr/bin/env bash
# The reader table of README "This version": the same 60 test questions on the reduced store
# (their gold articles + all 206 questions' gold articles + the first 600 others), ours, the
# previous free-text reader and the LangChain baseline, one after the other on an idle machine.
#   RTQA=../shared/eval/realtimeqa-2022 bench/reader_m600.sh
# About 12 + 20 + 17 minutes on 2 cores once the embedding cache is warm (bench/warm_cache.py).
set -euo pipefail
RTQA=${RTQA:-../shared/eval/realtimeqa-2022}
A=$RTQA/articles.jsonl
PY=${PY:-.venv/bin/python}
STORE=${STORE:-$HOME/.cache/news-qa/eval-store-m600}
mkdir -p bench/work
head -60 "$RTQA/questions-test.jsonl" > bench/work/questions-test-60.jsonl
Q=bench/work/questions-test-60.jsonl
# the made-unanswerable step deletes gold articles: every run gets its own copy of the store
run() { local name=$1; shift; rm -rf "/tmp/store-$name"; cp -r "$STORE" "/tmp/store-$name"
  $PY -m qa.eval --articles "$A" --questions $Q --max-articles 600 --data-dir "/tmp/store-$name" --quiet "$@"; }
run ours --answerer local --unanswerable bench/unanswerable.jsonl --made-unanswerable \
  --json bench/results/m600-answers-test60-local-structured-v2.json
QA_LOCAL_READER=free run free --answerer local --json bench/results/m600-answers-test60-local-free.json
$PY bench/warm_cache.py "$A" --baseline --questions $Q --max-articles 600 --threads 1
$PY -m qa.eval --articles "$A" --questions $Q --max-articles 600 --baseline --answerer local --quiet \
  --json bench/results/m600-baseline-test60-local.json
