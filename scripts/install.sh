#!/usr/bin/env bash
# Install the project into .venv, with the embedded LLM, on a fresh machine.
# llama-cpp-python is built once per CPU flag set into a wheel cache that later
# runs (and CI on the same machine) reuse; its flags come from /proc/cpuinfo, and AMX from a
# check that it runs (GGML_NATIVE turned it on here and the build died with SIGILL: see below).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-local}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
CACHE="${NEWS_QA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/news-qa}"
LLAMA_VERSION=0.3.36

[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip

if [[ ",$EXTRAS," == *",local,"* ]]; then
  flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
  has() { [[ " $flags " == *" $1 "* ]]; }
  amx_runs() {
    local bin
    bin=$(mktemp) || return 1
    gcc -O2 -mamx-tile -mamx-int8 scripts/amx_check.c -o "$bin" 2>/dev/null && "$bin" 2>/dev/null
    local ok=$?
    rm -f "$bin"
    return $ok
  }
  args="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
  tag="base"
  for pair in avx:AVX avx2:AVX2 fma:FMA f16c:F16C bmi2:BMI2 avx512f:AVX512 avx512vbmi:AVX512_VBMI \
              avx512_vnni:AVX512_VNNI avx512_bf16:AVX512_BF16 avx_vnni:AVX_VNNI; do
    cpu=${pair%%:*}; opt=${pair##*:}
    if has "$cpu"; then args+=" -DGGML_$opt=ON"; tag+="-$cpu"; else args+=" -DGGML_$opt=OFF"; fi
  done
  # Intel AMX: llama.cpp reads the prompt with tile instructions, where this machine runs them
  # (scripts/amx_check.c; a CPU may list the flags on a VM that cannot). GCC 12's _tile_loadconfig
  # declares an 8-byte read of the 64-byte tile configuration, so RTL dead-store elimination drops
  # the rows and columns llama.cpp writes into it and the first tile instruction faults (SIGILL,
  # seen here with GGML_NATIVE); -fno-dse keeps those stores.
  if has amx_tile && has amx_int8 && amx_runs; then
    args="${args//-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF/-DGGML_AMX_TILE=ON -DGGML_AMX_INT8=ON}"
    tag+="-amx"
    if has amx_bf16; then args="${args//-DGGML_AMX_BF16=OFF/-DGGML_AMX_BF16=ON}"; tag+="-amx_bf16"; fi
    args+=" -DCMAKE_C_FLAGS=-fno-dse -DCMAKE_CXX_FLAGS=-fno-dse"
  fi
  wheels="$CACHE/wheels/llama-$LLAMA_VERSION-$tag"
  if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "Building llama-cpp-python $LLAMA_VERSION for this CPU ($tag); takes 5-15 minutes once..."
    mkdir -p "$wheels"
    CMAKE_ARGS="$args" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
      .venv/bin/python -m pip wheel --no-deps "llama-cpp-python==$LLAMA_VERSION" -w "$wheels.tmp"
    mv "$wheels.tmp"/llama_cpp_python-*.whl "$wheels"/ && rm -rf "$wheels.tmp"
  fi
  export PIP_FIND_LINKS="$wheels ${PIP_FIND_LINKS:-}"
fi
# --find-links above makes pip take the cached wheel instead of building llama-cpp-python again.
.venv/bin/python -m pip install -q -e ".[$EXTRAS]"
echo "Installed into .venv (extras: $EXTRAS)."
