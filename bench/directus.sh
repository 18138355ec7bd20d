# The upload peer: Directus 10 (npm package `directus`, a self-hosted headless CMS with a file library) on SQLite and
# local storage. Sourced by bench/upload.sh.
# shellcheck shell=bash
#
# Directus 12 and the later 11.x releases require Node.js 22 and Debian 12 ships Node.js 20, so the last 10.x release
# is used. npm builds its native modules (sqlite3, isolated-vm) from source, which takes about 15 minutes on 2 cores
# the first time.

DIRECTUS_VERSION="${DIRECTUS_VERSION:-10.13.4}"
DIRECTUS_HOME="$BENCH_DIR/directus"
DIRECTUS_TOKEN="bench-directus-admin-token"

# Installs Directus into $DIRECTUS_HOME unless the requested version is there already.
directus_install() {
    local installed
    installed="$(node -p "require('$DIRECTUS_HOME/node_modules/directus/package.json').version" 2>/dev/null || true)"
    [[ "$installed" == "$DIRECTUS_VERSION" ]] && return
    command -v npm >/dev/null || apt-get install -y nodejs npm >&2
    mkdir -p "$DIRECTUS_HOME"
    [[ -f "$DIRECTUS_HOME/package.json" ]] || echo '{"name": "medialib-bench-peer", "private": true}' >"$DIRECTUS_HOME/package.json"
    log "installing directus@$DIRECTUS_VERSION into $DIRECTUS_HOME"
    (cd "$DIRECTUS_HOME" && npm install --no-audit --no-fund "directus@$DIRECTUS_VERSION" >&2)
}

# Starts Directus on a free loopback port with a fresh database; the argument is the upload limit in bytes.
# Sets DIRECTUS_PID and DIRECTUS_URL.
directus_start() {
    directus_install
    local data="$BENCH_DIR/upload-directus" port
    rm -rf "$data"
    mkdir -p "$data/uploads"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    DIRECTUS_URL="http://127.0.0.1:$port"
    cat >"$data/env" <<EOF
HOST=127.0.0.1
PORT=$port
PUBLIC_URL=$DIRECTUS_URL
DB_CLIENT=sqlite3
DB_FILENAME=$data/data.db
KEY=medialib-bench-key
SECRET=medialib-bench-secret
ADMIN_EMAIL=admin@example.com
ADMIN_PASSWORD=bench-password
ADMIN_TOKEN=$DIRECTUS_TOKEN
STORAGE_LOCATIONS=local
STORAGE_LOCAL_DRIVER=local
STORAGE_LOCAL_ROOT=$data/uploads
FILES_MAX_UPLOAD_SIZE=$1
TELEMETRY=false
LOG_LEVEL=warn
SERVE_APP=false
EOF
    local cli="$DIRECTUS_HOME/node_modules/directus/cli.js"
    (cd "$data" && CONFIG_PATH="$data/env" node "$cli" bootstrap >"$data/bootstrap.log" 2>&1) \
        || die "directus bootstrap failed; see $data/bootstrap.log"
    CONFIG_PATH="$data/env" node "$cli" start >"$data/serve.log" 2>&1 &
    DIRECTUS_PID=$!
    for _ in $(seq 1 600); do
        if curl -fsS -o /dev/null "$DIRECTUS_URL/server/ping" 2>/dev/null; then
            log "directus $DIRECTUS_VERSION (pid $DIRECTUS_PID) is ready on $DIRECTUS_URL"
            return
        fi
        kill -0 "$DIRECTUS_PID" 2>/dev/null || die "directus exited; see $data/serve.log"
        sleep 0.1
    done
    die "directus did not become ready in 60 s; see $data/serve.log"
}

directus_stop() {
    if [[ -n "${DIRECTUS_PID:-}" ]] && kill -0 "$DIRECTUS_PID" 2>/dev/null; then
        kill -TERM "$DIRECTUS_PID"
        wait "$DIRECTUS_PID" 2>/dev/null || true
    fi
    DIRECTUS_PID=""
}

# Uploads a file with POST /files, deletes it, and prints the upload's seconds. With a second argument `fsync`, the
# stored file and its directory are then flushed to disk as medialib does before it responds (Directus 10 responds
# without flushing), and the printed seconds include the flush.
directus_upload() {
    local out="$BENCH_DIR/directus-response.json" started status seconds id disk_name
    started=$(date +%s.%N)
    read -r status seconds < <(curl -sS -o "$out" -w '%{http_code} %{time_total}\n' -H 'Expect:' \
        -H "authorization: Bearer $DIRECTUS_TOKEN" -F "file=@$1;filename=bench-upload.bin" "$DIRECTUS_URL/files")
    [[ "$status" == 200 ]] || die "directus upload returned $status: $(head -c 300 "$out")"
    if [[ "${2:-}" == fsync ]]; then
        disk_name="$(sed -n 's/.*"filename_disk":"\([^"]*\)".*/\1/p' "$out")"
        # GNU sync with file operands calls fsync on each of them.
        sync "$BENCH_DIR/upload-directus/uploads/$disk_name" "$BENCH_DIR/upload-directus/uploads"
        seconds="$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.4f", b - a }')"
    fi
    id="$(sed -n 's/.*"id":"\([0-9a-f-]*\)".*/\1/p' "$out")"
    curl -sS -o /dev/null -X DELETE -H "authorization: Bearer $DIRECTUS_TOKEN" "$DIRECTUS_URL/files/$id"
    echo "$seconds"
}
