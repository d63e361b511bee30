#!/usr/bin/env bash
# Tear down what up.sh started, and only that: its processes (by the PIDs it
# recorded), the pods' mounts and network namespaces under its state directory,
# kube-proxy's iptables chains, the cni0 bridge (a stale one breaks the next
# cluster's probes). Never podman's own networks or rules.
set -uo pipefail
STATE="${PLEARN_K8S_STATE:-/tmp/plearn-k8s}"
[ -f "$STATE/pids" ] || { echo "k8s-local: no cluster recorded in $STATE" >&2; exit 0; }

pid_of() { awk -v n="$1" '$2 == n { print $1 }' "$STATE/pids"; }
stop_pid() { # pid: TERM, up to 5 s, then KILL
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null
}
# The kubelet first: alive, it restarts every container killed below.
for pid in $(pid_of kubelet); do stop_pid "$pid"; done
# Then the pods' containers, while containerd can still name them.
ctr=(ctr -a "$STATE/containerd.sock" -n k8s.io)
for id in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks kill -s SIGKILL "$id" >/dev/null 2>&1; done
for _ in $(seq 1 50); do [ -z "$("${ctr[@]}" tasks ls -q 2>/dev/null | head -1)" ] && break; sleep 0.1; done
# Then the rest, last started first.
tac "$STATE/pids" | while read -r pid name; do [ "$name" = kubelet ] || stop_pid "$pid"; done
# Anything still running in one of our pods (a container whose shim died first): its
# cgroup names a pod UID that this kubelet created under $STATE.
for p in /proc/[0-9]*; do
  uid=$(sed -n 's/.*\/kubepods\/\(.*\/\)\{0,1\}pod\([0-9a-f-]*\)\/.*/\2/p' "$p/cgroup" 2>/dev/null | head -1)
  [ -n "$uid" ] && [ -d "$STATE/kubelet/pods/$uid" ] && kill -9 "${p#/proc/}" 2>/dev/null
done
# Shims outlive containerd; ours carry our containerd's address.
for p in $(pgrep -f "containerd-shim-runc-v2" 2>/dev/null); do
  tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q -- "$STATE/containerd.sock" && kill -9 "$p" 2>/dev/null
done
# Shim sockets containerd 1.6 always puts in /run/containerd/s: remove those no live process listens on.
for sock in /run/containerd/s/*; do
  [ -S "$sock" ] && ! grep -q " $sock\$" /proc/net/unix && rm -f "$sock"
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
