#!/usr/bin/env bash
# Runs the end-to-end tests of the media library page: Playwright (playwright-core, pinned in package-lock.json)
# drives Debian's Chromium against a real `medialib serve`.
#
#   sudo tests/web/run.sh                      # every test file
#   sudo tests/web/run.sh read-only.test.mjs   # only the named files (relative to tests/web)
#
# Missing tools are installed first: chromium and fonts, nodejs and npm with apt-get (which needs root), the npm
# packages with `npm ci`. When nothing is missing, any user can run it.
#
# Environment:
#   TEST_MEDIALIB_BINARY  the server binary (default: target/release/medialib, built with `cargo build --release`)
#   TEST_CHROMIUM         the Chromium binary (default: /usr/bin/chromium)
#
# The main run saves docs/screenshots/grid.png, detail.png and phone.png, the screenshots of the README.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/web"
CHROMIUM="${TEST_CHROMIUM:-/usr/bin/chromium}"

fail() {
    printf 'tests/web/run.sh: %s\n' "$*" >&2
    exit 1
}

# The server reads every option from a MEDIALIB_* variable too, so a developer's own settings must not leak in.
while IFS= read -r name; do
    unset "$name"
done < <(compgen -e | grep '^MEDIALIB_' || true)

# --- System packages -----------------------------------------------------------------------------------------

MISSING_PACKAGES=()
if [ ! -x "$CHROMIUM" ]; then
    [ -z "${TEST_CHROMIUM:-}" ] || fail "TEST_CHROMIUM=$CHROMIUM is not an executable file"
    # Without recommended packages Chromium may come without fonts, and the screenshots would show empty boxes.
    MISSING_PACKAGES+=(chromium fonts-dejavu-core)
fi
command -v node >/dev/null 2>&1 || MISSING_PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || MISSING_PACKAGES+=(npm)

if [ "${#MISSING_PACKAGES[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 ||
        fail "missing ${MISSING_PACKAGES[*]} and no apt-get to install them; install them and run this script again"
    [ "$(id -u)" -eq 0 ] || fail "installing ${MISSING_PACKAGES[*]} needs root; run: sudo $0 $*"
    echo "Installing ${MISSING_PACKAGES[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q || fail "apt-get update failed"
    apt-get install -y -q --no-install-recommends "${MISSING_PACKAGES[@]}" ||
        fail "apt-get install ${MISSING_PACKAGES[*]} failed"
fi

NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
[ "$NODE_MAJOR" -ge 20 ] ||
    fail "playwright-core needs Node.js 20 or newer, found $(node --version); Debian 12's nodejs package is 18, so install Node.js 20 from nodesource or another source"

# --- Server binary and npm packages --------------------------------------------------------------------------

if [ -n "${TEST_MEDIALIB_BINARY:-}" ]; then
    [ -x "$TEST_MEDIALIB_BINARY" ] || fail "TEST_MEDIALIB_BINARY=$TEST_MEDIALIB_BINARY is not an executable file"
    # The tests run from tests/web, so a relative path must be made absolute first.
    TEST_MEDIALIB_BINARY="$(realpath "$TEST_MEDIALIB_BINARY")"
    export TEST_MEDIALIB_BINARY
else
    # The page is compiled into the binary, so it is rebuilt whenever web/ changed; cargo does nothing otherwise.
    (cd "$ROOT" && cargo build --release --locked) || fail "cargo build --release --locked failed"
    export TEST_MEDIALIB_BINARY="${CARGO_TARGET_DIR:-$ROOT/target}/release/medialib"
fi

(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) ||
    fail "npm ci in tests/web failed (package-lock.json pins playwright-core)"

# --- Tests ---------------------------------------------------------------------------------------------------

export TEST_CHROMIUM="$CHROMIUM"
cd "$HERE"
if [ "$#" -gt 0 ]; then
    exec node --test "$@"
fi
exec npm test
