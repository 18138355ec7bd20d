#!/usr/bin/env bash
# A throwaway S3-compatible server for tests: s3s-fs from crates.io, on 127.0.0.1 with a free port, a temporary root
# directory and fixed test credentials.
#
# Usage:
#   scripts/s3.sh COMMAND [ARG...]   start the server, create a bucket, run COMMAND with the variables below, stop
#                                    the server and exit with COMMAND's status
#   scripts/s3.sh --install          only build and install s3s-fs (into ~/.cache/medialib/tools, or $S3S_FS_ROOT)
#   source scripts/s3.sh             define s3_start and s3_stop for another script, which then owns the cleanup
#
# Variables exported by s3_start: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, S3_ENDPOINT (base URL),
# S3_BUCKET, S3_ROOT (directory that contains the bucket's objects as files), MEDIALIB_TEST_STORAGE_URL (read by the API
# test harness, which gives every test data directory its own key prefix), and S3_STORAGE_URL (the bucket as a
# --storage-url). Example: scripts/s3.sh cargo test --release --test api

S3S_FS_VERSION="${S3S_FS_VERSION:-0.14.1}"
# Outside the checkout, so that fresh clones (CI) reuse the build.
S3S_FS_ROOT="${S3S_FS_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/medialib/tools}"
S3S_FS_BIN="$S3S_FS_ROOT/bin/s3s-fs"
S3_TEST_ACCESS_KEY="medialib-test"
S3_TEST_SECRET_KEY="medialib-test-secret"
S3_TEST_REGION="us-east-1"
S3_TEST_BUCKET="medialib-test"

s3_log() { printf 's3.sh: %s\n' "$*" >&2; }

# Builds s3s-fs from crates.io unless the pinned version is already installed.
s3_install() {
    if [[ -x "$S3S_FS_BIN" ]] && "$S3S_FS_BIN" --version 2>/dev/null | grep -qF "$S3S_FS_VERSION"; then
        return 0
    fi
    command -v cargo >/dev/null || {
        s3_log "cargo is missing; install Rust to build s3s-fs"
        return 1
    }
    s3_log "building s3s-fs $S3S_FS_VERSION into $S3S_FS_ROOT (a few minutes on the first run)"
    cargo install s3s-fs --version "=$S3S_FS_VERSION" --locked --features binary --root "$S3S_FS_ROOT" --quiet
}

# Starts the server, creates the test bucket and exports the variables listed at the top.
s3_start() {
    s3_install || return 1
    S3_WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/medialib-s3.XXXXXX")"
    S3_LOG="$S3_WORK_DIR/s3s-fs.log"
    # The server stores each bucket as a directory of its root directory.
    export S3_ROOT="$S3_WORK_DIR/data"
    mkdir -p "$S3_ROOT"
    RUST_LOG="s3s_fs=info,s3s=warn" NO_COLOR=1 "$S3S_FS_BIN" --host 127.0.0.1 --port 0 \
        --access-key "$S3_TEST_ACCESS_KEY" --secret-key "$S3_TEST_SECRET_KEY" "$S3_ROOT" >"$S3_LOG" 2>&1 &
    S3_PID=$!

    local address="" _
    for _ in $(seq 1 100); do
        address="$(grep -o 'server is running at http://[0-9.:]*' "$S3_LOG" | head -n1 | sed 's|.*http://||' || true)"
        [[ -n "$address" ]] && break
        if ! kill -0 "$S3_PID" 2>/dev/null; then
            s3_log "s3s-fs exited at start; its log:"
            cat "$S3_LOG" >&2
            return 1
        fi
        sleep 0.1
    done
    if [[ -z "$address" ]]; then
        s3_log "s3s-fs logged no address within 10 s; its log:"
        cat "$S3_LOG" >&2
        s3_stop
        return 1
    fi

    export AWS_ACCESS_KEY_ID="$S3_TEST_ACCESS_KEY"
    export AWS_SECRET_ACCESS_KEY="$S3_TEST_SECRET_KEY"
    export AWS_REGION="$S3_TEST_REGION"
    export S3_ENDPOINT="http://$address"
    export S3_BUCKET="$S3_TEST_BUCKET"
    export S3_STORAGE_URL="s3://$S3_BUCKET?endpoint=$S3_ENDPOINT&region=$AWS_REGION"
    export MEDIALIB_TEST_STORAGE_URL="$S3_STORAGE_URL"

    # CreateBucket through the S3 API, signed with Signature Version 4.
    local status
    status="$(curl -sS -o "$S3_WORK_DIR/response" -w '%{http_code}' -X PUT \
        --aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
        "$S3_ENDPOINT/$S3_BUCKET")"
    if [[ "$status" != 200 ]]; then
        s3_log "creating the bucket $S3_BUCKET returned HTTP $status: $(head -c 300 "$S3_WORK_DIR/response")"
        s3_stop
        return 1
    fi
    s3_log "s3s-fs (pid $S3_PID) serves the bucket $S3_BUCKET at $S3_ENDPOINT, root $S3_ROOT"
}

# Stops the server started by s3_start and deletes its root directory.
s3_stop() {
    if [[ -n "${S3_PID:-}" ]] && kill -0 "$S3_PID" 2>/dev/null; then
        kill -TERM "$S3_PID"
        wait "$S3_PID" 2>/dev/null || true
    fi
    S3_PID=""
    if [[ -n "${S3_WORK_DIR:-}" ]]; then
        rm -rf "$S3_WORK_DIR"
        S3_WORK_DIR=""
    fi
}

# Sourced: only the functions above are defined.
[[ "${BASH_SOURCE[0]}" != "$0" ]] && return 0

set -euo pipefail
case "${1:-}" in
    --install)
        s3_install
        exit
        ;;
    "" | -h | --help)
        sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
        [[ -n "${1:-}" ]] && exit 0
        exit 1
        ;;
esac
trap s3_stop EXIT
s3_start
set +e
"$@"
status=$?
exit "$status"
