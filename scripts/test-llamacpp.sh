#!/usr/bin/env bash
# Opt-in test against a REAL OpenAI-compatible server: llama.cpp (llama-cpp-python) serving the
# packaged SmolLM2 GGUF on 127.0.0.1.
#
# Builds llama-cpp-python once into .venv-llamacpp (7-19 min). The default native build crashes in
# its AMX kernel on some CPUs, so the build pins the instruction sets explicitly. Then starts the
# server, runs tests/llamacpp with CLASSIFINE_LLAMACPP=1 and stops the server.
#
#   bash scripts/test-llamacpp.sh            (or: make test-llamacpp)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
MAIN_VENV=${MAIN_VENV:-$ROOT/.venv}
LLAMA_VENV=${LLAMA_VENV:-$ROOT/.venv-llamacpp}
PORT=${CLASSIFINE_LLAMACPP_PORT:-18087}
LOG=${LLAMA_LOG:-${TMPDIR:-/tmp}/classifine-llamacpp-server.log}
export OMP_WAIT_POLICY=PASSIVE

if [ ! -x "$LLAMA_VENV/bin/python" ] || ! "$LLAMA_VENV/bin/python" -c "import llama_cpp.server" 2>/dev/null; then
    echo "building llama-cpp-python into $LLAMA_VENV (takes 7-19 minutes once)"
    "$PY" -m venv "$LLAMA_VENV"
    "$LLAMA_VENV/bin/python" -m pip install --quiet --upgrade pip
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" \
        "$LLAMA_VENV/bin/python" -m pip install --no-cache-dir "llama-cpp-python[server]==0.3.36"
fi

GGUF=$("$MAIN_VENV/bin/python" -c "from classifine.assets import fetch, gguf_file; fetch('smollm2-135m'); print(gguf_file('smollm2-135m'))")
echo "serving $GGUF on 127.0.0.1:$PORT"
"$LLAMA_VENV/bin/python" -m llama_cpp.server --model "$GGUF" --model_alias smollm2-135m \
    --host 127.0.0.1 --port "$PORT" --n_ctx 2048 --n_threads 2 >"$LOG" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true' EXIT

for _ in $(seq 1 120); do
    if "$MAIN_VENV/bin/python" -c "import httpx,sys; httpx.get('http://127.0.0.1:$PORT/v1/models', timeout=2).raise_for_status()" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "the llama.cpp server exited; its log:" >&2
        tail -n 30 "$LOG" >&2
        exit 1
    fi
    sleep 1
done

CLASSIFINE_LLAMACPP=1 CLASSIFINE_LLAMACPP_URL="http://127.0.0.1:$PORT" \
    "$MAIN_VENV/bin/python" -m pytest -q -m llamacpp tests/llamacpp "$@"
