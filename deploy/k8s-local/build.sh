#!/usr/bin/env bash
# Build the Kubernetes binaries a one-node test cluster needs, from the Go module
# proxy (no other network), into a cache outside the repository that later runs
# reuse: kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
# kube-proxy, kubectl, and CoreDNS. About 10 minutes cold on 2 cores, ~6.5 GB of
# Go caches; seconds when the cache has them.
#
#   deploy/k8s-local/build.sh            # prints the bin directory on its last line
#
# K8S_VERSION (v1.34.0: 1.35 refuses cgroup v1 by default), COREDNS_VERSION,
# PLEARN_K8S_CACHE (default ~/.cache/plearn-k8s).
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.0}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.12.4}"
CACHE="${PLEARN_K8S_CACHE:-$HOME/.cache/plearn-k8s}"
BIN="$CACHE/bin-$K8S_VERSION"
TOOLS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

have_all() {
  for t in "${TOOLS[@]}" coredns; do [ -x "$BIN/$t" ] || return 1; done
}
if have_all; then echo "$BIN"; exit 0; fi
command -v go >/dev/null || { echo "k8s-local: needs Go (golang.org/dl or the distribution's golang package)" >&2; exit 2; }
mkdir -p "$BIN"

# The kubernetes module as the proxy serves it; its staging modules pinned to the
# matching published versions instead of the repository-relative replaces.
src="$CACHE/src-$K8S_VERSION"
if [ ! -f "$src/.ready" ]; then
  echo "k8s-local: fetching k8s.io/kubernetes@$K8S_VERSION from the Go module proxy" >&2
  dir=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || { echo "k8s-local: go mod download gave no directory" >&2; exit 1; }
  rm -rf "$src"
  cp -r "$dir" "$src"
  chmod -R u+w "$src"
  rm -rf "$src/vendor" "$src/go.work" "$src/go.work.sum"
  staging_version="v0${K8S_VERSION#v1}"
  ( cd "$src"
    for m in $(sed -n 's/^[[:space:]]*\(k8s.io\/[^ ]*\) => \.\/staging.*/\1/p' go.mod); do
      go mod edit "-dropreplace=$m" "-require=$m@$staging_version"
    done )
  touch "$src/.ready"
fi

echo "k8s-local: building ${TOOLS[*]} (several minutes cold)" >&2
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
ldflags="$ldflags -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${K8S_VERSION#v1.}"
( cd "$src"
  for t in "${TOOLS[@]}"; do
    [ -x "$BIN/$t" ] && continue
    GOFLAGS=-mod=mod CGO_ENABLED=0 go build -ldflags "$ldflags" -o "$BIN/$t" "./cmd/$t"
  done )
[ -x "$BIN/coredns" ] || GOFLAGS=-mod=mod CGO_ENABLED=0 GOBIN="$BIN" go install "github.com/coredns/coredns@$COREDNS_VERSION"
have_all || { echo "k8s-local: build incomplete in $BIN" >&2; exit 1; }
echo "$BIN"
