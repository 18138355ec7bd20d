#!/usr/bin/env bash
# Fuzzes every parser of untrusted input with cargo-fuzz (libFuzzer) for a bounded time, starting from the
# checked-in seed corpora, and exits non-zero when any target crashes, times out or runs out of memory.
#
# Usage:
#   scripts/fuzz.sh                          build every target, then run each for 30 s (CI uses --seconds 20)
#   scripts/fuzz.sh --seconds 600            run each target for 600 s
#   scripts/fuzz.sh --seconds 3600 render    run only the named targets
#   scripts/fuzz.sh --build-only             only build the targets
#
# Targets: multipart probe filename cursor image_params render (fuzz/fuzz_targets, bodies in src/fuzzing.rs).
# New interesting inputs go to fuzz/corpus/<target>/, which is ignored by git and kept between runs, so that longer
# runs build on earlier ones; fuzz/seeds/ is only read. A failing input is saved under fuzz/artifacts/<target>/, and
# libFuzzer's output of the last run under fuzz/logs/<target>.log.
#
# Needs the nightly toolchain (`rustup toolchain install nightly`) and a C++ compiler for libFuzzer. cargo-fuzz is
# installed on the first run into ~/.cache/medialib/tools (or $CARGO_FUZZ_ROOT), outside the checkout, so that
# fresh clones reuse it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ_DIR="$ROOT/fuzz"
ALL_TARGETS=(multipart probe filename cursor image_params render)

CARGO_FUZZ_VERSION="${CARGO_FUZZ_VERSION:-0.13.2}"
CARGO_FUZZ_ROOT="${CARGO_FUZZ_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/medialib/tools}"
CARGO_FUZZ_BIN="$CARGO_FUZZ_ROOT/bin/cargo-fuzz"

# Build settings, chosen to keep a cold build short in CI (fuzz/README.md explains them). There is no
# AddressSanitizer, because the code under test is Rust and the sanitizer slows every input. 16 codegen units, in
# place of cargo-fuzz's default of 1, let the large dependency tree build in parallel.
SANITIZER="${FUZZ_SANITIZER:-none}"
BUILD_FLAGS=(--release --debug-assertions --sanitizer "$SANITIZER" --codegen-units 16)

# libFuzzer limits for every run: a slow input (over 10 s) counts as a failure, as does one that takes the
# process over 2 GiB of resident memory.
TIMEOUT_SECONDS=10
RSS_LIMIT_MB=2048

fuzz_log() { printf 'fuzz.sh: %s\n' "$*" >&2; }

usage() {
    # The comment block at the top of this file, without its comment markers.
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

# Largest input, in bytes, that libFuzzer generates for a target: room for the headers and small files each parser
# reads, small enough that every input runs in milliseconds.
max_len_of() {
    case "$1" in
        multipart | probe) echo 8192 ;;
        render) echo 16384 ;;
        filename | cursor) echo 4096 ;;
        image_params) echo 1024 ;;
        *) return 1 ;;
    esac
}

# Installs the pinned cargo-fuzz unless it is already there.
install_cargo_fuzz() {
    if [[ -x "$CARGO_FUZZ_BIN" ]] && "$CARGO_FUZZ_BIN" --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
        return 0
    fi
    fuzz_log "installing cargo-fuzz $CARGO_FUZZ_VERSION into $CARGO_FUZZ_ROOT (about a minute on the first run)"
    cargo install cargo-fuzz --version "=$CARGO_FUZZ_VERSION" --locked --root "$CARGO_FUZZ_ROOT" --quiet
}

# Checks the toolchain: cargo, the nightly toolchain that cargo-fuzz needs, and a C++ compiler for libFuzzer, which
# is installed with apt-get when missing and the script runs as root.
check_tools() {
    if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
        # sudo resets PATH, which drops a rustup install under the home directory.
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null || {
        fuzz_log "cargo not found; install the Rust toolchain with rustup"
        exit 1
    }
    rustup toolchain list 2>/dev/null | grep -q '^nightly' || {
        fuzz_log "the nightly toolchain is missing; cargo-fuzz needs it. Install it with: rustup toolchain install nightly"
        exit 1
    }
    if ! command -v c++ >/dev/null; then
        if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
            fuzz_log "installing g++ for libFuzzer"
            DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends g++ >&2
        else
            fuzz_log "no C++ compiler found; libFuzzer needs one. Install it with: sudo apt-get install g++"
            exit 1
        fi
    fi
}

# Runs cargo-fuzz with the nightly toolchain from the repository root.
cargo_fuzz() {
    (cd "$ROOT" && cargo +nightly "$@")
}

# Prints the newest failing input of a target and how to reproduce it.
report_failure() {
    local target="$1" artifact
    artifact="$(ls -t "$FUZZ_DIR/artifacts/$target"/{crash,timeout,oom,leak}-* 2>/dev/null | head -n1 || true)"
    if [[ -z "$artifact" ]]; then
        fuzz_log "$target failed without saving an input; its output is above"
        return
    fi
    fuzz_log "$target failed on $artifact"
    fuzz_log "reproduce it with: PATH=\"$CARGO_FUZZ_ROOT/bin:\$PATH\" cargo +nightly fuzz run ${BUILD_FLAGS[*]} $target $artifact"
    fuzz_log "after the fix, copy it to fuzz/regressions/$target/ so that \`cargo test --lib fuzzing\` replays it"
}

main() {
    local seconds="" build_only=false targets=()
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --seconds)
                [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || {
                    fuzz_log "--seconds needs a whole number of seconds per target, such as 600"
                    exit 2
                }
                seconds="$2"
                shift 2
                ;;
            --build-only)
                build_only=true
                shift
                ;;
            -h | --help)
                usage
                exit 0
                ;;
            -*)
                fuzz_log "unknown option $1"
                usage >&2
                exit 2
                ;;
            *)
                max_len_of "$1" >/dev/null || {
                    fuzz_log "unknown target $1; the targets are: ${ALL_TARGETS[*]}"
                    exit 2
                }
                targets+=("$1")
                shift
                ;;
        esac
    done
    [[ ${#targets[@]} -gt 0 ]] || targets=("${ALL_TARGETS[@]}")
    seconds="${seconds:-30}"

    check_tools
    install_cargo_fuzz
    export PATH="$CARGO_FUZZ_ROOT/bin:$PATH"

    fuzz_log "building ${#targets[@]} target(s)"
    local started=$SECONDS
    if [[ ${#targets[@]} -eq ${#ALL_TARGETS[@]} ]]; then
        cargo_fuzz fuzz build "${BUILD_FLAGS[@]}"
    else
        for target in "${targets[@]}"; do
            cargo_fuzz fuzz build "${BUILD_FLAGS[@]}" "$target"
        done
    fi
    fuzz_log "built in $((SECONDS - started)) s"
    $build_only && return 0

    local failed=()
    for target in "${targets[@]}"; do
        local corpus="$FUZZ_DIR/corpus/$target" seeds="$FUZZ_DIR/seeds/$target" log="$FUZZ_DIR/logs/$target.log"
        mkdir -p "$corpus" "$FUZZ_DIR/artifacts/$target" "$FUZZ_DIR/logs"
        fuzz_log "running $target for $seconds s (libFuzzer's output: $log)"
        if cargo_fuzz fuzz run "${BUILD_FLAGS[@]}" "$target" "$corpus" "$seeds" -- \
            -max_total_time="$seconds" -max_len="$(max_len_of "$target")" -timeout="$TIMEOUT_SECONDS" \
            -rss_limit_mb="$RSS_LIMIT_MB" -print_final_stats=1 >"$log" 2>&1; then
            grep -E '^(Done|stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb))' "$log" >&2 || true
        else
            tail -n 60 "$log" >&2
            report_failure "$target"
            failed+=("$target")
        fi
    done

    if [[ ${#failed[@]} -gt 0 ]]; then
        fuzz_log "FAILED: ${failed[*]}"
        exit 1
    fi
    fuzz_log "no crash, timeout or out-of-memory input in ${targets[*]}"
}

main "$@"
