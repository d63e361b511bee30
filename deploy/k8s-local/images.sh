#!/usr/bin/env bash
# Images for the local cluster, moved from podman into its containerd (no registry):
#   images.sh pause          the sandbox image, a tiny static program, as registry.k8s.io/pause:3.10
#   images.sh nats           nats-server from this machine in the local Debian base, as localhost/plearn-ci/nats:2.9
#   images.sh import IMAGE…  any podman image (e.g. localhost/plearn:ci-cpu)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
STATE="${PLEARN_K8S_STATE:-/tmp/plearn-k8s}"
PODMAN=(podman --runtime runc --cgroup-manager cgroupfs)
ctr_import() { "${PODMAN[@]}" save --format docker-archive "$1" | ctr -a "$STATE/containerd.sock" -n k8s.io images import - >/dev/null; }

case "${1:-}" in
  pause)
    if ! "${PODMAN[@]}" image exists registry.k8s.io/pause:3.10; then
      work="$(mktemp -d)"
      cat > "$work/pause.go" <<'GO'
// The pod sandbox's process: hold the namespaces until told to stop.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	<-c
}
GO
      (cd "$work" && CGO_ENABLED=0 GOFLAGS= GO111MODULE=off go build -ldflags '-s -w' -o pause pause.go)
      printf 'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n' > "$work/Containerfile"
      "${PODMAN[@]}" build -q -t registry.k8s.io/pause:3.10 "$work" >/dev/null
      rm -rf "$work"
    fi
    ctr_import registry.k8s.io/pause:3.10 ;;
  nats)
    base=localhost/plearn-ci/debian:bookworm
    "${PODMAN[@]}" image exists "$base" || { echo "k8s-local: $base missing (deploy/build-base-image.sh builds the Debian base)" >&2; exit 2; }
    if ! "${PODMAN[@]}" image exists localhost/plearn-ci/nats:2.9; then
      work="$(mktemp -d)"
      cp "$(command -v nats-server)" "$work/nats-server"
      printf 'FROM %s\nCOPY nats-server /usr/local/bin/nats-server\nUSER 65534\nENTRYPOINT ["/usr/local/bin/nats-server"]\n' "$base" > "$work/Containerfile"
      "${PODMAN[@]}" build -q -t localhost/plearn-ci/nats:2.9 "$work" >/dev/null
      rm -rf "$work"
    fi
    ctr_import localhost/plearn-ci/nats:2.9 ;;
  import)
    shift
    for image in "$@"; do ctr_import "$image"; done ;;
  *) echo "usage: images.sh pause | nats | import IMAGE…" >&2; exit 2 ;;
esac
