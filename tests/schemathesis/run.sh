#!/usr/bin/env bash
# Runs schemathesis against the OpenAPI document of a fresh `medialib serve` with the rate limit off.
# It exits non-zero on any failed check: a 5xx response, a status code or content type the document does
# not list, or a response body that does not match its schema.
#
# Environment:
#   TEST_MEDIALIB_BINARY       the server binary (default: target/debug/medialib, built if missing)
#   SCHEMATHESIS_VENV          the Python virtual environment to use (default: target/schemathesis-venv)
#   SCHEMATHESIS_MAX_EXAMPLES  test cases per operation and phase (default: 100)
#   SCHEMATHESIS_SEED          random seed, to replay a run (default: a fixed seed when CI=true, else a new one,
#                              printed by schemathesis)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/schemathesis"
BINARY="${TEST_MEDIALIB_BINARY:-$ROOT/target/debug/medialib}"
VENV="${SCHEMATHESIS_VENV:-$ROOT/target/schemathesis-venv}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-100}"
REPOSITORY="schema-test"
STARTUP_TIMEOUT_SECONDS=30

fail() {
    printf 'schemathesis/run.sh: %s\n' "$*" >&2
    exit 1
}

# The server reads every option from a MEDIALIB_* variable too, so a developer's own settings must not leak in.
while IFS= read -r name; do
    unset "$name"
done < <(compgen -e | grep '^MEDIALIB_' || true)

# --- Virtual environment with the pinned schemathesis ---------------------------------------------------

PINNED_VERSION="$(sed -n 's/^schemathesis==//p' "$HERE/requirements.txt")"
[ -n "$PINNED_VERSION" ] || fail "tests/schemathesis/requirements.txt pins no schemathesis version"

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qx "schemathesis, version $PINNED_VERSION"; then
    echo "Installing schemathesis $PINNED_VERSION into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV" || fail "python3 -m venv $VENV failed (on Debian, install python3-venv)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt" ||
        fail "pip install -r tests/schemathesis/requirements.txt failed"
fi

# --- Server ------------------------------------------------------------------------------------------------

if [ ! -x "$BINARY" ]; then
    [ -z "${TEST_MEDIALIB_BINARY:-}" ] || fail "TEST_MEDIALIB_BINARY=$BINARY is not an executable file"
    (cd "$ROOT" && cargo build --locked) || fail "cargo build --locked failed"
fi

WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/medialib-schemathesis.XXXXXX")"
DATA_DIR="$WORK_DIR/data"
SERVER_LOG="$WORK_DIR/server.log"
SERVER_PID=""

cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.5
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$BINARY" repository create "$REPOSITORY" --data-dir "$DATA_DIR" >/dev/null ||
    fail "medialib repository create $REPOSITORY failed"
TOKEN="$("$BINARY" token create --repository "$REPOSITORY" --data-dir "$DATA_DIR")" ||
    fail "medialib token create failed"
[ -n "$TOKEN" ] || fail "medialib token create printed no token"

NO_COLOR=1 "$BINARY" serve --listen 127.0.0.1:0 --data-dir "$DATA_DIR" --rate-limit 0 \
    </dev/null >/dev/null 2>"$SERVER_LOG" &
SERVER_PID=$!

ADDRESS=""
for _ in $(seq 1 $((STARTUP_TIMEOUT_SECONDS * 10))); do
    ADDRESS="$(grep -m1 'listening on' "$SERVER_LOG" | grep -o '127\.0\.0\.1:[0-9]\+' | tail -n1 || true)"
    [ -n "$ADDRESS" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || {
        cat "$SERVER_LOG" >&2
        fail "medialib serve exited before it printed its address"
    }
    sleep 0.1
done
[ -n "$ADDRESS" ] || {
    cat "$SERVER_LOG" >&2
    fail "medialib serve printed no 'listening on' line within ${STARTUP_TIMEOUT_SECONDS}s"
}
BASE_URL="http://$ADDRESS"

"$VENV/bin/python" - "$BASE_URL/health" "$STARTUP_TIMEOUT_SECONDS" <<'PY' || fail "GET $BASE_URL/health never answered 200"
import sys, time, urllib.request

url, timeout = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
PY

# --- Schemathesis ----------------------------------------------------------------------------------------

SEED_ARGS=()
# CI replays one fixed seed so that a run's result depends only on the code; runs elsewhere explore new inputs.
if [ -z "${SCHEMATHESIS_SEED:-}" ] && [ "${CI:-}" = "true" ]; then
    SCHEMATHESIS_SEED=64077006817001572872908849069997719179
fi
if [ -n "${SCHEMATHESIS_SEED:-}" ]; then
    SEED_ARGS=(--seed "$SCHEMATHESIS_SEED")
fi

echo "schemathesis $PINNED_VERSION against $BASE_URL/openapi.json, at most $MAX_EXAMPLES examples per operation"
status=0
# Output sanitizing would hide every value whose name looks secret, the `keyword` query parameter
# included, and the token belongs to a throwaway data directory, so failures are printed in full.
# Schemathesis keeps a cache folder in its working directory, so it runs in the temporary one.
(cd "$WORK_DIR" && "$VENV/bin/schemathesis" run "$BASE_URL/openapi.json" \
    --header "authorization: Bearer $TOKEN" \
    --header "repository: $REPOSITORY" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "$MAX_EXAMPLES" \
    --generation-database none \
    --request-timeout 30 \
    --no-color \
    --output-sanitize false \
    "${SEED_ARGS[@]}") || status=$?

if [ "$status" -ne 0 ]; then
    echo "--- errors and warnings in the server log, last 50 ---" >&2
    grep -E ' (ERROR|WARN) ' "$SERVER_LOG" | tail -n 50 >&2 || echo "(none)" >&2
    fail "schemathesis found failures (exit status $status); each one is printed above with a curl command to reproduce it"
fi
