#!/usr/bin/env bash
# `medialib copy` benchmark. Fills an embedded installation through the API with one large file and many small ones.
# Copies it to PostgreSQL and S3, from there to a new embedded installation, and once more from embedded to embedded.
# Then reruns the last copy, which only verifies. Prints the wall time and the peak RSS of each copy (GNU time), and
# checks that the files after the round trip are identical to the source's.
#
# Usage: scripts/postgres.sh scripts/s3.sh bench/copy.sh [--small N] [--large-bytes N] [--binary PATH]
#   --small        number of 20,000-byte assets (default 1000)
#   --large-bytes  size of the one large asset (default 99614720, under the default 100 MiB upload limit)
#   --binary       the medialib binary to measure (default target/release/medialib)
#
# Needs MEDIALIB_TEST_DATABASE_URL and MEDIALIB_TEST_STORAGE_URL with the AWS_* variables, as the two scripts above
# export them, and curl and GNU time (/usr/bin/time).
set -euo pipefail

small=1000
large_bytes=99614720
binary="$(dirname "$0")/../target/release/medialib"
while (($#)); do
    case "$1" in
        --small) small="$2"; shift 2 ;;
        --large-bytes) large_bytes="$2"; shift 2 ;;
        --binary) binary="$2"; shift 2 ;;
        *) echo "copy.sh: unknown argument $1" >&2; exit 1 ;;
    esac
done
: "${MEDIALIB_TEST_DATABASE_URL:?run under scripts/postgres.sh}"
: "${MEDIALIB_TEST_STORAGE_URL:?run under scripts/s3.sh}"
binary="$(realpath "$binary")"
psql="$(ls /usr/lib/postgresql/*/bin/psql | sort -V | tail -n 1)"

work="$(mktemp -d "${TMPDIR:-/tmp}/medialib-copy-bench.XXXXXX")"
server_pid=""
cleanup() {
    [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf -- "$work"
}
trap cleanup EXIT

"$binary" repository create --data-dir "$work/source" bench-copy >/dev/null
token="$("$binary" token create --data-dir "$work/source" --repository bench-copy)"
"$binary" serve --data-dir "$work/source" --listen 127.0.0.1:0 --rate-limit 0 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 100); do
    address="$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$work/serve.log" | head -n 1)"
    [[ -n "$address" ]] && break
    sleep 0.1
done
[[ -n "$address" ]] || { echo "copy.sh: the server did not start" >&2; cat "$work/serve.log" >&2; exit 1; }

upload() {
    curl -sf -o /dev/null -H 'repository: bench-copy' -H "authorization: Bearer $token" -F "file=@$1;filename=$2" \
        "http://$address/assets"
}
head -c "$large_bytes" /dev/urandom >"$work/large.bin"
upload "$work/large.bin" large.bin
head -c 20000 /dev/urandom >"$work/small.bin"
for i in $(seq "$small"); do
    upload "$work/small.bin" "small-$i.bin"
done
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""

database="bench_copy_$$"
"$psql" -q "$MEDIALIB_TEST_DATABASE_URL" -c "CREATE DATABASE $database"
postgres_url="${MEDIALIB_TEST_DATABASE_URL%/*}/$database"
storage_base="${MEDIALIB_TEST_STORAGE_URL%%\?*}"
storage_query="${MEDIALIB_TEST_STORAGE_URL#"$storage_base"}"
s3_url="${storage_base%/}/bench-copy-$$$storage_query"

measure() {
    local label="$1"
    shift
    echo "== $label"
    /usr/bin/time -f "wall time %e s, peak RSS %M KiB" "$binary" copy "$@"
}
echo "source: 1 asset of $large_bytes bytes and $small assets of 20000 bytes; $(nproc) CPUs"
measure "embedded -> PostgreSQL + S3" --from-data-dir "$work/source" \
    --to-database-url "$postgres_url" --to-storage-url "$s3_url"
measure "PostgreSQL + S3 -> embedded" --from-database-url "$postgres_url" --from-storage-url "$s3_url" \
    --to-data-dir "$work/back"
measure "embedded -> embedded" --from-data-dir "$work/source" --to-data-dir "$work/again"
measure "rerun of the finished embedded copy (verification only)" --from-data-dir "$work/source" \
    --to-data-dir "$work/again"
diff -r "$work/source/files" "$work/back/files" && echo "the files after the round trip are identical"
