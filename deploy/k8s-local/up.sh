#!/usr/bin/env bash
# A one-node Kubernetes cluster on this machine, from nothing: etcd, the control
# plane, containerd, kubelet, kube-proxy and CoreDNS as plain processes (no VM,
# no kind), pods on a bridge network. For trying the Helm chart without a cloud,
# and for the chart's cluster test. Needs root, the binaries of build.sh, and
# Debian's etcd-server, containerd, runc, containernetworking-plugins, conntrack.
#
#   deploy/k8s-local/up.sh        # then: export KUBECONFIG=<state>/admin.kubeconfig
#   deploy/k8s-local/down.sh      # stops everything this started, removes its state
#
# PLEARN_K8S_STATE (default /tmp/plearn-k8s): PIDs, logs, certificates, data.
# Everything it starts is recorded there, and down.sh removes only that.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
STATE="${PLEARN_K8S_STATE:-/tmp/plearn-k8s}"
BIN="$(bash "$here/build.sh" | tail -n 1)"
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
DNS_IP=10.96.0.10
DNS_PORT=1053

[ "$(id -u)" = 0 ] || { echo "k8s-local: needs root (kubelet, containerd, iptables)" >&2; exit 2; }
for t in etcd containerd runc conntrack iptables openssl; do
  command -v "$t" >/dev/null || { echo "k8s-local: $t missing (apt-get install etcd-server containerd runc conntrack iptables openssl)" >&2; exit 2; }
done
[ -x /usr/lib/cni/bridge ] || { echo "k8s-local: CNI plugins missing (apt-get install containernetworking-plugins)" >&2; exit 2; }
if [ -f "$STATE/pids" ]; then echo "k8s-local: $STATE has a cluster already (down.sh first)" >&2; exit 2; fi

NODE_IP="$(ip -4 route get 1.1.1.1 | sed -n 's/.* src \([0-9.]*\).*/\1/p')"
NODE="$(hostname | tr 'A-Z_' 'a-z-')"
mkdir -p "$STATE"/{pki,logs,etcd,containerd/root,containerd/state,cni,kubelet,coredns}
: > "$STATE/pids"
export PATH="$BIN:$PATH"

start() { # name, command...: background, logged, recorded for down.sh
  local name="$1"; shift
  "$@" > "$STATE/logs/$name.log" 2>&1 &
  echo "$! $name" >> "$STATE/pids"
}

# -- certificates and credentials -------------------------------------------
pki="$STATE/pki"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=plearn-k8s-ca -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
cat > "$pki/apiserver.ext" <<EOF
subjectAltName = IP:127.0.0.1,IP:$NODE_IP,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost
EOF
openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" 2>/dev/null
openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
  -extfile "$pki/apiserver.ext" -out "$pki/apiserver.crt" 2>/dev/null
openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
TOKEN="$(openssl rand -hex 24)"
echo "$TOKEN,admin,admin,system:masters" > "$pki/tokens.csv"
kubeconfig() { # file
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://$NODE_IP:6443", certificate-authority: "$pki/ca.crt"}
users:
- name: admin
  user: {token: "$TOKEN"}
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
EOF
}
KC="$STATE/admin.kubeconfig"
kubeconfig "$KC"

# -- etcd and the control plane -----------------------------------------------
start etcd etcd --name plearn --data-dir "$STATE/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380
start kube-apiserver kube-apiserver --etcd-servers=http://127.0.0.1:2379 \
  --advertise-address="$NODE_IP" --bind-address=0.0.0.0 --secure-port=6443 \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" --client-ca-file="$pki/ca.crt" \
  --token-auth-file="$pki/tokens.csv" --authorization-mode=Node,RBAC \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --allow-privileged=true --enable-admission-plugins=NamespaceLifecycle,ServiceAccount,DefaultStorageClass,ResourceQuota
for _ in $(seq 1 120); do
  kubectl --kubeconfig "$KC" get --raw /readyz >/dev/null 2>&1 && break
  sleep 0.5
done
kubectl --kubeconfig "$KC" get --raw /readyz >/dev/null || { echo "k8s-local: the API server did not come up; see $STATE/logs/kube-apiserver.log" >&2; exit 1; }
# The node-ipam controller is left out: pods get addresses from the bridge's host-local range.
start kube-controller-manager kube-controller-manager --kubeconfig="$KC" --controllers='*,-nodeipam' \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" --use-service-account-credentials \
  --leader-elect=false
start kube-scheduler kube-scheduler --kubeconfig="$KC" --leader-elect=false

# -- containerd, CNI, kubelet, kube-proxy ---------------------------------------
cat > "$STATE/cni/10-plearn.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "plearn", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$STATE/cni/ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
EOF
cat > "$STATE/containerd.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
[grpc]
  address = "$STATE/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  # This VM may not raise oom_score_adj (no CAP_SYS_RESOURCE): without this every pod sandbox fails.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = false
      # runc's state with ours, not under /run/containerd (down.sh removes it all).
      Root = "$STATE/runc"
EOF
start containerd containerd --config "$STATE/containerd.toml"
for _ in $(seq 1 60); do [ -S "$STATE/containerd.sock" ] && break; sleep 0.5; done

cat > "$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://$STATE/containerd.sock
# The API server reaches the kubelet (exec, logs, port-forward) without a client certificate: a local test node.
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
clusterDomain: cluster.local
clusterDNS: [$DNS_IP]
resolvConf: /etc/resolv.conf
serializeImagePulls: false
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
start kubelet kubelet --config="$STATE/kubelet.yaml" --kubeconfig="$KC" --root-dir="$STATE/kubelet" \
  --hostname-override="$NODE" --node-ip="$NODE_IP"
start kube-proxy kube-proxy --kubeconfig="$KC" --proxy-mode=iptables --cluster-cidr=10.244.0.0/16 \
  --hostname-override="$NODE" --oom-score-adj=0

# -- cluster DNS: CoreDNS on the host behind a selector-less kube-dns Service -----
cat > "$STATE/coredns/Corefile" <<EOF
.:$DNS_PORT {
  errors
  kubernetes cluster.local in-addr.arpa ip6.arpa {
    kubeconfig $KC local
    pods insecure
    fallthrough in-addr.arpa ip6.arpa
  }
  forward . /etc/resolv.conf
  cache 30
}
EOF
start coredns coredns -conf "$STATE/coredns/Corefile"
kubectl --kubeconfig "$KC" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $DNS_IP
  ports:
  - {name: dns, port: 53, targetPort: $DNS_PORT, protocol: UDP}
  - {name: dns-tcp, port: 53, targetPort: $DNS_PORT, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: kube-dns-host, namespace: kube-system, labels: {kubernetes.io/service-name: kube-dns}}
addressType: IPv4
endpoints: [{addresses: ["$NODE_IP"]}]
ports:
- {name: dns, port: $DNS_PORT, protocol: UDP}
- {name: dns-tcp, port: $DNS_PORT, protocol: TCP}
EOF

# -- the pause image -------------------------------------------------------------
bash "$here/images.sh" pause

for _ in $(seq 1 120); do
  [ "$(kubectl --kubeconfig "$KC" get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ] && break
  sleep 0.5
done
kubectl --kubeconfig "$KC" wait --for=condition=Ready "node/$NODE" --timeout=10s >/dev/null \
  || { echo "k8s-local: node $NODE not Ready; see $STATE/logs/kubelet.log" >&2; exit 1; }
echo "k8s-local: node $NODE Ready ($NODE_IP); KUBECONFIG=$KC" >&2
echo "$KC"
