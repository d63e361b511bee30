#!/usr/bin/env bash
# Make the fast CPU addon exist: build it, and where the build lacks its C
# compiler or OpenBLAS, install them first when this machine lets us (root with
# apt-get). `npm run fast-cpu` runs this; so does `npm test`'s set-up, because
# `npm ci` runs the install step (build.mjs, which never fails an install)
# before anything could have installed the packages.
#
# Exit 0: the addon loads, or PLEARN_FAST_CPU=off asked for no fast path.
# Exit 1: it could not be built; the last line says what to run.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ "${PLEARN_FAST_CPU:-}" = off ]; then
  echo "fast CPU path: off (PLEARN_FAST_CPU=off); plearn uses the plain backends and the fast-path tests skip"
  exit 0
fi

build() { node "$here/build.mjs" --strict --quiet; }

if out=$(build 2>&1); then
  echo "fast CPU path: addon ready ($here/build/fastcpu.node)"
  exit 0
fi

missing=()
command -v "${CC:-cc}" >/dev/null 2>&1 || missing+=(gcc libc6-dev)
dpkg-query -W -f='${Status}' libopenblas-dev 2>/dev/null | grep -q 'ok installed' || missing+=(libopenblas-dev)

if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "fast CPU path: installing ${missing[*]} from Debian's packages…" >&2
  # A fresh machine has empty package lists: try without an update first (fast
  # when the lists are there), then update once and retry.
  install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; }
  install || { apt-get update -qq >/dev/null 2>&1 && install; } \
    || echo "fast CPU path: apt-get install ${missing[*]} failed" >&2
  if out=$(build 2>&1); then
    echo "fast CPU path: addon built ($here/build/fastcpu.node)"
    exit 0
  fi
fi

# build.mjs says "plearn: fast CPU path not built (REASON); …": keep REASON.
reason=$(printf '%s\n' "$out" | sed -n 's/.*not built (\(.*\)); the plain.*/\1/p' | tail -1)
[ -n "$reason" ] || reason=$(printf '%s\n' "$out" | tail -1)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "fast CPU path: not built ($reason); install ${missing[*]} (sudo apt-get install ${missing[*]}), then run: npm run fast-cpu — or set PLEARN_FAST_CPU=off to go without it" >&2
else
  echo "fast CPU path: not built ($reason); fix the build, then run: npm run fast-cpu — or set PLEARN_FAST_CPU=off to go without it" >&2
fi
exit 1
