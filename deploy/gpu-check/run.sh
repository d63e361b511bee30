#!/usr/bin/env bash
# The GPU check (docs/gpu.md), run on the bare GPU machine from the repository
# root, with the archive pack.sh made (carried there as deploy/gpu-check/out):
#   1. unpacks Node, the pruned project and the Vulkan loader into a temp folder;
#   2. links in the loader libraries the machine lacks, finds NVIDIA's Vulkan
#      driver manifest (or writes one for libGLX_nvidia.so.0) and prints the
#      WebGPU adapter;
#   3. runs the gpu bench rows on webgpu and, in the same run, the same steps in
#      JAX on the GPU: the ratio table plearn ÷ JAX;
#   4. spends what is left of the time on the paper preset (MountainCar), and
#      says how far it got.
# Everything lands in $OUT (the device tool's output folder; default
# ./gpu-check-out): summary.txt, setup.log, bench.json, bench-rows.jsonl,
# bench.log, paper.json, paper.log. It finishes within GPU_CHECK_BUDGET_S
# (default 290 s), every part under `timeout`, so that it can be rerun.
#
# Knobs (environment), for a rerun or for trying it without a GPU:
#   GPU_CHECK_ARCHIVE       the archive (default deploy/gpu-check/out/plearn-gpu.tar.xz)
#   GPU_CHECK_BUDGET_S      whole run (290); GPU_CHECK_BENCH_S bench part (90)
#   GPU_CHECK_ROWS          bench rows (all); GPU_CHECK_REPS (5)
#   GPU_CHECK_JAX_DEVICE    gpu (default) | cpu | off
#   GPU_CHECK_PAPER_ARGS    extra arguments for the paper run (e.g. a shrunk one)
#   GPU_CHECK_ALLOW_SOFTWARE=1  go on with a software adapter (lavapipe): a test of the script, not of a GPU
#   GPU_CHECK_PACKED_LOADER=1   link in every packed loader library, even those the machine has
#   VK_DRIVER_FILES         use this Vulkan driver manifest instead of looking for NVIDIA's
set -uo pipefail
start=$(date +%s)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
archive=${GPU_CHECK_ARCHIVE:-$root/deploy/gpu-check/out/plearn-gpu.tar.xz}
out=${OUT:-$PWD/gpu-check-out}
budget=${GPU_CHECK_BUDGET_S:-290}
bench_s=${GPU_CHECK_BENCH_S:-90}
rows=${GPU_CHECK_ROWS:-pqn 3x256,pqn 4x1024,pqn 6x2048,fit 512,fit 4096}
jax_device=${GPU_CHECK_JAX_DEVICE:-gpu}
mkdir -p "$out"
setup="$out/setup.log"
: >"$setup"

# ldconfig is in /sbin, which a plain user's PATH may lack.
ldcache() { { command -v ldconfig >/dev/null && ldconfig -p; } 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; }
elapsed() { echo $(($(date +%s) - start)); }
left() { echo $((budget - $(elapsed))); }
say() { echo "[gpu-check +$(elapsed)s] $*" | tee -a "$setup" >&2; }
finish() { # status line, exit code
  say "$1"
  if [ -x "${app_node:-}" ] && [ -f "$app/deploy/gpu-check/report.ts" ]; then
    (cd "$app" && timeout 20 "$app_node" --import tsx deploy/gpu-check/report.ts "$out" "$pk/MANIFEST.json") >"$out/summary.txt" 2>>"$setup"
  fi
  echo "$1" >>"$out/summary.txt"
  cat "$out/summary.txt"
  exit "$2"
}

# ---- 1. unpack -------------------------------------------------------------------
[ -f "$archive" ] || { echo "gpu-check: no archive at $archive: run bash deploy/gpu-check/pack.sh here first and carry deploy/gpu-check/out" | tee "$out/summary.txt"; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/plearn-gpu.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
timeout 30 tar -xJf "$archive" -C "$tmp" || finish "unpacking $archive failed or took over 30 s" 1
pk="$tmp/plearn"
app="$pk/app"
app_node="$pk/node/bin/node"
say "unpacked $(du -sh "$pk" | cut -f1) into $tmp: $(cat "$pk/MANIFEST.json")"
here=$(cd "$root" && git rev-parse --short HEAD 2>/dev/null)
packed=$(sed -n 's/.*"commit":"\([^"]*\)".*/\1/p' "$pk/MANIFEST.json")
[ -z "$here" ] || [ "$here" = "$packed" ] || say "note: the archive was packed at commit $packed, this tree is at $here: the packed sources run"
"$app_node" --version >>"$setup" 2>&1 || finish "the packed node does not run here" 1

# ---- 2. Vulkan: loader, NVIDIA's driver, the adapter ---------------------------------------
# Only the libraries this machine lacks: its own builds of the others stay in charge.
mkdir -p "$tmp/lib"
# Read once into a file: `ldconfig -p | grep -q` under pipefail fails whenever grep stops reading early.
ldcache >"$tmp/ldcache"
for lib in "$pk"/vulkan/lib/*.so.[0-9]; do
  name=$(basename "$lib")
  if [ "${GPU_CHECK_PACKED_LOADER:-0}" = 1 ] || ! grep -q "^[[:space:]]*$name " "$tmp/ldcache"; then ln -s "$lib" "$tmp/lib/$name"; fi
done
say "loader libraries linked in from the archive: $(ls "$tmp/lib" | tr '\n' ' ')"
nv_libs=""
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do [ -d "$d" ] && nv_libs="$nv_libs:$d"; done
export LD_LIBRARY_PATH="$tmp/lib$nv_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export XDG_RUNTIME_DIR="$tmp/xdg"
mkdir -p -m 0700 "$XDG_RUNTIME_DIR"
egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -f "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES="$egl"
command -v nvidia-smi >/dev/null && nvidia-smi -L >>"$setup" 2>&1

find_lib() { # soname → a path, from the linker cache or the usual driver folders
  awk -v n="$1" '$1 == n { print $NF; exit }' "$tmp/ldcache" | grep . && return
  for d in /usr/local/nvidia/lib64 /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib; do [ -e "$d/$1" ] && { echo "$d/$1"; return; }; done
  return 1
}
write_icd() { # library → a manifest for it
  printf '{\n  "file_format_version": "1.0.0",\n  "ICD": { "library_path": "%s", "api_version": "1.3.0" }\n}\n' "$1" >"$tmp/nvidia_icd_$2.json"
  echo "$tmp/nvidia_icd_$2.json"
}
manifests=()
if [ -n "${VK_DRIVER_FILES:-}" ]; then
  manifests=("$VK_DRIVER_FILES")
else
  for d in /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
    [ -f "$d/nvidia_icd.json" ] && manifests+=("$d/nvidia_icd.json")
  done
  # None installed (a CUDA image without NVIDIA's graphics parts listed): the driver is in these libraries.
  for lib in libGLX_nvidia.so.0 libEGL_nvidia.so.0; do
    p=$(find_lib "$lib") && manifests+=("$(write_icd "$p" "${lib%%.*}")")
  done
fi
[ "${#manifests[@]}" -gt 0 ] || finish "no Vulkan driver: no nvidia_icd.json and no libGLX_nvidia.so.0 / libEGL_nvidia.so.0 (does the runtime mount NVIDIA's graphics capability?)" 1
probe=(deploy/gpu-check/adapter.ts)
[ "${GPU_CHECK_ALLOW_SOFTWARE:-0}" = 1 ] || probe+=(--hardware)
adapter=""
for m in "${manifests[@]}"; do
  lib=$(sed -n 's/.*"library_path"[^"]*"\([^"]*\)".*/\1/p' "$m")
  say "trying Vulkan driver manifest $m ($lib)"
  [ -n "$lib" ] && [ -e "$lib" ] && ldd "$lib" 2>/dev/null | grep 'not found' >>"$setup"
  if adapter=$(cd "$app" && VK_DRIVER_FILES="$m" timeout 30 "$app_node" --import tsx "${probe[@]}" 2>>"$setup"); then
    export VK_DRIVER_FILES="$m"
    break
  fi
  adapter=""
done
[ -n "$adapter" ] || finish "no usable WebGPU adapter (see setup.log)" 1
say "adapter: $adapter"

# ---- 3. the bench: plearn on webgpu, JAX on the GPU, interleaved -------------------------------
t=$((bench_s < $(left) - 20 ? bench_s : $(left) - 20))
say "bench: rows '$rows', JAX on $jax_device, up to ${t}s"
(cd "$app" && timeout -k 5 "$t" "$app_node" --import tsx bench/index.ts gpu --backend webgpu --json --rows "$rows" \
  --reps "${GPU_CHECK_REPS:-5}" --jax-device "$jax_device" --rows-out "$out/bench-rows.jsonl") >"$out/bench.json.part" 2>"$out/bench.log"
rc=$?
if [ "$rc" = 0 ]; then mv "$out/bench.json.part" "$out/bench.json"; else rm -f "$out/bench.json.part"; say "bench: exit $rc (124: out of time; rows finished are in bench-rows.jsonl)"; fi

# ---- 4. the paper preset, as far as the time allows ---------------------------------------------
t=$(($(left) - 25))
if [ "$t" -gt 20 ]; then
  say "paper preset, MountainCar, on webgpu: up to ${t}s"
  # shellcheck disable=SC2086 # GPU_CHECK_PAPER_ARGS is a list of arguments
  (cd "$app" && timeout -k 10 "$t" "$app_node" --import tsx deploy/gpu-check/paper-run.ts mountaincar --preset paper \
    --backend webgpu --seeds 1 --progress-every 10 ${GPU_CHECK_PAPER_ARGS:-}) >"$out/paper.json.part" 2>"$out/paper.log"
  rc=$?
  if [ "$rc" = 0 ]; then mv "$out/paper.json.part" "$out/paper.json"; else rm -f "$out/paper.json.part"; say "paper preset: exit $rc (124: stopped by the time limit)"; fi
else
  say "paper preset: no time left"
fi
finish "gpu-check: done in $(elapsed)s (budget ${budget}s); output in $out" 0
