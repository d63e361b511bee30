#!/usr/bin/env bash
# Make sure a helm binary exists for tests/helm-chart.test.ts (called from .ci/run).
# Order: $HELM_BIN, PATH, ~/go/bin, else `go install` from the Go module proxy.
# The go-installed binary gets the version stamps that helm's own Makefile sets
# (its version, and the Kubernetes version `helm template` assumes by default,
# derived from the client-go it is built with); without them it reports an empty
# version and assumes Kubernetes 1.20.
set -uo pipefail
HELM_VERSION=${HELM_VERSION:-v3.22.0}
found() { echo "helm: $1 ($("$1" version --short 2>/dev/null))"; exit 0; }
[ -n "${HELM_BIN:-}" ] && [ -x "$HELM_BIN" ] && found "$HELM_BIN"
command -v helm >/dev/null 2>&1 && found "$(command -v helm)"
[ -x "$HOME/go/bin/helm" ] && found "$HOME/go/bin/helm"

go=$(command -v go || echo /usr/local/go/bin/go)
if [ ! -x "$go" ]; then
  echo "the chart tests need helm: install it, or Go to build it ('go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION'), or set HELM_BIN" >&2
  exit 1
fi
echo "building helm $HELM_VERSION with go install (a few minutes the first time)…" >&2
# client-go v0.N.x goes with Kubernetes 1.N: read it from helm's own go.mod.
"$go" mod download -json "helm.sh/helm/v3@$HELM_VERSION" >/tmp/ensure-helm.$$.json 2>/dev/null
gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' /tmp/ensure-helm.$$.json)
rm -f /tmp/ensure-helm.$$.json
minor=$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "${gomod:-/dev/null}" 2>/dev/null | head -1)
ldflags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
if [ -n "$minor" ]; then
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ldflags="$ldflags -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$minor"
  done
fi
GOBIN="$HOME/go/bin" "$go" install -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2 \
  || { echo "go install of helm $HELM_VERSION failed" >&2; exit 1; }
[ -x "$HOME/go/bin/helm" ] && found "$HOME/go/bin/helm"
echo "helm was built but $HOME/go/bin/helm is missing" >&2
exit 1
