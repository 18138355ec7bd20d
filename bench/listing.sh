#!/usr/bin/env bash
# Listing and search benchmark: seeds one repository with generated assets (default 1,000,000), then measures p50 and
# p99 of GET /assets plain, with keyword, with tags and deep in a cursor walk, with `medialib-bench latency`.
#
# Usage: bench/listing.sh [--quick] [--count N] [--requests N] [--reseed]
#   --quick      100,000 assets, 200 requests per scenario, deep page after 10,000 items
#   --count      assets to seed (default 1000000)
#   --requests   measured requests per scenario (default 1000)
#   --groups     scenario groups of `medialib-bench latency`, comma-separated (default: all)
#   --reseed     seed again even if $BENCH_DIR/listing-N already exists
# Leaves the seeded data directory ($BENCH_DIR/listing-N for N assets) in place for later runs, and points
# $BENCH_DIR/listing-current at it for bench/rps.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

count=1000000
requests=1000
deep_items=100000
reseed=false
groups=plain,keyword,short-keyword,tags,deep
while (($#)); do
    case "$1" in
        --quick) count=100000 requests=200 deep_items=10000 ;;
        --count) count="$2" && shift ;;
        --requests) requests="$2" && shift ;;
        --groups) groups="$2" && shift ;;
        --reseed) reseed=true ;;
        *) die "unknown option $1; see the usage at the top of $0" ;;
    esac
    shift
done
[[ -x "$MEDIALIB" && -x "$MEDIALIB_BENCH" ]] || die "run cargo build --release first"

data_dir="$BENCH_DIR/listing-$count"
marker="$data_dir/seeded-count"
if $reseed || [[ "$(cat "$marker" 2>/dev/null)" != "$count" ]]; then
    rm -rf "$data_dir"
    # The first start applies the migrations and creates the repository `demo`.
    start_medialib "$data_dir"
    stop_medialib
    log "seeding $count assets into $data_dir"
    "$MEDIALIB_BENCH" seed --data-dir "$data_dir" --repository demo --count "$count" >&2
    echo "$count" >"$marker"
    du -sh "$data_dir/medialib.sqlite" >&2
fi

ln -sfn "$data_dir" "$BENCH_DIR/listing-current"

start_medialib "$data_dir" --rate-limit 0
trap stop_medialib EXIT
token="$(new_token "$data_dir")"

# Keyword and tag filters are served from the in-memory listing index, which the server loads in the background
# after it starts. Until then they run in the database, so the measurement waits for the load to finish.
log "waiting for the listing index to load"
for _ in $(seq 1 600); do
    grep -q "loaded the listing index" "$data_dir/serve.log" && break
    sleep 1
done
grep "loaded the listing index" "$data_dir/serve.log" >&2 || die "the listing index did not load in 600 s"
log "server RSS with the index loaded: $(awk '/VmRSS/ {print $2, $3}' "/proc/$SERVER_PID/status")"

wait_for_quiet
"$MEDIALIB_BENCH" latency --address "$SERVER_ADDR" --token "$token" --requests "$requests" \
    --deep-items "$deep_items" --groups "$groups" --json "$BENCH_DIR/latency.json"
log "load average after the measurement: $(load1)"
