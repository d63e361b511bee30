#!/usr/bin/env bash
# A software Vulkan driver that Dawn accepts, for the webgpu backend's tests on
# machines without a GPU: Mesa's lavapipe from Debian bookworm-backports (25.x;
# bookworm's own 22.3 lacks features Dawn requires). Fetched with a private apt
# sources list, lists and cache under the target folder — the system's apt
# sources are never touched — unpacked there (not installed), with a driver
# manifest (ICD json) that points at it. Prints the manifest's path.
#
#   bash tests/support/ensure-lavapipe.sh        # → ~/.cache/plearn/lavapipe/lvp_icd.json
#
# The Vulkan loader itself (libvulkan1) and the driver's shared libraries come
# from Debian's regular packages (apt-get install, as root). Exit 1 with one
# line on stderr saying how when that cannot be done.
set -uo pipefail
dir=${PLEARN_LAVAPIPE_DIR:-$HOME/.cache/plearn/lavapipe}
icd="$dir/lvp_icd.json"
lib="$dir/root/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so"
fail() { echo "lavapipe: $1" >&2; exit 1; }

if [ -f "$icd" ] && [ -f "$lib" ] && ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then
  echo "$icd"; exit 0
fi
[ "$(uname -m)" = x86_64 ] || fail "only x86_64 is prepared here; set VK_DRIVER_FILES to a Vulkan driver manifest instead"
command -v apt-get >/dev/null 2>&1 || fail "needs Debian's apt-get; set VK_DRIVER_FILES to a Vulkan driver manifest instead"

# The loader and the libraries lavapipe links against, from bookworm's own packages.
deps=(libvulkan1 libllvm15 libdrm2 libdrm-amdgpu1 libelf1 libexpat1 libwayland-client0 libx11-xcb1 libxcb-dri3-0
  libxcb-present0 libxcb-randr0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxcb1 libxshmfence1 libzstd1 zlib1g)
missing=()
for p in "${deps[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || fail "needs ${missing[*]}: sudo apt-get install ${missing[*]}"
  echo "lavapipe: installing ${missing[*]} from Debian's packages…" >&2
  install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; }
  install || { apt-get update -qq >/dev/null 2>&1 && install; } || fail "apt-get install ${missing[*]} failed"
fi

if [ ! -f "$lib" ]; then
  . /etc/os-release 2>/dev/null
  [ "${VERSION_CODENAME:-}" = bookworm ] || fail "prepared for Debian bookworm, this is ${PRETTY_NAME:-unknown}; set VK_DRIVER_FILES to a Vulkan driver manifest"
  apt_dir="$dir/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$dir/debs"
  printf 'deb http://deb.debian.org/debian bookworm-backports main\n' >"$apt_dir/sources.list"
  opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$apt_dir/lists"
    -o "Dir::Cache=$apt_dir/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  echo "lavapipe: fetching mesa-vulkan-drivers from bookworm-backports into $dir…" >&2
  apt-get "${opts[@]}" update -qq >/dev/null 2>&1 || fail "apt-get update of bookworm-backports failed (no network to deb.debian.org?)"
  (cd "$dir/debs" && apt-get "${opts[@]}" download mesa-vulkan-drivers/bookworm-backports >/dev/null 2>&1) \
    || fail "apt-get download mesa-vulkan-drivers/bookworm-backports failed"
  rm -rf "$dir/root"
  dpkg-deb -x "$dir"/debs/mesa-vulkan-drivers_*.deb "$dir/root" || fail "dpkg-deb -x failed"
  rm -rf "$dir/debs" "$apt_dir"
  [ -f "$lib" ] || fail "the package holds no libvulkan_lvp.so"
fi
if ldd "$lib" | grep -q 'not found'; then
  fail "libvulkan_lvp.so lacks $(ldd "$lib" | awk '/not found/ {print $1}' | tr '\n' ' ')"
fi
printf '{\n  "file_format_version": "1.0.0",\n  "ICD": { "library_path": "%s", "api_version": "1.3.0" }\n}\n' "$lib" >"$icd.tmp" && mv "$icd.tmp" "$icd"
echo "$icd"
