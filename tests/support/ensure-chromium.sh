#!/usr/bin/env bash
# Debian's chromium for the sweep report's browser test (tests/sweep-report.test.ts,
# driven by playwright-core, which brings no browser of its own). Prints the
# binary's path. As root it installs the package with apt; otherwise, or when apt
# fails, exit 1 with one line on stderr saying how.
#
#   bash tests/support/ensure-chromium.sh        # → /usr/bin/chromium
set -uo pipefail
bin=${PLEARN_CHROMIUM:-/usr/bin/chromium}
fail() { echo "chromium: $1" >&2; exit 1; }

if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
command -v apt-get >/dev/null 2>&1 || fail "needs Debian's apt-get, or set PLEARN_CHROMIUM to a chromium binary"
[ "$(id -u)" = 0 ] || fail "not installed: sudo apt-get install chromium"
echo "chromium: installing Debian's chromium package…" >&2
install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; }
# A fresh image has no package lists yet: update only when the first try fails.
install || { apt-get update -qq >/dev/null 2>&1 && install; } || fail "apt-get install chromium failed (no network to the Debian mirror?)"
[ -x "$bin" ] || fail "the chromium package is installed but $bin is missing"
echo "$bin"
