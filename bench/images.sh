#!/usr/bin/env bash
# Image rendering benchmark: medialib beside sharp (npm, the libvips binding that Directus and Strapi use), in one run.
# A 4000x3000 JPEG is rendered 400 pixels wide as JPEG and as WebP, at concurrency 1 and 2, on both servers. Reports
# renders per second, output bytes, the CPU time per render and the peak RSS of each server process, then the
# requests per second of a cached medialib variant (wrk).
#
# Usage: bench/images.sh [--quick] [--renders N] [--duration SECONDS] [--binary PATH]
#   --quick     40 renders per case and 5-second cached runs
#   --renders   uncached renders per case and server (default 200)
#   --duration  seconds of each cached-variant wrk run (default 10)
#   --binary    the medialib binary to measure (default target/release/medialib)
#
# Every uncached request must render: request i is for w = 400 + (i mod 100) of copy i / 100 of the source, and
# each case (format and concurrency) has its own copies. The copies differ only in a JPEG comment segment, so their
# pixels and decoding work are the same, but medialib keys its variant cache by the bytes' SHA-256 and renders each.
# sharp caches nothing (sharp.cache(false)) and gets the same sequence of widths. Both sides encode at quality 75 with
# the same encoder settings: JPEG baseline with 4:2:0 chroma subsampling, the standard quantisation tables, optimised
# Huffman tables and trellis quantisation (mozjpeg on both sides), WebP lossy at method (effort) 4.
#
# Run as root on Debian: installs wrk (apt) and sharp (npm ci in bench/images) when missing, and resets the peak RSS
# of the servers through /proc/PID/clear_refs. Needs Node.js 20.9 or later for sharp 0.35.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

renders=200
duration=10
while (($#)); do
    case "$1" in
        --quick) renders=40 duration=5 ;;
        --renders) renders="$2" && shift ;;
        --duration) duration="$2" && shift ;;
        --binary) MEDIALIB="$2" && shift ;;
        *) die "unknown option $1; see the usage at the top of $0" ;;
    esac
    shift
done
((renders >= 1)) || die "--renders must be at least 1, got $renders"

QUALITY=75
FORMATS="jpg webp"
CONCURRENCIES="1 2"
NODE_DIR="$BENCH_ROOT/bench/images"
work_dir="$BENCH_DIR/images"

[[ $EUID -eq 0 ]] || die "run as root: resetting a process's peak RSS writes /proc/PID/clear_refs"
[[ -x "$MEDIALIB" ]] || die "$MEDIALIB is missing; run cargo build --release"
command -v node >/dev/null || die "node is missing; install Node.js 20.9 or later"
node -e 'const [major, minor] = process.versions.node.split(".").map(Number); process.exit(major > 20 || (major === 20 && minor >= 9) ? 0 : 1)' ||
    die "sharp 0.35 needs Node.js 20.9 or later; this is $(node --version)"
command -v wrk >/dev/null || apt-get install -y wrk >&2
if [[ ! -d "$NODE_DIR/node_modules/sharp" ]]; then
    log "installing sharp from $NODE_DIR/package-lock.json"
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund >&2)
fi

rm -rf "$work_dir"
mkdir -p "$work_dir"
# The server runs from a copy of the binary, so that a rebuild during the run cannot replace what is measured.
cp -p "$MEDIALIB" "$work_dir/medialib-server"
MEDIALIB="$work_dir/medialib-server"
log "medialib binary: $(sha256sum "$MEDIALIB" | cut -c1-16), built $(date -u -r "$MEDIALIB" '+%Y-%m-%d %H:%M UTC')"
source_file="$work_dir/source.jpg"
log "generating the 4000x3000 source"
node "$NODE_DIR/generate.js" "$source_file"
log "source: $(stat -c %s "$source_file") bytes, sha256 $(sha256sum "$source_file" | cut -c1-16)"

start_medialib "$work_dir/medialib" --rate-limit 0
medialib_pid=$SERVER_PID
medialib_addr=$SERVER_ADDR
token="$(new_token "$work_dir/medialib")"

node "$NODE_DIR/sharp-server.js" "$source_file" 2>"$work_dir/sharp.log" &
sharp_pid=$!
cleanup() {
    stop_medialib
    kill -TERM "$sharp_pid" 2>/dev/null && wait "$sharp_pid" 2>/dev/null || true
}
trap cleanup EXIT
sharp_addr=""
for _ in $(seq 1 100); do
    sharp_addr="$(grep -o "listening on [0-9.:]*" "$work_dir/sharp.log" | head -n1 | cut -d" " -f3 || true)"
    [[ -n "$sharp_addr" ]] && break
    kill -0 "$sharp_pid" 2>/dev/null || die "the sharp server exited; see $work_dir/sharp.log"
    sleep 0.1
done
[[ -n "$sharp_addr" ]] || die "the sharp server did not start in 10 s; see $work_dir/sharp.log"
log "$(head -n1 "$work_dir/sharp.log") (pid $sharp_pid)"

# Uploads a copy of the source with a JPEG comment segment (COM, 0xFFFE) holding `label` after the SOI marker, and
# prints the copy's URL without a query.
upload_copy() {
    local label="$1" copy="$work_dir/copy.jpg" response="$work_dir/upload.json" status
    {
        printf '\xff\xd8\xff\xfe'
        printf "\\x$(printf %02x $(((${#label} + 2) >> 8)))\\x$(printf %02x $(((${#label} + 2) & 255)))"
        printf '%s' "$label"
        tail -c +3 "$source_file"
    } >"$copy"
    status="$(curl -sS -o "$response" -w '%{http_code}' -H 'repository: demo' -H "authorization: Bearer $token" \
        -F "file=@$copy;filename=$label.jpg" "http://$medialib_addr/assets")"
    [[ "$status" == 200 ]] || die "uploading $label returned $status: $(head -c 300 "$response")"
    sed -n 's/.*"url":"\([^"?]*\)[^"]*".*/\1/p' "$response"
}

# Writes the URL list of one case: `renders` lines for medialib (fresh copies of the source) or for sharp.
write_urls() {
    local system="$1" format="$2" concurrency="$3" file="$4" copies=() index
    if [[ "$system" == medialib ]]; then
        for index in $(seq 0 $(((renders - 1) / 100))); do
            copies+=("$(upload_copy "bench-$format-c$concurrency-$index")")
        done
    fi
    : >"$file"
    for index in $(seq 0 $((renders - 1))); do
        local width=$((400 + index % 100))
        if [[ "$system" == medialib ]]; then
            echo "${copies[$((index / 100))]}?w=$width&fm=$format&q=$QUALITY" >>"$file"
        else
            echo "http://$sharp_addr/render?w=$width&fm=$format&q=$QUALITY" >>"$file"
        fi
    done
}

results="$work_dir/images.tsv"
printf 'system\tformat\tconcurrency\trenders\tseconds\trenders_per_s\tmean_bytes\tp50_ms\tp99_ms\tcpu_ms_per_render\tpeak_rss_mib\tload1\n' >"$results"

# Runs one case against one server with its peak RSS reset first, and appends a result line.
measure() {
    local system="$1" pid="$2" format="$3" concurrency="$4" urls="$work_dir/urls-$1-$3-c$4.txt"
    write_urls "$system" "$format" "$concurrency" "$urls"
    wait_for_quiet
    local load cpu_before output
    load="$(load1)"
    reset_peak_rss "$pid"
    cpu_before="$(cpu_ticks "$pid")"
    output="$(node "$NODE_DIR/drive.js" "$urls" "$concurrency")" || die "$system $format c$concurrency failed"
    local cpu_ticks_used peak
    cpu_ticks_used=$(($(cpu_ticks "$pid") - cpu_before))
    peak="$(proc_kib "$pid" VmHWM)"
    # drive.js prints one JSON line; the fields are read with node, which is already required.
    node -e '
        const [line, system, format, concurrency, ticks, hz, peak, load] = process.argv.slice(1);
        const r = JSON.parse(line);
        const cpu = (1000 * ticks / hz / r.requests).toFixed(1);
        console.log([system, format, concurrency, r.requests, r.seconds, r.per_second, r.mean_bytes, r.p50_ms,
            r.p99_ms, cpu, (peak / 1024).toFixed(1), load].join("\t"));
    ' "$output" "$system" "$format" "$concurrency" "$cpu_ticks_used" "$(getconf CLK_TCK)" "$peak" "$load" |
        tee -a "$results" >&2
}

for format in $FORMATS; do
    for concurrency in $CONCURRENCIES; do
        measure medialib "$medialib_pid" "$format" "$concurrency"
        measure sharp "$sharp_pid" "$format" "$concurrency"
    done
done

# Output of exactly w=400 from each side, checked for its size with sharp's metadata reader.
sizes="$work_dir/sizes.tsv"
printf 'system\tformat\tbytes\twidth\theight\n' >"$sizes"
first_copy="$(sed -n 1p "$work_dir/urls-medialib-jpg-c1.txt" | cut -d'?' -f1)"
for format in $FORMATS; do
    for system in medialib sharp; do
        output="$work_dir/w400-$system.$format"
        if [[ "$system" == medialib ]]; then
            url="$first_copy?w=400&fm=$format&q=$QUALITY"
        else
            url="http://$sharp_addr/render?w=400&fm=$format&q=$QUALITY"
        fi
        curl -fsS -o "$output" "$url"
        node -e '
            const [nodeDir, file, system, format] = process.argv.slice(1);
            const sharp = require(nodeDir + "/node_modules/sharp");
            const bytes = require("node:fs").statSync(file).size;
            sharp(file).metadata().then((m) => console.log([system, format, bytes, m.width, m.height].join("\t")));
        ' "$NODE_DIR" "$output" "$system" "$format" >>"$sizes"
    done
done

# Requests per second of one cached variant (rendered above), with wrk: one thread, so that the client takes at most
# one of the machine's cores.
cached="$work_dir/cached.tsv"
printf 'format\tconnections\trequests_per_s\tp50\tp99\tpeak_rss_mib\tload1\n' >"$cached"
for format in $FORMATS; do
    url="$first_copy?w=400&fm=$format&q=$QUALITY"
    for connections in $CONCURRENCIES; do
        wait_for_quiet
        load="$(load1)"
        reset_peak_rss "$medialib_pid"
        wrk -t1 -c"$connections" -d"${duration}s" --latency "$url" >"$work_dir/wrk.txt"
        grep -q "Non-2xx" "$work_dir/wrk.txt" && die "cached $format returned errors: $(cat "$work_dir/wrk.txt")"
        rps="$(awk '/^Requests\/sec/ { print $2 }' "$work_dir/wrk.txt")"
        p50="$(awk '$1 == "50%" { print $2 }' "$work_dir/wrk.txt")"
        p99="$(awk '$1 == "99%" { print $2 }' "$work_dir/wrk.txt")"
        printf '%s\t%s\t%s\t%s\t%s\t%.1f\t%s\n' "$format" "$connections" "$rps" "$p50" "$p99" \
            "$(awk -v kib="$(proc_kib "$medialib_pid" VmHWM)" 'BEGIN { print kib / 1024 }')" "$load" | tee -a "$cached" >&2
    done
done

echo "Source: $(stat -c %s "$source_file") bytes, 4000x3000, generated by bench/images/generate.js."
echo "$(head -n1 "$work_dir/sharp.log" | sed 's/listening on [0-9.:]* //')"
echo
echo "| Server | Output | Concurrency | Renders | Renders/s | Mean bytes (w=400-499) | p50 ms | p99 ms | CPU ms per render | Peak RSS MiB | Load before |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %.1f | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $6, $7, $8, $9, $10, $11, $12 }' "$results"
echo
echo "| Output at w=400 | medialib bytes | sharp bytes | medialib size | sharp size |"
echo "|---|---:|---:|---|---|"
awk -F'\t' 'NR > 1 { bytes[$2, $1] = $3; size[$2, $1] = $4 "x" $5; if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 } }
    END { for (i = 1; i <= n; i++) { f = order[i]; printf "| %s | %s | %s | %s | %s |\n", f, bytes[f, "medialib"], bytes[f, "sharp"], size[f, "medialib"], size[f, "sharp"] } }' "$sizes"
echo
echo "| Cached medialib variant | Connections | Requests/s | p50 | p99 | Peak RSS MiB | Load before |"
echo "|---|---:|---:|---:|---:|---:|---:|"
awk -F'\t' 'NR > 1 { printf "| %s, w=400 | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }' "$cached"
