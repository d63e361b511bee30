#!/usr/bin/env bash
# What up.sh needs besides build.sh's binaries, from Debian's packages (root):
# etcd, containerd, runc, the CNI plugins, conntrack, iptables; and Go for build.sh.
# Exits 0 when everything is there (installing what is missing), else 1 with one line.
set -uo pipefail
[ "$(id -u)" = 0 ] || { echo "k8s-local: needs root" >&2; exit 1; }
command -v go >/dev/null || { echo "k8s-local: needs Go (for build.sh)" >&2; exit 1; }
missing=()
command -v etcd >/dev/null || missing+=(etcd-server)
command -v containerd >/dev/null || missing+=(containerd)
command -v runc >/dev/null || missing+=(runc)
command -v conntrack >/dev/null || missing+=(conntrack)
command -v iptables >/dev/null || missing+=(iptables)
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || { echo "k8s-local: missing ${missing[*]} and no apt-get" >&2; exit 1; }
  echo "k8s-local: installing ${missing[*]} from Debian's packages…" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null 2>&1 \
    || { echo "k8s-local: apt-get install ${missing[*]} failed" >&2; exit 1; }
fi
exit 0
