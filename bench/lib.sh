# Shared helpers of the benchmark scripts; sourced, not run.
# shellcheck shell=bash

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MEDIALIB="$BENCH_ROOT/target/release/medialib"
MEDIALIB_BENCH="$BENCH_ROOT/target/release/medialib-bench"
# Working files (data directories, source files, logs) live outside the repository; set BENCH_DIR to move them.
BENCH_DIR="${BENCH_DIR:-/tmp/medialib-bench}"
# Measured runs wait until the 1-minute load average is below this value, or until MAX_WAIT_FOR_QUIET seconds passed.
QUIET_LOAD="${QUIET_LOAD:-1.0}"
MAX_WAIT_FOR_QUIET="${MAX_WAIT_FOR_QUIET:-300}"

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

die() {
    log "error: $*"
    exit 1
}

# Prints the 1-minute load average.
load1() { cut -d' ' -f1 /proc/loadavg; }

# Waits until the machine is quiet (see QUIET_LOAD) and logs the load that the next measurement starts under. After
# a wait that timed out, the next calls within 120 s do not wait again, so a busy machine delays a run only once.
LAST_QUIET_TIMEOUT=0
wait_for_quiet() {
    local waited=0
    if (($(date +%s) - LAST_QUIET_TIMEOUT < 120)); then
        log "load average before the measurement: $(load1) (busy machine; not waiting again yet)"
        return
    fi
    while awk -v load="$(load1)" -v limit="$QUIET_LOAD" 'BEGIN { exit !(load >= limit) }'; do
        if ((waited >= MAX_WAIT_FOR_QUIET)); then
            log "load average $(load1) is still above $QUIET_LOAD after ${waited}s; measuring anyway"
            LAST_QUIET_TIMEOUT=$(date +%s)
            return
        fi
        sleep 10
        waited=$((waited + 10))
    done
    log "load average before the measurement: $(load1)"
}

# Prints one field of /proc/PID/status in KiB, such as VmRSS or VmHWM.
proc_kib() { awk -v field="$2:" '$1 == field { print $2 }' "/proc/$1/status"; }

# Prints the user plus system CPU time of a process in clock ticks: fields 14 and 15 of /proc/PID/stat. Field 2, the
# command name, must contain no spaces, which holds for the servers measured here.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Resets the peak resident set size (VmHWM) of a process to its current size; needs root and Linux 4.0 or later.
reset_peak_rss() { echo 5 >"/proc/$1/clear_refs"; }

# Starts `medialib serve` on a data directory with a free loopback port; extra arguments go to `serve`.
# Sets SERVER_PID and SERVER_ADDR, and waits until GET /health returns 200.
start_medialib() {
    local data_dir="$1"
    shift
    mkdir -p "$data_dir"
    "$MEDIALIB" serve --data-dir "$data_dir" --listen 127.0.0.1:0 "$@" \
        >"$data_dir/serve.stdout" 2>"$data_dir/serve.log" &
    SERVER_PID=$!
    SERVER_ADDR=""
    for _ in $(seq 1 300); do
        SERVER_ADDR="$(grep -o "listening on [0-9.:]*" "$data_dir/serve.log" | head -n1 | cut -d" " -f3 || true)"
        if [[ -n "$SERVER_ADDR" ]] && curl -fsS -o /dev/null "http://$SERVER_ADDR/health"; then
            log "medialib serve (pid $SERVER_PID) is ready on $SERVER_ADDR"
            return
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || die "medialib serve exited; see $data_dir/serve.log"
        sleep 0.1
    done
    die "medialib serve did not become ready in 30 s; see $data_dir/serve.log"
}

# Stops the server started by start_medialib.
stop_medialib() {
    if [[ -n "${SERVER_PID:-}" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}

# Prints a new write token of the repository `demo` of a data directory; extra arguments such as --database-url
# follow it.
new_token() {
    local data_dir="$1"
    shift
    "$MEDIALIB" token create --repository demo --label bench --data-dir "$data_dir" "$@"
}

# Prints the date, the machine and the load, for the record in docs/benchmarks.md.
describe_machine() {
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "kernel: $(uname -sr)"
    echo "cpu: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "memory: $(free -h | awk '/^Mem:/ { print $2 }')"
    echo "disk of $BENCH_DIR: $(df -h --output=source,size,avail "$BENCH_DIR" | tail -n1)"
    echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "medialib commit: $(git -C "$BENCH_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
}
