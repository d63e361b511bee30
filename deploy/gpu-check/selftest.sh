#!/usr/bin/env bash
# run.sh without a GPU: proves the archive is self-contained before it travels.
# Runs run.sh as the GPU machine would, but on a software Vulkan (lavapipe),
# with JAX on the CPU, a PATH that holds no node or npm, a clean environment,
# and (where strace exists) a trace showing that nothing was read from this
# checkout's node_modules nor the system's node executed. Rows and the paper
# run are shrunk: lavapipe takes seconds where a GPU takes milliseconds.
#
#   bash deploy/gpu-check/selftest.sh     # after pack.sh; exit 0 when all holds
#
# GPU_CHECK_* variables pass through (e.g. GPU_CHECK_ROWS="pqn 3x256");
# SELFTEST_KEEP=DIR keeps run.sh's output folder there.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
icd=$(bash "$root/tests/support/ensure-lavapipe.sh") || exit 1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/plearn-gpu-selftest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "selftest: FAILED: $*" >&2; exit 1; }

# The commands run.sh and its children use, and nothing else: no node, no npm.
mkdir -p "$tmp/bin"
for c in bash sh env date dirname basename mkdir mktemp rm mv ln ls cat tee cut sed awk grep tr du tar xz timeout ldd git python3 uname id sleep; do
  p=$(command -v "$c") && ln -s "$p" "$tmp/bin/$c"
done
[ -x /sbin/ldconfig ] && ln -s /sbin/ldconfig "$tmp/bin/ldconfig"
PATH="$tmp/bin" command -v node >/dev/null && fail "node is still reachable on the stripped PATH"

shrunk="--env-steps 2048 --num-envs 16 --q-hidden 32,32 --grid 21 --fit-steps 20 --fit-batch 128 --eval-states 500 --rollouts 16 --threads 2"
# GPU_CHECK_PACKED_LOADER: the packed Vulkan loader, not this machine's, as on a bare GPU machine.
envs=(PATH="$tmp/bin" HOME="$HOME" TMPDIR="$tmp" OUT="$tmp/out" VK_DRIVER_FILES="$icd" GPU_CHECK_ALLOW_SOFTWARE=1 GPU_CHECK_PACKED_LOADER=1
  GPU_CHECK_JAX_DEVICE="${GPU_CHECK_JAX_DEVICE:-cpu}" GPU_CHECK_ROWS="${GPU_CHECK_ROWS:-pqn 3x256,fit 512}"
  GPU_CHECK_REPS="${GPU_CHECK_REPS:-2}" GPU_CHECK_BENCH_S="${GPU_CHECK_BENCH_S:-150}" GPU_CHECK_BUDGET_S="${GPU_CHECK_BUDGET_S:-290}"
  GPU_CHECK_PAPER_ARGS="${GPU_CHECK_PAPER_ARGS-$shrunk}")
[ -n "${GPU_CHECK_ARCHIVE:-}" ] && envs+=(GPU_CHECK_ARCHIVE="$GPU_CHECK_ARCHIVE")
run=(env -i "${envs[@]}" bash "$root/deploy/gpu-check/run.sh")
if command -v strace >/dev/null; then
  strace -f -qq -s 4096 -o "$tmp/trace" -e trace=%file "${run[@]}"
else
  "${run[@]}"
fi
rc=$?
[ -n "${SELFTEST_KEEP:-}" ] && { mkdir -p "$SELFTEST_KEEP" && cp -r "$tmp/out/." "$SELFTEST_KEEP/"; }
echo "--- selftest checks" >&2
[ "$rc" = 0 ] || fail "run.sh exited $rc"
[ -s "$tmp/out/bench.json" ] || fail "no bench.json"
grep -q '"ratio":[0-9]' "$tmp/out/bench.json" || [ "${GPU_CHECK_JAX_DEVICE:-cpu}" = off ] || fail "no row has a ratio (did the JAX side run?)"
[ -s "$tmp/out/paper.json" ] || grep -q '"progress"' "$tmp/out/paper.log" || fail "the paper run left no result and no progress"
if [ -f "$tmp/trace" ]; then
  grep -F "\"$root/node_modules/" "$tmp/trace" | grep -v ENOENT | head -3 | grep . && fail "read files of this checkout's node_modules"
  grep -E 'execve\("[^"]*/(node|npm|npx)"' "$tmp/trace" | grep -v "$tmp/" | grep -v ENOENT | head -3 | grep . && fail "executed a node that is not the packed one"
  grep -E "\"$tmp/[^\"]*/vulkan/lib/libvulkan\.so\.1\"" "$tmp/trace" | grep -v ENOENT | grep -q . \
    || fail "the packed Vulkan loader was not the one loaded"
  echo "selftest: trace: no file of $root/node_modules read, no system node executed, the packed Vulkan loader loaded" >&2
fi
echo "selftest: passed" >&2
