#!/usr/bin/env bash
# Runs every benchmark of docs/benchmarks.md: release build, upload, listing and search, requests per second, image
# rendering. Run as root on Debian; installs wrk and the peer servers (Directus and sharp, from npm) when missing.
#
# Usage: bench/run.sh [--quick] [--no-peer] [--no-images]
#   --quick       a run of a few minutes: smaller files, 100,000 assets instead of 1,000,000, shorter wrk runs
#   --no-peer     skip the Directus upload comparison
#   --no-images   skip the image rendering comparison with sharp (bench/images.sh, which needs Node.js 20.9)
# Working files go to $BENCH_DIR (default /tmp/medialib-bench); the report is also written to $BENCH_DIR/report.md.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

quick=()
upload_flags=()
images=yes
while (($#)); do
    case "$1" in
        --quick) quick=(--quick) ;;
        --no-peer) upload_flags+=(--no-peer) ;;
        --no-images) images=no ;;
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
    if [[ "$images" == yes ]]; then
        echo
        echo "## Image rendering"
        "$BENCH_ROOT/bench/images.sh" "${quick[@]}"
    fi
} | tee "$report"
log "report written to $report"
