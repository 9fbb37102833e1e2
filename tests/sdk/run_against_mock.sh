#!/usr/bin/env bash
# Run the SDK scripts directly against the mock upstream (no gateway), proving the mock
# satisfies the real `openai` and `openai-agents` SDKs. Also checks errors.py with x-mock-status.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
# (Re)install when a pin from requirements.txt is not what the venv has.
want="$(grep -E '^[A-Za-z0-9_.-]+==' tests/sdk/requirements.txt | tr 'A-Z_' 'a-z-' | sort)"
have="$("$VENV/bin/pip" freeze 2>/dev/null | tr 'A-Z_' 'a-z-' | sort)"
if [ -n "$(comm -23 <(echo "$want") <(echo "$have"))" ]; then
    "$VENV/bin/pip" install -q -r tests/sdk/requirements.txt
fi
PY="$VENV/bin/python"

cargo build -q -p warden-testkit --bin mock-openai
BIN="$(cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/mock-openai"

LOG="$(mktemp)"
"$BIN" --port 0 2>"$LOG" &
MOCK_PID=$!
cleanup() { kill "$MOCK_PID" 2>/dev/null || true; wait "$MOCK_PID" 2>/dev/null || true; rm -f "$LOG"; }
trap cleanup EXIT

ADDR=""
for _ in $(seq 1 100); do
    ADDR="$(sed -n 's/^listening on //p' "$LOG" | head -n1)"
    [ -n "$ADDR" ] && break
    kill -0 "$MOCK_PID" 2>/dev/null || { cat "$LOG" >&2; echo "mock-openai exited" >&2; exit 1; }
    sleep 0.1
done
[ -n "$ADDR" ] || { echo "mock-openai did not start" >&2; exit 1; }

export OPENAI_BASE_URL="http://$ADDR/v1"
export OPENAI_API_KEY="sk-mock"
export OPENAI_AGENTS_DISABLE_TRACING=1
unset OPENAI_ORG_ID OPENAI_PROJECT_ID OPENAI_WEBHOOK_SECRET || true

passed=0
failed=0
run() {
    local name="$1"
    shift
    if env "$@" "$PY" "tests/sdk/$name.py"; then
        passed=$((passed + 1))
    else
        echo "FAILED: $name" >&2
        failed=$((failed + 1))
    fi
}

run agents_run
run agents_streamed
run chat

# errors.py against the mock: x-mock-status (sent via WARDEN_EXTRA_HEADERS) makes it refuse.
run errors WARDEN_EXPECT_STATUS=401 WARDEN_EXPECT_CODE=mock_failure \
    WARDEN_EXTRA_HEADERS='{"x-mock-status": "401"}'
run errors WARDEN_EXPECT_STATUS=503 WARDEN_EXPECT_CODE=mock_failure \
    WARDEN_EXTRA_HEADERS='{"x-mock-status": "503"}'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
