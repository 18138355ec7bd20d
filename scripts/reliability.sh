#!/usr/bin/env bash
# Runs the reliability harnesses of docs/reliability.md, in their short form (as CI does) or their long form.
#
#   scripts/reliability.sh                   short form of every part
#   scripts/reliability.sh --long            long form of every part (about an hour and a half on 2 cores)
#   scripts/reliability.sh --long crash      only the named parts: crash, abuse, fuzz, soak
#
# Parts, short form / long form:
#   crash  the SIGKILL harness (tests/api/crash.rs): 10 / 100 kills, on SQLite + files and on PostgreSQL + S3
#   abuse  the protocol abuse tests, the access matrix and the order of the auth checks (tests/api/protocol_abuse.rs,
#          tests/api/access_matrix.rs, tests/api/auth.rs), on both configurations. No long form.
#   fuzz   every fuzz target (scripts/fuzz.sh): 20 s / 10 min each
#   soak   mixed traffic on the embedded default (bench/soak.sh): 1 min / 30 min
#
# scripts/test.sh runs `scripts/reliability.sh soak` as its `reliability` suite; the crash and abuse tests are part
# of the API tests, which its `rust` and `scaleout` suites already run on both configurations, and its `fuzz` suite
# runs every fuzz target for 20 s.
# PostgreSQL and the S3 server come from scripts/postgres.sh and scripts/s3.sh, which install or build them when
# missing. Run as root on Debian when packages are missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ALL_PARTS=(crash abuse fuzz soak)
long=false
parts=()
for argument in "$@"; do
    case "$argument" in
        --long) long=true ;;
        crash | abuse | fuzz | soak) parts+=("$argument") ;;
        -h | --help)
            awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
            exit 0
            ;;
        *)
            printf 'reliability.sh: unknown argument %s; expected --long and parts among: %s\n' \
                "$argument" "${ALL_PARTS[*]}" >&2
            exit 1
            ;;
    esac
done
if [ "${#parts[@]}" -eq 0 ]; then
    parts=("${ALL_PARTS[@]}")
fi

step() { printf '\n==> %s\n' "$*"; }

# Runs the named API tests on SQLite + files, then on PostgreSQL + S3.
api_tests_on_both() {
    step "on SQLite and local files: cargo test --locked --test api -- $*"
    cargo test --locked --test api -- "$@"
    bash scripts/s3.sh --install
    step "on PostgreSQL and S3: cargo test --locked --test api -- $*"
    bash scripts/postgres.sh bash scripts/s3.sh cargo test --locked --test api -- "$@"
}

for part in "${parts[@]}"; do
    case "$part" in
        crash)
            kills=10
            $long && kills=100
            export MEDIALIB_CRASH_KILLS="$kills"
            # --nocapture shows the seed and the progress of every kill.
            api_tests_on_both crash:: --nocapture
            unset MEDIALIB_CRASH_KILLS
            ;;
        abuse)
            api_tests_on_both protocol_abuse:: access_matrix:: auth::
            ;;
        fuzz)
            seconds=20
            $long && seconds=600
            step "scripts/fuzz.sh --seconds $seconds"
            bash scripts/fuzz.sh --seconds "$seconds"
            ;;
        soak)
            duration=60
            $long && duration=1800
            if ! $long && [ -z "${MEDIALIB_BIN_DIR:-}" ]; then
                # The short form runs on the debug build that the tests use, so that CI compiles nothing more.
                cargo build --locked --bins
                export MEDIALIB_BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
            fi
            # One minute is too short for the 10% rule: interval peaks swing with the renders in flight. The short
            # form checks for errors and a gross rise only.
            growth=0.5
            $long && growth=0.10
            step "bench/soak.sh --duration $duration --max-rss-growth $growth"
            bash bench/soak.sh --duration "$duration" --max-rss-growth "$growth"
            ;;
    esac
done
step "reliability.sh: ${parts[*]} passed"
