#!/usr/bin/env bash
# Cost of the shared rate limit: requests per second of an authenticated GET /tags, with the limit off and on, with
# one and with two `medialib serve` instances on one throwaway PostgreSQL database (scripts/postgres.sh), with wrk.
# "On" is `--rate-limit 1000000 --rate-limit-burst 1000000`, which never rejects a request here, so the difference
# is the cost of the check: one statement on the database per request. All requests use one token, so every check
# updates the same row, which is the worst case for the row lock.
#
# Usage: bench/rate_limit.sh [--quick] [--duration SECONDS] [--connections N] [--repeats N]
#   --quick        5-second runs
#   --duration     seconds per run (default 15)
#   --connections  open connections in all, split evenly between the instances (default 16)
#   --repeats      runs of the whole table, to see the spread on a busy machine (default 1)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$BENCH_ROOT/scripts/postgres.sh"

duration=15
connections=16
repeats=1
while (($#)); do
    case "$1" in
        --quick) duration=5 ;;
        --duration) duration="$2" && shift ;;
        --connections) connections="$2" && shift ;;
        --repeats) repeats="$2" && shift ;;
        *) die "unknown option $1; see the usage at the top of $0" ;;
    esac
    shift
done
command -v wrk >/dev/null || die "wrk is missing; install it with apt-get install -y wrk"
[[ -x "$MEDIALIB" ]] || die "run cargo build --release first"
((connections >= 2)) || die "--connections must be at least 2, one per instance"

work_dir="$BENCH_DIR/rate-limit"
rm -rf "$work_dir"
mkdir -p "$work_dir"
instance_pids=()
instance_addrs=()

stop_instances() {
    local pid
    for pid in "${instance_pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            wait "$pid" 2>/dev/null || true
        fi
    done
    instance_pids=()
    instance_addrs=()
}
# postgres_stop is written for scripts without `set -e`: some of its commands fail when there is nothing to stop.
cleanup() {
    set +e
    stop_instances
    postgres_stop
}
trap cleanup EXIT

postgres_start || die "PostgreSQL did not start"
database_url="$POSTGRES_URL"
storage_url="file://$work_dir/files"

# Starts COUNT instances on the database and file store, with the extra `serve` arguments that follow.
start_instances() {
    local count="$1" index
    shift
    for ((index = 1; index <= count; index++)); do
        start_medialib "$work_dir/instance-$index" --database-url "$database_url" --storage-url "$storage_url" \
            "$@"
        instance_pids+=("$SERVER_PID")
        instance_addrs+=("$SERVER_ADDR")
        SERVER_PID=""
    done
}

# The first start applies the migrations and creates the repository `demo`.
start_instances 1 --rate-limit 0
stop_instances
token="$("$MEDIALIB" token create --repository demo --label bench --data-dir "$work_dir/instance-1" \
    --database-url "$database_url" --storage-url "$storage_url")"

# Runs wrk against every running instance at once, with the connections split between them. Prints the requests per
# second summed over the instances and the responses other than 2xx and 3xx.
measure() {
    local count="${#instance_addrs[@]}" index outputs=() pids=()
    local per_instance=$((connections / count))
    for ((index = 0; index < count; index++)); do
        outputs+=("$work_dir/wrk-$index.txt")
        wrk -t1 -c"$per_instance" -d"${duration}s" -H 'repository: demo' -H "authorization: Bearer $token" \
            "http://${instance_addrs[$index]}/tags" >"${outputs[$index]}" &
        pids+=($!)
    done
    wait "${pids[@]}"
    awk '/^Requests\/sec:/ { rps += $2 } /Non-2xx or 3xx responses:/ { other += $NF }
         END { printf "%.0f %d\n", rps, other }' "${outputs[@]}"
}

results="$work_dir/results.txt"
: >"$results"
for ((repeat = 1; repeat <= repeats; repeat++)); do
    for count in 1 2; do
        for limit in off on; do
            if [[ "$limit" == on ]]; then
                start_instances "$count" --rate-limit 1000000 --rate-limit-burst 1000000
            else
                start_instances "$count" --rate-limit 0
            fi
            # One request per instance opens the connections before the clock starts.
            for address in "${instance_addrs[@]}"; do
                curl -fsS -o /dev/null -H 'repository: demo' -H "authorization: Bearer $token" \
                    "http://$address/tags" || die "GET /tags failed on $address"
            done
            wait_for_quiet
            read -r rps other < <(measure)
            log "$count instance(s), limit $limit, run $repeat: $rps requests/s, $other responses not 2xx/3xx; load $(load1)"
            ((other == 0)) || die "$other responses were not 2xx/3xx; see $work_dir/wrk-*.txt"
            echo "$count $limit $repeat $rps" >>"$results"
            stop_instances
        done
    done
done

echo "GET /tags with one token, $connections connections in all, ${duration}s per run, wrk -t1 per instance"
echo "PostgreSQL $("$(postgres_bin_dir)/postgres" --version | awk '{print $3}'), load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| instances | limit | requests/s (each run) | median | cost of the check |"
echo "|---|---|---|---|---|"
for count in 1 2; do
    off_median=""
    for limit in off on; do
        runs="$(awk -v c="$count" -v l="$limit" '$1 == c && $2 == l { print $4 }' "$results")"
        median="$(sort -n <<<"$runs" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"
        cost="-"
        if [[ "$limit" == off ]]; then
            off_median="$median"
        else
            cost="$(awk -v off="$off_median" -v on="$median" 'BEGIN { printf "%+.1f%% requests/s", (on - off) / off * 100 }')"
        fi
        echo "| $count | $limit | $(paste -sd' ' <<<"$runs" | sed 's/ /, /g') | $median | $cost |"
    done
done
