#!/usr/bin/env bash
# Soak benchmark: sends mixed Asset API traffic to one `medialib serve` for a fixed time with `medialib-bench soak`,
# and records p50 and p99 latency, errors and the server's RSS every interval. Exits with status 1 on any 5xx,
# unexpected status or request without a response. It also fails when RSS rises after the warm-up (the first 20% of
# the duration): when the median of the interval peaks of any later stretch as long as the warm-up is more than 10%
# above that of the warm-up. docs/benchmarks.md describes the traffic and the rule.
#
# Usage: bench/soak.sh [--duration SECONDS] [--concurrency N] [--interval SECONDS] [--live-assets N] [--postgres]
#   --duration     seconds of traffic (default 1800; CI uses 60)
#   --concurrency  client threads, one request at a time each (default 4)
#   --interval     seconds per recorded interval (default 10)
#   --live-assets  most assets alive at once (default 200)
#   --max-rss-growth  largest allowed rise of the RSS level after the warm-up, as a fraction (default 0.10)
#   --postgres     metadata in a throwaway PostgreSQL server (scripts/postgres.sh) and bytes in a throwaway S3 server
#                  (scripts/s3.sh) instead of SQLite and local files
# Environment:
#   MEDIALIB_BIN_DIR  directory that contains ready `medialib` and `medialib-bench` binaries, such as target/debug.
#                     Without it the script uses target/release, and builds it when a binary is missing.
# The server's data directory, log and results (soak.json, soak.tsv) go to $BENCH_DIR/soak.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

duration=1800
concurrency=4
interval=10
live_assets=200
max_rss_growth=0.10
postgres=false
while (($#)); do
    case "$1" in
        --duration) duration="$2" && shift ;;
        --concurrency) concurrency="$2" && shift ;;
        --interval) interval="$2" && shift ;;
        --live-assets) live_assets="$2" && shift ;;
        --max-rss-growth) max_rss_growth="$2" && shift ;;
        --postgres) postgres=true ;;
        *) die "unknown option $1; see the usage at the top of $0" ;;
    esac
    shift
done

if [[ -n "${MEDIALIB_BIN_DIR:-}" ]]; then
    MEDIALIB="$MEDIALIB_BIN_DIR/medialib"
    MEDIALIB_BENCH="$MEDIALIB_BIN_DIR/medialib-bench"
    [[ -x "$MEDIALIB" && -x "$MEDIALIB_BENCH" ]] ||
        die "MEDIALIB_BIN_DIR=$MEDIALIB_BIN_DIR does not contain both medialib and medialib-bench"
elif [[ ! -x "$MEDIALIB" || ! -x "$MEDIALIB_BENCH" ]]; then
    log "building the release binaries"
    (cd "$BENCH_ROOT" && cargo build --release --locked --bins >&2)
fi

work_dir="$BENCH_DIR/soak"
data_dir="$work_dir/data"
rm -rf "$work_dir"
mkdir -p "$work_dir"

serve_args=(--rate-limit 0)
token_args=()
if $postgres; then
    source "$BENCH_ROOT/scripts/postgres.sh"
    source "$BENCH_ROOT/scripts/s3.sh"
    postgres_start || die "could not start PostgreSQL"
    # postgres_stop expects a shell without `set -e`: some of its commands fail when there is nothing to stop.
    trap 'set +e; stop_medialib; s3_stop; postgres_stop' EXIT
    TMPDIR="$BENCH_DIR" s3_start || die "could not start the S3 server"
    "$MEDIALIB" migrate --database-url "$POSTGRES_URL" >&2
    serve_args+=(--database-url "$POSTGRES_URL" --storage-url "$S3_STORAGE_URL")
    token_args+=(--database-url "$POSTGRES_URL")
else
    trap stop_medialib EXIT
fi

start_medialib "$data_dir" "${serve_args[@]}"
token="$(new_token "$data_dir" "${token_args[@]}")"

describe_machine >"$work_dir/machine.txt"
log "binaries: $MEDIALIB and $MEDIALIB_BENCH"
log "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
"$MEDIALIB_BENCH" soak --address "$SERVER_ADDR" --token "$token" --server-pid "$SERVER_PID" \
    --duration "$duration" --concurrency "$concurrency" --interval "$interval" --live-assets "$live_assets" \
    --max-rss-growth "$max_rss_growth" --json "$work_dir/soak.json" --tsv "$work_dir/soak.tsv" || status=$?
log "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
log "server log lines at WARN or ERROR: $(grep -c -E ' (WARN|ERROR) ' "$data_dir/serve.log" || true)"
log "results in $work_dir/soak.json and $work_dir/soak.tsv; the server's log is $data_dir/serve.log"
exit "$status"
