#!/usr/bin/env bash
# Upload benchmark: throughput and peak RSS of `medialib serve` for files of several sizes, beside
# `dd conv=fdatasync` of the same bytes to the same disk and beside a peer server (Directus, see bench/directus.sh).
#
# Usage: bench/upload.sh [--quick] [--no-peer] [--sizes "1 100 1024"] [--repeats N] [--baseline BINARY] [--s3]
#   --quick     1 MiB and 100 MiB only, 2 repetitions
#   --no-peer   measure medialib and dd only
#   --sizes     file sizes in MiB
#   --repeats   repetitions of each size (default 5; 1 MiB files get 10 times as many)
#   --baseline  also measure another medialib binary, such as a build of an earlier commit, as "medialib baseline".
#               Its uploads alternate with the current build's, so both see the same load.
#   --s3        also measure medialib storing into an S3 server on this machine (s3s-fs, see scripts/s3.sh), as
#               "medialib on S3"; its own root directory is on the same disk
# Writes one line per upload to $BENCH_DIR/upload.tsv and prints the medians as a Markdown table.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

sizes="1 100 1024"
repeats=5
peer=directus
baseline=""
s3=""
while (($#)); do
    case "$1" in
        --quick) sizes="1 100" repeats=2 ;;
        --no-peer) peer="" ;;
        --sizes) sizes="$2" && shift ;;
        --repeats) repeats="$2" && shift ;;
        --baseline) baseline="$2" && shift ;;
        --s3) s3=yes ;;
        *) die "unknown option $1; see the usage at the top of $0" ;;
    esac
    shift
done

[[ $EUID -eq 0 ]] || die "run as root: resetting a process's peak RSS writes /proc/PID/clear_refs"
[[ -x "$MEDIALIB" ]] || die "$MEDIALIB is missing; run cargo build --release"
mkdir -p "$BENCH_DIR"

# Every size is stored up to three times at once (dd copy, medialib, peer) plus its source file.
largest_mib=$(tr ' ' '\n' <<<"$sizes" | sort -n | tail -n1)
needed_kib=$(((largest_mib * 4 + 2048) * 1024))
free_kib=$(df --output=avail -k "$BENCH_DIR" | tail -n1)
((free_kib > needed_kib)) || die "$BENCH_DIR has $((free_kib / 1024)) MiB free; the upload benchmark needs $((needed_kib / 1024)) MiB"
log "free disk in $BENCH_DIR: $((free_kib / 1024)) MiB, needed: $((needed_kib / 1024)) MiB"

# Uploads one small asset that stays, so that the repository's directory exists during the measured uploads, as it
# does for any repository that contains assets. Deleting a repository's last asset removes its empty directory, and the
# next upload recreates and flushes it.
keep_one_asset() {
    local address="$1" bearer="$2" status
    status=$(printf 'kept' | curl -sS -o /dev/null -w '%{http_code}' -H 'repository: demo' \
        -H "authorization: Bearer $bearer" -F 'file=@-;filename=kept.txt' "http://$address/assets")
    [[ "$status" == 200 ]] || die "the upload of the asset that stays returned $status"
}

data_dir="$BENCH_DIR/upload-medialib"
rm -rf "$data_dir"
max_bytes=$(((largest_mib + 1) * 1024 * 1024))
start_medialib "$data_dir" --rate-limit 0 --max-upload-size "$max_bytes"
medialib_pid=$SERVER_PID
medialib_addr=$SERVER_ADDR
token="$(new_token "$data_dir")"
keep_one_asset "$medialib_addr" "$token"

baseline_pid=""
if [[ -n "$baseline" ]]; then
    [[ -x "$baseline" ]] || die "the baseline binary $baseline is missing or not executable"
    current_binary="$MEDIALIB"
    MEDIALIB="$baseline"
    baseline_dir="$BENCH_DIR/upload-medialib-baseline"
    rm -rf "$baseline_dir"
    start_medialib "$baseline_dir" --rate-limit 0 --max-upload-size "$max_bytes"
    baseline_pid=$SERVER_PID
    baseline_addr=$SERVER_ADDR
    baseline_token="$(new_token "$baseline_dir")"
    keep_one_asset "$baseline_addr" "$baseline_token"
    MEDIALIB="$current_binary"
    SERVER_PID=$medialib_pid
fi

peer_pid=""
if [[ "$peer" == directus ]]; then
    source "$(dirname "$0")/directus.sh"
    directus_start "$max_bytes"
    peer_pid=$DIRECTUS_PID
fi

s3_server_pid=""
if [[ -n "$s3" ]]; then
    source "$BENCH_ROOT/scripts/s3.sh"
    TMPDIR="$BENCH_DIR" s3_start
    s3_data_dir="$BENCH_DIR/upload-medialib-s3"
    rm -rf "$s3_data_dir"
    start_medialib "$s3_data_dir" --rate-limit 0 --max-upload-size "$max_bytes" --storage-url "$S3_STORAGE_URL"
    s3_server_pid=$SERVER_PID
    s3_server_addr=$SERVER_ADDR
    s3_token="$(new_token "$s3_data_dir")"
    keep_one_asset "$s3_server_addr" "$s3_token"
    SERVER_PID=$medialib_pid
fi

cleanup() {
    stop_medialib
    if [[ -n "$s3_server_pid" ]]; then
        SERVER_PID=$s3_server_pid
        stop_medialib
        s3_stop
    fi
    if [[ -n "$baseline_pid" ]]; then
        SERVER_PID=$baseline_pid
        stop_medialib
    fi
    [[ -n "$peer_pid" ]] && directus_stop
    rm -f "$BENCH_DIR"/source-*.bin "$BENCH_DIR/dd.out"
}
trap cleanup EXIT

results="$BENCH_DIR/upload.tsv"
printf 'system\tsize_mib\trepeat\tseconds\tmib_per_s\trss_before_kib\tpeak_rss_kib\tcpu_seconds\tload1\n' >"$results"

# Runs one upload command with the server's peak RSS reset first; appends a result line.
# Arguments: system name, server pid, size in MiB, repeat, then the command, which prints the elapsed seconds.
measure() {
    local system="$1" pid="$2" size="$3" repeat="$4"
    shift 4
    sync
    wait_for_quiet
    local load rss_before peak seconds cpu_before cpu
    load="$(load1)"
    rss_before="-"
    peak="-"
    cpu="-"
    if [[ -n "$pid" ]]; then
        reset_peak_rss "$pid"
        rss_before="$(proc_kib "$pid" VmRSS)"
        cpu_before="$(cpu_ticks "$pid")"
    fi
    seconds="$("$@")"
    if [[ -n "$pid" ]]; then
        peak="$(proc_kib "$pid" VmHWM)"
        cpu="$(awk -v a="$cpu_before" -v b="$(cpu_ticks "$pid")" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }')"
    fi
    local rate
    rate="$(awk -v mib="$size" -v s="$seconds" 'BEGIN { printf "%.1f", mib / s }')"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$system" "$size" "$repeat" "$seconds" "$rate" "$rss_before" "$peak" \
        "$cpu" "$load" | tee -a "$results" >&2
}

# Copies the source file with dd and flushes it; prints the elapsed seconds.
run_dd() {
    local started ended
    started=$(date +%s.%N)
    dd if="$1" of="$BENCH_DIR/dd.out" bs=1M conv=fdatasync status=none
    ended=$(date +%s.%N)
    rm -f "$BENCH_DIR/dd.out"
    awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.4f", b - a }'
}

# Uploads the source file to medialib, deletes the new asset, and prints the upload's seconds. The optional second
# and third arguments are the server address and token (default: the current build's server).
run_medialib() {
    local address="${2:-$medialib_addr}" bearer="${3:-$token}"
    local out="$BENCH_DIR/upload-response.json" status seconds
    read -r status seconds < <(curl -sS -o "$out" -w '%{http_code} %{time_total}\n' -H 'Expect:' \
        -H 'repository: demo' -H "authorization: Bearer $bearer" \
        -F "file=@$1;filename=bench-upload.bin" "http://$address/assets")
    [[ "$status" == 200 ]] || die "medialib upload returned $status: $(head -c 300 "$out")"
    local id
    id="$(sed -n 's/.*"id":"\([A-Za-z0-9]*\)".*/\1/p' "$out")"
    curl -sS -o /dev/null -X DELETE -H 'repository: demo' -H "authorization: Bearer $bearer" \
        "http://$address/assets/$id"
    echo "$seconds"
}

for size in $sizes; do
    source_file="$BENCH_DIR/source-$size.bin"
    head -c "$((size * 1024 * 1024))" /dev/urandom >"$source_file"
    count=$repeats
    ((size <= 1)) && count=$((repeats * 10))
    for repeat in $(seq 1 "$count"); do
        measure dd "" "$size" "$repeat" run_dd "$source_file"
        measure medialib "$medialib_pid" "$size" "$repeat" run_medialib "$source_file"
        if [[ -n "$baseline_pid" ]]; then
            measure "medialib baseline" "$baseline_pid" "$size" "$repeat" run_medialib "$source_file" \
                "$baseline_addr" "$baseline_token"
        fi
        if [[ -n "$s3_server_pid" ]]; then
            measure "medialib on S3" "$s3_server_pid" "$size" "$repeat" run_medialib "$source_file" \
                "$s3_server_addr" "$s3_token"
        fi
        if [[ -n "$peer_pid" ]]; then
            measure directus "$peer_pid" "$size" "$repeat" directus_upload "$source_file"
            measure "directus, then fsync" "$peer_pid" "$size" "$repeat" directus_upload "$source_file" fsync
        fi
    done
    rm -f "$source_file"
done

echo
echo "| System | File | Runs | Median s | Median MiB/s (min-max) | Share of dd | Server CPU s (median) | RSS before MiB | Max peak RSS MiB | Max growth MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
awk -F'\t' '
    NR == 1 { next }
    { key = $1 SUBSEP $2; n[key]++; secs[key, n[key]] = $4; rate[key, n[key]] = $5; cpu[key, n[key]] = $8
      if (!(key in lo) || $5 + 0 < lo[key]) lo[key] = $5 + 0
      if ($5 + 0 > hi[key]) hi[key] = $5 + 0
      if ($6 != "-") { before[key] = $6; growth = $7 - $6; if (growth > maxgrowth[key]) maxgrowth[key] = growth
                       if ($7 > peak[key]) peak[key] = $7 }
      if (!(key in order)) { order[key] = ++keys; names[keys] = key } }
    function median(key, arr,    i, j, t, m, v) {
        m = n[key]; for (i = 1; i <= m; i++) v[i] = arr[key, i]
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
        return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2 }
    END {
        for (k = 1; k <= keys; k++) { key = names[k]; split(key, parts, SUBSEP); medrate[key] = median(key, rate) }
        for (k = 1; k <= keys; k++) {
            key = names[k]; split(key, parts, SUBSEP)
            ddkey = "dd" SUBSEP parts[2]
            share = (ddkey in medrate) ? sprintf("%.0f%%", 100 * medrate[key] / medrate[ddkey]) : "-"
            rss = (key in before) ? sprintf("%.1f", before[key] / 1024) : "-"
            pk = (key in peak) ? sprintf("%.1f", peak[key] / 1024) : "-"
            gr = (key in before) ? sprintf("%.1f", maxgrowth[key] / 1024) : "-"
            cpus = (key in before) ? sprintf("%.2f", median(key, cpu)) : "-"
            printf "| %s | %s MiB | %d | %.3f | %.1f (%.1f-%.1f) | %s | %s | %s | %s | %s |\n", parts[1], parts[2], n[key],
                median(key, secs), medrate[key], lo[key], hi[key], share, cpus, rss, pk, gr
        }
    }' "$results"
