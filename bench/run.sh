#!/usr/bin/env bash
# Runs every benchmark of docs/benchmarks.md: release build, upload, listing and search, requests per second.
# Run as root on Debian; installs wrk and the peer server (Directus, from npm) when missing.
#
# Usage: bench/run.sh [--quick] [--no-peer]
#   --quick     a run of a few minutes: smaller files, 100,000 assets instead of 1,000,000, shorter wrk runs
#   --no-peer   skip the Directus upload comparison
# Working files go to $BENCH_DIR (default /tmp/medialib-bench); the report is also written to $BENCH_DIR/report.md.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

quick=()
upload_flags=()
while (($#)); do
    case "$1" in
        --quick) quick=(--quick) ;;
        --no-peer) upload_flags+=(--no-peer) ;;
        *) die "unknown option $1; see the usage at the top of $0" ;;
    esac
    shift
done

mkdir -p "$BENCH_DIR"
command -v wrk >/dev/null || apt-get install -y wrk >&2
(cd "$BENCH_ROOT" && cargo build --release --bin medialib --bin medialib-bench >&2)

report="$BENCH_DIR/report.md"
{
    echo "## Machine"
    echo '```'
    describe_machine
    echo '```'
    echo
    echo "## Upload"
    "$BENCH_ROOT/bench/upload.sh" "${quick[@]}" "${upload_flags[@]}"
    echo
    echo "## Listing and search"
    "$BENCH_ROOT/bench/listing.sh" "${quick[@]}"
    echo
    echo "## Requests per second"
    echo '```'
    "$BENCH_ROOT/bench/rps.sh" "${quick[@]}"
    echo '```'
} | tee "$report"
log "report written to $report"
