#!/usr/bin/env bash
# Tear down what up.sh started, and only that: its processes (by the PIDs it
# recorded), the pods' mounts and network namespaces under its state directory,
# kube-proxy's iptables chains, the cni0 bridge (a stale one breaks the next
# cluster's probes). Never podman's own networks or rules.
set -uo pipefail
STATE="${PLEARN_K8S_STATE:-/tmp/plearn-k8s}"
[ -f "$STATE/pids" ] || { echo "k8s-local: no cluster recorded in $STATE" >&2; exit 0; }

# Pods first (the kubelet would restart them), then the node's processes in reverse order of start.
ctr -a "$STATE/containerd.sock" -n k8s.io tasks ls -q 2>/dev/null | while read -r id; do
  ctr -a "$STATE/containerd.sock" -n k8s.io tasks kill -s SIGKILL "$id" >/dev/null 2>&1
done
tac "$STATE/pids" | while read -r pid name; do
  kill "$pid" 2>/dev/null && for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
done
# Container shims outlive containerd; only those whose bundles live in our state.
for p in $(pgrep -f "containerd-shim-runc-v2.*$STATE" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
for p in $(pgrep -f "containerd-shim-runc-v2 -namespace k8s.io" 2>/dev/null); do
  grep -q "$STATE" "/proc/$p/cmdline" 2>/dev/null || tr '\0' ' ' < "/proc/$p/environ" 2>/dev/null | grep -q "$STATE" && kill -9 "$p" 2>/dev/null
done
grep " $STATE" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^cni-'); do ip netns delete "$ns" 2>/dev/null; done
ip link delete cni0 2>/dev/null
# kube-proxy's chains (KUBE-*) in nat and filter, and the jumps into them.
for table in nat filter mangle; do
  iptables -t "$table" -S 2>/dev/null | grep -- '-j KUBE-' | grep -v '^-N' | sed 's/^-A/-D/' | while read -r rule; do
    eval "iptables -t $table $rule" 2>/dev/null
  done
  for chain in $(iptables -t "$table" -S 2>/dev/null | sed -n 's/^-N \(KUBE-[^ ]*\).*/\1/p'); do iptables -t "$table" -F "$chain" 2>/dev/null; done
  for chain in $(iptables -t "$table" -S 2>/dev/null | sed -n 's/^-N \(KUBE-[^ ]*\).*/\1/p'); do iptables -t "$table" -X "$chain" 2>/dev/null; done
done
# The bridge plugin's masquerade chains (CNI-*) of our network only: their rules
# carry the comment 'name: "plearn"' (podman's networks have their own names).
for chain in $(iptables -t nat -S 2>/dev/null | sed -n 's/^-N \(CNI-[^ ]*\).*/\1/p'); do
  iptables -t nat -S "$chain" 2>/dev/null | grep -q 'name: \\"plearn\\"' || continue
  iptables -t nat -S POSTROUTING | grep -- "-j $chain" | sed 's/^-A/-D/' | while read -r rule; do eval "iptables -t nat $rule" 2>/dev/null; done
  iptables -t nat -F "$chain" 2>/dev/null; iptables -t nat -X "$chain" 2>/dev/null
done
rm -rf "$STATE"
echo "k8s-local: stopped and removed $STATE" >&2
