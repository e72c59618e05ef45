#!/usr/bin/env bash
# Reproduce every number in bench/README.md. Long: the first embedding of the corpus takes
# 1-3 hours on 2 busy cores (then it is cached), and the local-LLM runs take about an hour each.
# Run it under nohup and read the logs in bench/work/; each step resumes if interrupted.
#
#   RTQA=../shared/eval/realtimeqa-2022 bench/run.sh [steps...]
#   steps: warm retrieval tune extractive llm baseline embeddings tables   (KEEP_STORE=1: reuse the built store)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RTQA=${RTQA:-../shared/eval/realtimeqa-2022}
A=$RTQA/articles.jsonl
R=bench/results
STORE=${STORE:-$HOME/.cache/news-qa/eval-store}      # one store shared by the runs (never the user's data dir)
BSTORE=${BSTORE:-$HOME/.cache/news-qa/eval-store-baseline}
LLM_N=${LLM_N:-60}                                    # the fixed LLM subset: the first 60 of questions-test.jsonl
mkdir -p $R bench/work
steps=${*:-warm retrieval tune extractive llm baseline embeddings tables}
has() { [[ " $steps " == *" $1 "* ]]; }
ev() { $PY -m qa.eval --articles "$A" --data-dir "$STORE" "$@"; }

if has warm; then
  $PY bench/check_unanswerable.py "$A" bench/unanswerable.jsonl
  # two one-thread shards use a busy 2-core machine better than one two-thread process
  $PY bench/warm_cache.py "$A" --questions $RTQA/questions.jsonl --shard 0/2 --threads 1 > bench/work/warm0.log 2>&1 &
  $PY bench/warm_cache.py "$A" --questions $RTQA/questions.jsonl --shard 1/2 --threads 1 > bench/work/warm1.log 2>&1
  wait
fi

if has retrieval; then
  [ -n "${KEEP_STORE:-}" ] || rm -rf "$STORE"   # the first run builds the store from scratch: real ingest figures
  ev --questions $RTQA/questions.jsonl --retrieval-only --json $R/retrieval-all-hybrid.json
  ev --questions $RTQA/questions.jsonl --retrieval-only --no-dates --json $R/retrieval-all-hybrid-nodates.json
  ev --questions $RTQA/questions.jsonl --retrieval-only --mode dense --json $R/retrieval-all-dense.json
  ev --questions $RTQA/questions.jsonl --retrieval-only --mode bm25 --json $R/retrieval-all-bm25.json
  ev --questions $RTQA/questions.jsonl --retrieval-only --mode dense --no-dates --json $R/retrieval-all-dense-nodates.json
  ev --questions $RTQA/questions.jsonl --retrieval-only --mode bm25 --no-dates --json $R/retrieval-all-bm25-nodates.json
  ev --questions $RTQA/questions-dev.jsonl --retrieval-only --json $R/retrieval-dev-hybrid.json
  ev --questions $RTQA/questions-test.jsonl --retrieval-only --json $R/retrieval-test-hybrid.json
fi

if has tune; then
  # the fusion grid over the store built above: chosen on dev, reported on test
  for s in dev test; do
    $PY bench/fusion_probe.py --questions $RTQA/questions-$s.jsonl --data-dir "$STORE" --cache bench/work/cands-$s.json \
      --json $R/fusion-$s.json
  done
fi

if has extractive; then
  ev --questions $RTQA/questions.jsonl --answerer extractive --unanswerable bench/unanswerable.jsonl \
     --made-unanswerable --json $R/answers-all-extractive.json
fi

if has llm; then
  head -n "$LLM_N" $RTQA/questions-test.jsonl > bench/work/questions-test-$LLM_N.jsonl
  for m in ${LLM_MODELS:-qwen2.5-0.5b qwen2.5-1.5b}; do
    ev --questions bench/work/questions-test-$LLM_N.jsonl --answerer local --local-model $m \
       --unanswerable bench/unanswerable.jsonl --made-unanswerable ${LLM_MAX_MINUTES:+--max-minutes $LLM_MAX_MINUTES} \
       --json $R/answers-test$LLM_N-$m.json
  done
fi

if has baseline; then
  # The baseline's own chunks (1000/200, no header) need their own embeddings: on the full corpus that
  # is another ~48k chunks, so ours and the baseline are compared on a reduced corpus, the same for
  # both: the gold articles of the 60 questions plus the first $BASE_M other articles in file order.
  BASE_M=${BASE_M:-1000}
  head -n "$LLM_N" $RTQA/questions-test.jsonl > bench/work/questions-test-$LLM_N.jsonl
  Q=bench/work/questions-test-$LLM_N.jsonl
  $PY bench/warm_cache.py "$A" --baseline --questions $Q --max-articles $BASE_M --shard 0/2 --threads 1 > bench/work/warm-baseline0.log 2>&1 &
  $PY bench/warm_cache.py "$A" --baseline --questions $Q --max-articles $BASE_M --shard 1/2 --threads 1 > bench/work/warm-baseline1.log 2>&1
  wait
  for m in ${BASELINE_MODELS:-qwen2.5-1.5b}; do
    $PY -m qa.eval --articles "$A" --max-articles $BASE_M --questions $Q --answerer local --local-model $m \
       --unanswerable bench/unanswerable.jsonl --made-unanswerable ${LLM_MAX_MINUTES:+--max-minutes $LLM_MAX_MINUTES} \
       --json $R/pair-m$BASE_M-test$LLM_N-ours-$m.json
    $PY -m qa.eval --baseline --articles "$A" --max-articles $BASE_M --questions $Q --answerer local --local-model $m \
       --unanswerable bench/unanswerable.jsonl --made-unanswerable ${LLM_MAX_MINUTES:+--max-minutes $LLM_MAX_MINUTES} \
       --json $R/pair-m$BASE_M-test$LLM_N-baseline-$m.json
  done
fi

if has embeddings; then
  # MiniLM-L6 int8 (default) vs MiniLM-L3, both retrieval-only over the same reduced corpus (all
  # 206 questions' gold articles plus the first $EMB_M others): L3 needs its own embeddings.
  EMB_M=${EMB_M:-1000}
  Q=$RTQA/questions.jsonl
  for m in all-MiniLM-L6-v2-int8 paraphrase-MiniLM-L3-v2; do
    $PY bench/warm_cache.py "$A" --embedding-model $m --questions $Q --max-articles $EMB_M --threads 2 > bench/work/warm-$m.log 2>&1
    $PY -m qa.eval --articles "$A" --max-articles $EMB_M --questions $Q --retrieval-only --embedding-model $m \
       --json $R/retrieval-m$EMB_M-all-$m.json
  done
fi

if has tables; then
  $PY bench/compare.py $R/retrieval-*.json $R/answers-*.json $R/pair-*.json > bench/results/tables.md
  for f in $R/pair-*-ours-*.json; do
    [ -f "${f/-ours-/-baseline-}" ] && $PY bench/compare.py --pair "$f" "${f/-ours-/-baseline-}" > "${f%.json}.vs-baseline.md"
  done
  cat bench/results/tables.md
fi
