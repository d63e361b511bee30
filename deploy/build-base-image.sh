#!/usr/bin/env bash
# Build a local stand-in for node:20-bookworm-slim, for machines that reach no
# container registry (CI here): Debian bookworm from debootstrap, imported into
# podman, plus this machine's own Node 20 binary and npm copied in. The result
# is passed to the Dockerfile as NODE_BASE, so the image under test is built by
# exactly the Dockerfile users build, only from a different base.
#
#   deploy/build-base-image.sh [IMAGE]   (default localhost/plearn-ci/node:20-bookworm)
#
# Needs root, debootstrap and podman. The debootstrap tarball is cached under
# $PLEARN_CI_CACHE (default /var/cache/plearn-ci): the first run downloads about
# 40 MB of packages (1–3 minutes), later runs only import it.
set -euo pipefail

image=${1:-localhost/plearn-ci/node:20-bookworm}
cache=${PLEARN_CI_CACHE:-/var/cache/plearn-ci}
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
debian_image=localhost/plearn-ci/debian:$suite
# crun fails on this kernel's cgroup mode; runc with cgroupfs works everywhere we run.
podman=(podman --runtime runc --cgroup-manager cgroupfs)

die() { echo "build-base-image: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, podman storage)"
command -v debootstrap >/dev/null || die "debootstrap missing: apt-get install debootstrap"
command -v podman >/dev/null || die "podman missing: apt-get install podman runc"

node_bin=$(command -v node) || die "no node on PATH"
node_version=$("$node_bin" --version)
[[ $node_version == v20.* ]] || die "host node is $node_version; the image wants Node 20 (set PATH to a Node 20)"
npm_dir=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)
[ -f "$npm_dir/package.json" ] || die "cannot locate npm's package directory (found $npm_dir)"

mkdir -p "$cache"
tarball=$cache/debian-$suite-minbase.tar
if [ ! -s "$tarball" ]; then
  echo "build-base-image: debootstrap $suite (minbase) from $mirror…" >&2
  work=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  debootstrap --variant=minbase "$suite" "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
  # Package lists and the .deb cache are build debris: the slim images drop them too.
  rm -rf "$work/root/var/lib/apt/lists/"* "$work/root/var/cache/apt/"*.bin "$work/root/var/cache/apt/archives/"*.deb
  tar -C "$work/root" --numeric-owner -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$work"
  trap - EXIT
fi

# Re-import only when the tarball changed, so the layer cache of later builds survives.
stamp=$(stat -c %Y "$tarball")
if [ "$("${podman[@]}" image inspect --format '{{ index .Labels "plearn.ci.tarball" }}' "$debian_image" 2>/dev/null)" != "$stamp" ]; then
  echo "build-base-image: podman import $tarball" >&2
  "${podman[@]}" import --quiet --change "LABEL plearn.ci.tarball=$stamp" --change 'CMD ["/bin/bash"]' "$tarball" "$debian_image" >/dev/null
fi

current=$("${podman[@]}" image inspect --format '{{ index .Labels "plearn.ci.node" }}' "$image" 2>/dev/null || true)
base_id=$("${podman[@]}" image inspect --format '{{ .Id }}' "$debian_image")
if [ "$current" = "$node_version/$base_id" ]; then
  echo "build-base-image: $image is up to date (node $node_version)" >&2
  exit 0
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$node_bin" "$ctx/node"
cp -a "$npm_dir" "$ctx/npm"
cat >"$ctx/Containerfile" <<CONTAINERFILE
FROM $debian_image
# Same layout as the official node images: node in /usr/local/bin, npm beside it.
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && node --version && npm --version
LABEL plearn.ci.node="$node_version/$base_id"
CMD ["node"]
CONTAINERFILE
echo "build-base-image: adding node $node_version → $image" >&2
"${podman[@]}" build --quiet --format docker -t "$image" "$ctx" >/dev/null
echo "build-base-image: $image ready" >&2
