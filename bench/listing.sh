#!/usr/bin/env bash
# Listing and search benchmark: seeds one repository with generated assets (default 1,000,000), then measures p50 and
# p99 of GET /assets plain, with keyword, with tags and deep in a cursor walk, with `medialib-bench latency`.
#
# Usage: bench/listing.sh [--quick] [--count N] [--requests N] [--reseed] [--postgres] [--no-index]
#   --quick      100,000 assets, 200 requests per scenario, deep page after 10,000 items
#   --count      assets to seed (default 1000000)
#   --requests   measured requests per scenario (default 1000)
#   --groups     scenario groups of `medialib-bench latency`, comma-separated (default: all)
#   --reseed     seed again even if $BENCH_DIR/listing-N already exists
#   --postgres   serve from a throwaway PostgreSQL server (scripts/postgres.sh) instead of SQLite: the seeded SQLite
#                tables are loaded into it with COPY, then `serve` runs with --database-url
#   --no-index   serve with --listing-index false, so that keyword and tag filters run in the database
# Leaves the seeded data directory ($BENCH_DIR/listing-N for N assets) in place for later runs, and points
# $BENCH_DIR/listing-current at it for bench/rps.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

count=1000000
requests=1000
deep_items=100000
reseed=false
groups=plain,keyword,short-keyword,tags,deep
postgres=false
index=true
while (($#)); do
    case "$1" in
        --quick) count=100000 requests=200 deep_items=10000 ;;
        --count) count="$2" && shift ;;
        --requests) requests="$2" && shift ;;
        --groups) groups="$2" && shift ;;
        --reseed) reseed=true ;;
        --postgres) postgres=true ;;
        --no-index) index=false ;;
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

# Copies the seeded rows from SQLite into the PostgreSQL database at $POSTGRES_URL, with COPY. Triggers are off during
# the load: updating one counter row a million times in one transaction takes quadratic time, because no row version
# can be pruned before the transaction ends. The counters are computed once at the end instead.
load_into_postgres() {
    local sqlite="$data_dir/medialib.sqlite" table columns options
    "$MEDIALIB" migrate --database-url "$POSTGRES_URL" >&2
    local asset_columns="id, repository_id, filename, uploaded_filename, extension, size, kind, content_type, width,
        height, notes, credits, alt, uploader_id, content_hash, storage_key, created_at, last_modified, search_filename,
        search_notes, search_credits, search_alt"
    for table in repositories tags assets asset_tags; do
        # Seeded text has no empty strings, so an empty CSV field is NULL, except in the search keys, which are
        # never NULL.
        options="FORMAT csv"
        case "$table" in
            repositories) columns="id, name, created_at" ;;
            tags) columns="id, repository_id, name, created_at, last_modified" ;;
            assets)
                columns="$asset_columns"
                options+=", FORCE_NOT_NULL (search_notes, search_credits, search_alt)"
                ;;
            asset_tags) columns="asset_id, tag_id" ;;
        esac
        # psql reads a backslash command up to the end of its line.
        columns="$(echo $columns)"
        log "copying the table $table into PostgreSQL"
        sqlite3 -csv "$sqlite" "SELECT $columns FROM $table" |
            psql -q -v ON_ERROR_STOP=1 "$POSTGRES_URL" -c "SET session_replication_role = replica" \
                -c "\\copy $table ($columns) FROM STDIN WITH ($options)"
    done
    psql -q -v ON_ERROR_STOP=1 "$POSTGRES_URL" \
        -c "INSERT INTO asset_counts (repository_id, kind, count)
            SELECT repository_id, kind, count(*) FROM assets GROUP BY repository_id, kind" \
        -c "UPDATE tags SET asset_count = counted.count
            FROM (SELECT tag_id, count(*) AS count FROM asset_tags GROUP BY tag_id) AS counted
            WHERE tags.id = counted.tag_id" \
        -c "SELECT setval(pg_get_serial_sequence('repositories', 'id'), (SELECT max(id) FROM repositories))" \
        -c "VACUUM ANALYZE" >/dev/null
    log "PostgreSQL database size: $(psql -At "$POSTGRES_URL" -c "SELECT pg_size_pretty(pg_database_size('medialib'))")"
}

serve_args=(--rate-limit 0 --listing-index "$index")
token_args=()
if $postgres; then
    command -v sqlite3 >/dev/null || die "sqlite3 is missing; install it with apt-get install -y sqlite3"
    source "$BENCH_ROOT/scripts/postgres.sh"
    postgres_start || die "could not start PostgreSQL"
    # postgres_stop expects a shell without `set -e`: some of its commands fail when there is nothing to stop.
    trap 'set +e; stop_medialib; postgres_stop' EXIT
    PATH="$(postgres_bin_dir):$PATH"
    load_into_postgres
    serve_args+=(--database-url "$POSTGRES_URL")
    token_args+=(--database-url "$POSTGRES_URL")
else
    trap stop_medialib EXIT
fi

start_medialib "$data_dir" "${serve_args[@]}"
token="$(new_token "$data_dir" "${token_args[@]}")"

# Keyword and tag filters are served from the in-memory listing index, which the server loads in the background
# after it starts. Until then they run in the database, so the measurement waits for the load to finish.
if $index; then
    log "waiting for the listing index to load"
    for _ in $(seq 1 600); do
        grep -q "loaded the listing index" "$data_dir/serve.log" && break
        sleep 1
    done
    grep "loaded the listing index" "$data_dir/serve.log" >&2 || die "the listing index did not load in 600 s"
fi
log "server RSS: $(awk '/VmRSS/ {print $2, $3}' "/proc/$SERVER_PID/status")"

wait_for_quiet
"$MEDIALIB_BENCH" latency --address "$SERVER_ADDR" --token "$token" --requests "$requests" \
    --deep-items "$deep_items" --groups "$groups" --json "$BENCH_DIR/latency.json"
log "load average after the measurement: $(load1)"
