#!/usr/bin/env bash
# Installs what the test suites need and runs every suite, stopping at the first failure.
#
#   sudo ./scripts/test.sh                 # all suites
#   sudo ./scripts/test.sh compat          # only the named suites: rust, compat, schemathesis, web, scaleout,
#                                          # reliability, fuzz
#
# Missing system packages are installed with apt-get, which needs root; when nothing is missing the script
# runs as any user. Suites: the Rust tests (`cargo test --locked`), the @prismicio/client compatibility test
# (tests/compat, node's test runner), schemathesis against GET /openapi.json (tests/schemathesis/run.sh) and
# the media library page in Chromium with Playwright (tests/web/run.sh, which installs Chromium). The scaleout
# suite runs the API tests and the backend unit tests again on a throwaway PostgreSQL server (scripts/postgres.sh)
# and a throwaway S3-compatible server (scripts/s3.sh, which builds s3s-fs on its first run). The reliability
# suite runs the one-minute soak benchmark (scripts/reliability.sh soak); the crash, protocol abuse and access matrix
# tests are API tests, run by the rust and scaleout suites, and the rust suite replays the fuzz seeds and regression
# inputs. The fuzz suite runs every cargo-fuzz target for 20 s (scripts/fuzz.sh, nightly toolchain). Their
# instrumented build starts in the background right after the main build, because the compat, schemathesis and web
# suites that run meanwhile mostly wait on package installs and browsers.
# The Rust tests run last so that the output ends with cargo's summary. Their binaries are compiled right
# after the build, so a compile error still stops the run early.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ALL_SUITES=(rust compat schemathesis web scaleout reliability fuzz)

step() {
    printf '\n==> %s\n' "$*"
}

fail() {
    printf '\ntest.sh: FAILED: %s\n' "$*" >&2
    exit 1
}

# Each suite runs in its own process group, so that servers it started and did not stop can be ended
# without touching any other process.
SUITE_GROUP=""

stop_suite_group() {
    local group="$SUITE_GROUP"
    SUITE_GROUP=""
    if [ -z "$group" ] || ! kill -0 -- "-$group" 2>/dev/null; then
        return 0
    fi
    kill -TERM -- "-$group" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        kill -0 -- "-$group" 2>/dev/null || return 0
        sleep 0.5
    done
    kill -KILL -- "-$group" 2>/dev/null || true
}

trap stop_suite_group EXIT
trap 'stop_suite_group; exit 130' INT
trap 'stop_suite_group; exit 143' TERM

# Runs a command in a new process group and returns its exit status. Without setsid (not Linux), the
# command runs directly and is trusted to stop its own servers, as the suite scripts do.
run_in_group() {
    if ! command -v setsid >/dev/null 2>&1; then
        "$@"
        return
    fi
    # A background job of a non-interactive shell is not a group leader, so setsid starts the new
    # session in that same process, and $! is the id of the new group.
    setsid "$@" </dev/null &
    SUITE_GROUP=$!
    local status=0
    wait "$SUITE_GROUP" || status=$?
    stop_suite_group
    return "$status"
}

# --- Which suites -------------------------------------------------------------------------------------

SUITES=("$@")
if [ "${#SUITES[@]}" -eq 0 ]; then
    SUITES=("${ALL_SUITES[@]}")
fi
for suite in "${SUITES[@]}"; do
    case "$suite" in
        rust | compat | schemathesis | web | scaleout | reliability | fuzz) ;;
        *) fail "unknown suite '$suite'; expected one or more of: ${ALL_SUITES[*]}" ;;
    esac
done

wants() {
    local name
    for name in "${SUITES[@]}"; do
        [ "$name" = "$1" ] && return 0
    done
    return 1
}

# --- Tools ---------------------------------------------------------------------------------------------

# sudo resets PATH, which drops a rustup install under the invoking user's home.
if ! command -v cargo >/dev/null 2>&1; then
    for home in "${CARGO_HOME:-}" "$HOME/.cargo" "$(getent passwd "${SUDO_USER:-root}" 2>/dev/null | cut -d: -f6)/.cargo"; do
        if [ -n "$home" ] && [ -x "$home/bin/cargo" ]; then
            export PATH="$home/bin:$PATH"
            break
        fi
    done
fi
command -v cargo >/dev/null 2>&1 ||
    fail "cargo not found. Install the Rust toolchain with rustup (Rust 1.85 or newer; Debian's cargo package is too old) and run this script again."

MISSING_PACKAGES=()
# A C compiler builds the bundled SQLite. No crate in Cargo.lock links a system library, so pkg-config is not needed.
command -v cc >/dev/null 2>&1 || MISSING_PACKAGES+=(build-essential)
if wants compat; then
    command -v node >/dev/null 2>&1 || MISSING_PACKAGES+=(nodejs)
    command -v npm >/dev/null 2>&1 || MISSING_PACKAGES+=(npm)
fi
if wants schemathesis; then
    if ! command -v python3 >/dev/null 2>&1; then
        MISSING_PACKAGES+=(python3 python3-venv)
    elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        # Debian ships the venv module without ensurepip; python3-venv adds it.
        MISSING_PACKAGES+=(python3-venv)
    fi
fi

if wants scaleout; then
    ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || MISSING_PACKAGES+=(postgresql)
    command -v curl >/dev/null 2>&1 || MISSING_PACKAGES+=(curl)
    command -v python3 >/dev/null 2>&1 || MISSING_PACKAGES+=(python3)
fi

if [ "${#MISSING_PACKAGES[@]}" -gt 0 ]; then
    step "Installing system packages: ${MISSING_PACKAGES[*]}"
    command -v apt-get >/dev/null 2>&1 ||
        fail "missing tools (${MISSING_PACKAGES[*]}) and no apt-get to install them; install them and run this script again."
    if [ "$(id -u)" -ne 0 ]; then
        fail "installing ${MISSING_PACKAGES[*]} needs root; run: sudo $0 $*"
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q || fail "apt-get update failed"
    apt-get install -y -q --no-install-recommends "${MISSING_PACKAGES[@]}" ||
        fail "apt-get install ${MISSING_PACKAGES[*]} failed"
fi

# --- Build ---------------------------------------------------------------------------------------------

step "cargo build --locked"
run_in_group cargo build --locked || fail "cargo build --locked"

if wants rust; then
    step "cargo test --locked --no-run (compile the tests)"
    run_in_group cargo test --locked --no-run || fail "the Rust tests do not compile (cargo test --locked --no-run)"
fi

export TEST_MEDIALIB_BINARY="${CARGO_TARGET_DIR:-$ROOT/target}/debug/medialib"
[ -x "$TEST_MEDIALIB_BINARY" ] || fail "cargo build produced no $TEST_MEDIALIB_BINARY"

FUZZ_BUILD_PID=""
FUZZ_BUILD_LOG="$ROOT/fuzz/logs/build.log"
if wants fuzz; then
    step "building the fuzz targets in the background (scripts/fuzz.sh --build-only, log: $FUZZ_BUILD_LOG)"
    mkdir -p "$(dirname "$FUZZ_BUILD_LOG")"
    setsid bash scripts/fuzz.sh --build-only </dev/null >"$FUZZ_BUILD_LOG" 2>&1 &
    FUZZ_BUILD_PID=$!
    # Stops the build with the script, whichever way the script ends.
    trap 'stop_suite_group; [ -z "$FUZZ_BUILD_PID" ] || kill -- "-$FUZZ_BUILD_PID" 2>/dev/null || true' EXIT
fi

# --- Suites --------------------------------------------------------------------------------------------

if wants compat; then
    step "@prismicio/client compatibility test (tests/compat)"
    (cd tests/compat && npm ci --no-audit --no-fund --loglevel=error) ||
        fail "npm ci in tests/compat (the package-lock.json pins the client)"
    run_in_group bash -c 'cd tests/compat && exec npm test' ||
        fail "@prismicio/client compatibility test (tests/compat); the failing assertions are printed above"
fi

if wants schemathesis; then
    step "schemathesis against /openapi.json (tests/schemathesis/run.sh)"
    run_in_group bash tests/schemathesis/run.sh ||
        fail "schemathesis (tests/schemathesis/run.sh); the failing requests are printed above"
fi

if wants web; then
    step "media library page in Chromium (tests/web/run.sh)"
    run_in_group bash tests/web/run.sh ||
        fail "media library page tests (tests/web/run.sh); the failing steps are printed above"
fi

if wants scaleout; then
    step "API and backend tests on PostgreSQL and S3 (scripts/postgres.sh, scripts/s3.sh)"
    run_in_group bash scripts/s3.sh --install || fail "building the S3 test server s3s-fs (scripts/s3.sh --install)"
    run_in_group bash scripts/postgres.sh bash scripts/s3.sh cargo test --locked --lib --test api ||
        fail "the API and backend tests on PostgreSQL and S3 (scripts/postgres.sh bash scripts/s3.sh cargo test --locked --lib --test api)"
fi

if wants reliability; then
    step "one-minute soak benchmark (scripts/reliability.sh soak)"
    run_in_group bash scripts/reliability.sh soak ||
        fail "the reliability suite (scripts/reliability.sh soak); the failing part is printed above"
fi

if wants fuzz; then
    step "fuzz targets, 20 s each (scripts/fuzz.sh --seconds 20)"
    status=0
    wait "$FUZZ_BUILD_PID" || status=$?
    FUZZ_BUILD_PID=""
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$FUZZ_BUILD_LOG" >&2
        fail "building the fuzz targets (scripts/fuzz.sh --build-only); the end of its log is above"
    fi
    tail -n 1 "$FUZZ_BUILD_LOG"
    run_in_group bash scripts/fuzz.sh --seconds 20 ||
        fail "the fuzz targets (scripts/fuzz.sh --seconds 20); the failing input and how to reproduce it are printed above"
fi

if wants rust; then
    step "cargo test --locked"
    run_in_group cargo test --locked || fail "cargo test --locked"
fi
