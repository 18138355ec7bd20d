#!/usr/bin/env bash
# Throughput benchmark: requests per second of GET /assets (rate limit off) beside GET /health on the same server,
# with wrk. Uses the repository that bench/listing.sh seeded last ($BENCH_DIR/listing-current), so run that first.
#
# Usage: bench/rps.sh [--quick] [--duration SECONDS] [--connections N]
#   --quick        5-second runs
#   --duration     seconds per run (default 20)
#   --connections  open connections (default 16)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

duration=20
connections=16
while (($#)); do
    case "$1" in
        --quick) duration=5 ;;
        --duration) duration="$2" && shift ;;
        --connections) connections="$2" && shift ;;
        *) die "unknown option $1; see the usage at the top of $0" ;;
    esac
    shift
done
command -v wrk >/dev/null || die "wrk is missing; install it with apt-get install -y wrk"
data_dir="$BENCH_DIR/listing-current"
[[ -f "$data_dir/seeded-count" ]] || die "$data_dir is not seeded; run bench/listing.sh first"

start_medialib "$data_dir" --rate-limit 0
trap stop_medialib EXIT
token="$(new_token "$data_dir")"
log "$(cat "$data_dir/seeded-count") assets in the repository"

# One wrk thread, so that the client takes at most one of the machine's cores from the server.
for path in /health /assets "/assets?limit=10"; do
    wait_for_quiet
    echo "### GET $path"
    wrk -t1 -c"$connections" -d"${duration}s" --latency \
        -H 'repository: demo' -H "authorization: Bearer $token" "http://$SERVER_ADDR$path"
    log "load average after GET $path: $(load1)"
done
