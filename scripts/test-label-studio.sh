#!/usr/bin/env bash
# Opt-in test against a REAL Label Studio 1.23.2 on 127.0.0.1: the backend, pre-labelling, annotations
# and a retrain triggered from Label Studio (tests/label_studio_real).
#
# Installs Label Studio once into .venv-label-studio (its own venv: it pins numpy/pyarrow versions
# classifine does not use; about 1 GB, 4 minutes), starts it with a fresh data folder (the first
# start migrates its database: about 3.5 minutes), runs the test and stops the server.
#
#   bash scripts/test-label-studio.sh            (or: make test-label-studio)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
MAIN_VENV=${MAIN_VENV:-$ROOT/.venv}
LS_VENV=${LS_VENV:-$ROOT/.venv-label-studio}
PORT=${CLASSIFINE_LABEL_STUDIO_PORT:-$("$MAIN_VENV/bin/python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")}
DATA=$(mktemp -d "${TMPDIR:-/tmp}/classifine-label-studio.XXXXXX")
LOG=${LABEL_STUDIO_LOG:-$DATA/server.log}
TOKEN=$("$MAIN_VENV/bin/python" -c "import secrets; print(secrets.token_hex(20))")
export OMP_WAIT_POLICY=PASSIVE
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
START=$(date +%s)

if [ ! -x "$LS_VENV/bin/label-studio" ] || [ "$("$LS_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("label-studio"))' 2>/dev/null)" != "1.23.2" ]; then
    echo "installing Label Studio 1.23.2 into $LS_VENV (about 4 minutes once)"
    "$PY" -m venv "$LS_VENV"
    "$LS_VENV/bin/python" -m pip install --quiet --upgrade pip
    "$LS_VENV/bin/python" -m pip install --quiet "label-studio==1.23.2"
fi
echo "Label Studio ready to start after $(( $(date +%s) - START )) s"

# Loopback only. The ML backend listens on 127.0.0.1 too, which Label Studio refuses by default
# (ML_BLOCK_LOCAL_IP, SSRF_PROTECTION_ENABLED): allowed here, for this local test server only.
LABEL_STUDIO_BASE_DATA_DIR="$DATA" LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true SSRF_PROTECTION_ENABLED=false ML_BLOCK_LOCAL_IP=false \
LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK=true \
    "$LS_VENV/bin/label-studio" start --no-browser --internal-host 127.0.0.1 --port "$PORT" \
    --data-dir "$DATA" --username admin@classifine.test --password "$TOKEN" --user-token "$TOKEN" \
    >"$LOG" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; rm -rf "$DATA"' EXIT

for _ in $(seq 1 600); do
    if "$MAIN_VENV/bin/python" -c "import httpx; httpx.get('http://127.0.0.1:$PORT/health', timeout=2).raise_for_status()" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "Label Studio exited; its log:" >&2
        tail -n 40 "$LOG" >&2
        exit 1
    fi
    sleep 1
done
echo "Label Studio up on 127.0.0.1:$PORT after $(( $(date +%s) - START )) s"

CLASSIFINE_LABEL_STUDIO_URL="http://127.0.0.1:$PORT" CLASSIFINE_LABEL_STUDIO_LEGACY="$TOKEN" \
    "$MAIN_VENV/bin/python" -m pytest -q -m label_studio tests/label_studio_real "$@"
echo "make test-label-studio took $(( $(date +%s) - START )) s"
