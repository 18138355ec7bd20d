#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for tests: a new cluster in a temporary directory, listening on 127.0.0.1
# on a free port, with the pg_trgm extension available. The cluster is deleted when the server stops.
#
#   scripts/postgres.sh                       # start, print the URL, run until Ctrl-C or SIGTERM
#   scripts/postgres.sh COMMAND [ARG...]      # start, run COMMAND with the URL in its environment, stop
#
#   MEDIALIB_TEST_DATABASE_URL=... cargo test --release --test api    # what COMMAND usually is:
#   scripts/postgres.sh cargo test --release --test api
#
# Other scripts can source this file, which defines the functions and starts nothing. They call `postgres_start`
# (which sets and exports POSTGRES_URL and MEDIALIB_TEST_DATABASE_URL) and later `postgres_stop`.
#
# The URL names the superuser `postgres` and the database `medialib`, with trust authentication, so any client on
# this machine can connect without a password: never use such a cluster for real data. The server binaries come
# from Debian's `postgresql` package, which is installed with apt-get when missing (that needs root). PostgreSQL
# refuses to run as root, so as root the cluster belongs to the `postgres` system user (the package creates it).

POSTGRES_DIR=""
POSTGRES_PID=""
POSTGRES_URL=""

# Prints a message on standard error and returns 1.
postgres_fail() {
    printf 'postgres.sh: %s\n' "$*" >&2
    return 1
}

# Prints the directory of the newest installed PostgreSQL server binaries, or nothing.
postgres_bin_dir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/postgres" ] && [ -x "$dir/initdb" ]; then
            printf '%s\n' "$dir"
            return 0
        fi
    done
}

# Installs Debian's postgresql package when no server binaries are present.
postgres_install() {
    [ -n "$(postgres_bin_dir)" ] && return 0
    command -v apt-get >/dev/null 2>&1 ||
        postgres_fail "no PostgreSQL server under /usr/lib/postgresql and no apt-get to install it" || return 1
    [ "$(id -u)" -eq 0 ] ||
        postgres_fail "PostgreSQL is not installed; install it with: sudo apt-get install postgresql" || return 1
    printf 'postgres.sh: installing the postgresql package\n' >&2
    # The package may create and start its own cluster on port 5432; this script does not use it.
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || postgres_fail "apt-get update failed" || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >&2 ||
        postgres_fail "apt-get install postgresql failed" || return 1
    [ -n "$(postgres_bin_dir)" ] || postgres_fail "the postgresql package installed no server binaries" || return 1
}

# Runs a command as the owner of the cluster: the `postgres` user when this shell is root, else the current user.
postgres_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Prints a TCP port on 127.0.0.1 that nothing listens on right now.
postgres_free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    else
        printf '%s\n' $((20000 + RANDOM % 40000))
    fi
}

# Creates a cluster, starts it and waits until it accepts connections. Sets and exports POSTGRES_URL and
# MEDIALIB_TEST_DATABASE_URL.
postgres_start() {
    postgres_install || return 1
    local bin
    bin="$(postgres_bin_dir)"
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        postgres_fail "running as root needs the 'postgres' user to own the cluster; install the postgresql package" || return 1
    fi

    POSTGRES_DIR="$(mktemp -d "${TMPDIR:-/tmp}/medialib-postgres.XXXXXX")" || return 1
    [ "$(id -u)" -eq 0 ] && chown postgres: "$POSTGRES_DIR"
    postgres_as_owner "$bin/initdb" --pgdata="$POSTGRES_DIR/data" --username=postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 >"$POSTGRES_DIR/initdb.log" 2>&1 ||
        { cat "$POSTGRES_DIR/initdb.log" >&2; postgres_fail "initdb failed"; postgres_stop; return 1; }

    # Durability settings are off: the cluster is deleted at the end, and tests run several times faster.
    local attempt port
    for attempt in 1 2 3 4 5; do
        port="$(postgres_free_port)"
        postgres_as_owner "$bin/postgres" -D "$POSTGRES_DIR/data" -c listen_addresses=127.0.0.1 -c port="$port" \
            -c unix_socket_directories="$POSTGRES_DIR" -c max_connections=300 -c fsync=off \
            -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=256MB \
            >"$POSTGRES_DIR/server.log" 2>&1 &
        POSTGRES_PID=$!
        local waited=0
        until "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; do
            if ! kill -0 "$POSTGRES_PID" 2>/dev/null || [ "$waited" -ge 300 ]; then
                break
            fi
            sleep 0.1
            waited=$((waited + 1))
        done
        if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; then
            break
        fi
        kill "$POSTGRES_PID" 2>/dev/null
        wait "$POSTGRES_PID" 2>/dev/null
        POSTGRES_PID=""
        printf 'postgres.sh: the server did not start on port %s (attempt %s):\n' "$port" "$attempt" >&2
        tail -n 5 "$POSTGRES_DIR/server.log" >&2
    done
    if [ -z "$POSTGRES_PID" ]; then
        postgres_fail "PostgreSQL did not start; its log is above"
        postgres_stop
        return 1
    fi

    "$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -c 'CREATE DATABASE medialib' >&2 ||
        { postgres_fail "CREATE DATABASE medialib failed"; postgres_stop; return 1; }

    POSTGRES_URL="postgres://postgres@127.0.0.1:$port/medialib"
    export POSTGRES_URL
    export MEDIALIB_TEST_DATABASE_URL="$POSTGRES_URL"
    printf 'postgres.sh: PostgreSQL %s listening at %s\n' "$("$bin/postgres" --version | awk '{print $3}')" \
        "$POSTGRES_URL" >&2
}

# Stops the server and deletes its cluster. Safe to call twice.
postgres_stop() {
    if [ -n "$POSTGRES_PID" ] && kill -0 "$POSTGRES_PID" 2>/dev/null; then
        # As root, POSTGRES_PID is runuser's; pg_ctl finds the server itself. Fast shutdown ends the sessions.
        postgres_as_owner "$(postgres_bin_dir)/pg_ctl" stop -D "$POSTGRES_DIR/data" -m fast -w -t 10 \
            >/dev/null 2>&1
        local waited=0
        while kill -0 "$POSTGRES_PID" 2>/dev/null && [ "$waited" -lt 100 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        kill -KILL "$POSTGRES_PID" 2>/dev/null
        wait "$POSTGRES_PID" 2>/dev/null
    fi
    POSTGRES_PID=""
    if [ -n "$POSTGRES_DIR" ] && [ -d "$POSTGRES_DIR" ]; then
        rm -rf -- "$POSTGRES_DIR"
    fi
    POSTGRES_DIR=""
}

# Executed rather than sourced: start, run the command or wait for a signal, stop.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -uo pipefail
    trap postgres_stop EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    postgres_start || exit 1
    if [ "$#" -gt 0 ]; then
        "$@"
        exit $?
    fi
    printf '%s\n' "$POSTGRES_URL"
    printf 'postgres.sh: running until Ctrl-C or SIGTERM\n' >&2
    while kill -0 "$POSTGRES_PID" 2>/dev/null; do
        sleep 1
    done
    postgres_fail "the server stopped by itself"
    exit 1
fi
