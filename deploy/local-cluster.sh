#!/usr/bin/env bash
# A whole plearn cluster as processes on this machine, to try the distributed
# path without Kubernetes: nats-server with JetStream, one coordinator and N
# workers, each logging to its own file. Ctrl-C stops them all (workers drain
# first). Run from anywhere; needs `npm ci` done and a nats-server binary.
#
#   deploy/local-cluster.sh [-w WORKERS] [-t THREADS] [-p NATS_PORT] [-d DIR]
#
#   -w  worker processes (default 2)
#   -t  threads per worker (default: cores / workers, at least 1)
#   -p  NATS client port (default 4222; monitoring on port+4000, i.e. 8222)
#   -d  state and logs (default .tmp/local-cluster in the repository)
#   -H  first health port (default 18080: coordinator, then one per worker)
#
# Then, in another shell:
#   node bin/plearn.js submit fourrooms --nats nats://127.0.0.1:4222 --watch
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
workers=2
threads=
port=4222
dir=$root/.tmp/local-cluster
health_base=18080

usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while getopts "w:t:p:d:H:h" opt; do
  case $opt in
    w) workers=$OPTARG ;;
    t) threads=$OPTARG ;;
    p) port=$OPTARG ;;
    d) dir=$OPTARG ;;
    H) health_base=$OPTARG ;;
    h) usage 0 ;;
    *) usage 2 ;;
  esac
done
for n in "$workers" "$port" "$health_base" ${threads:+"$threads"}; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "local-cluster: '$n' is not a number" >&2; exit 2; }
done
(( workers >= 1 && workers <= 64 )) || { echo "local-cluster: -w must be 1–64" >&2; exit 2; }
if [ -z "$threads" ]; then
  cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
  threads=$(( cores / workers )); (( threads >= 1 )) || threads=1
fi
monitor_port=$(( port + 4000 ))

nats_bin=${NATS_SERVER_BIN:-}
if [ -z "$nats_bin" ]; then
  for c in nats-server "$HOME/go/bin/nats-server" /usr/sbin/nats-server; do
    if command -v "$c" >/dev/null 2>&1; then nats_bin=$(command -v "$c"); break; fi
  done
fi
[ -n "$nats_bin" ] || { echo "local-cluster: no nats-server (apt-get install nats-server, or go install github.com/nats-io/nats-server/v2@latest, or set NATS_SERVER_BIN)" >&2; exit 1; }
[ -d "$root/node_modules" ] || { echo "local-cluster: run 'npm ci' in $root first" >&2; exit 1; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$port" "$monitor_port" $(seq "$health_base" $(( health_base + workers ))); do
  if port_busy "$p"; then echo "local-cluster: port $p is in use (pick others with -p / -H)" >&2; exit 1; fi
done

mkdir -p "$dir/logs" "$dir/jetstream"
url=nats://127.0.0.1:$port
pids=()

stop_all() {
  trap - INT TERM EXIT
  set +e  # the stopped processes' exit statuses are expected to be non-zero
  echo "local-cluster: stopping (workers drain first)…" >&2
  # Reverse start order: workers hand back what they hold, then the coordinator, then NATS.
  local n=${#pids[@]}
  if (( n > 2 )); then kill -TERM "${pids[@]:2}" 2>/dev/null; wait "${pids[@]:2}" 2>/dev/null; fi
  if (( n > 1 )); then kill -TERM "${pids[1]}" 2>/dev/null; wait "${pids[1]}" 2>/dev/null; fi
  if (( n > 0 )); then kill -TERM "${pids[0]}" 2>/dev/null; wait "${pids[0]}" 2>/dev/null; fi
  echo "local-cluster: stopped; logs in $dir/logs" >&2
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT
# Each background process gets its own process group, so a Ctrl-C reaches only
# this script, which then stops them in order instead of all at once.
set -m

wait_http() { # url, seconds, what
  local deadline=$(( SECONDS + $2 ))
  until curl -fsS -o /dev/null "$1" 2>/dev/null || node -e "fetch('$1').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" 2>/dev/null; do
    (( SECONDS < deadline )) || { echo "local-cluster: $3 not ready after $2 s; see $dir/logs" >&2; exit 1; }
    sleep 0.3
  done
}

# The sample config with this run's store directory (nats-server refuses a -sd
# flag on top of a store_dir in the file); ports come from the command line.
# Fresh passwords for the sample's three roles (its CHANGE-ME placeholders) on every start.
pw() { openssl rand -hex 16 2>/dev/null || node -e "console.log(require('crypto').randomBytes(16).toString('hex'))"; }
admin_pw=$(pw); worker_pw=$(pw); submitter_pw=$(pw)
sed -e "s|^\([[:space:]]*store_dir:\).*|\1 \"$dir/jetstream\"|" \
    -e "s|CHANGE-ME-admin-password|$admin_pw|" -e "s|CHANGE-ME-worker-password|$worker_pw|" \
    -e "s|CHANGE-ME-submitter-password|$submitter_pw|" \
    "$root/deploy/nats-server.conf" >"$dir/nats-server.conf"
chmod 600 "$dir/nats-server.conf"
printf 'export PLEARN_NATS_URL=%s PLEARN_NATS_USER=plearn-submitter PLEARN_NATS_PASSWORD=%s\n' "$url" "$submitter_pw" >"$dir/submitter.env"
chmod 600 "$dir/submitter.env"
"$nats_bin" -c "$dir/nats-server.conf" -a 127.0.0.1 -p "$port" -m "$monitor_port" \
  >"$dir/logs/nats-server.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$monitor_port/healthz" 15 nats-server

PLEARN_NATS_USER=plearn-admin PLEARN_NATS_PASSWORD=$admin_pw node "$root/bin/plearn.js" coordinator --nats "$url" --replicas 1 --health-port "$health_base" \
  >"$dir/logs/coordinator.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$health_base/readyz" 60 coordinator

for i in $(seq 1 "$workers"); do
  PLEARN_NATS_USER=plearn-worker PLEARN_NATS_PASSWORD=$worker_pw node "$root/bin/plearn.js" worker --nats "$url" --id "local-w$i" --threads "$threads" \
    --health-port $(( health_base + i )) >"$dir/logs/worker-$i.log" 2>&1 &
  pids+=($!)
done
for i in $(seq 1 "$workers"); do wait_http "http://127.0.0.1:$(( health_base + i ))/readyz" 60 "worker $i"; done

cat <<EOF
plearn local cluster is up: nats-server, 1 coordinator, $workers worker(s) × $threads thread(s).
  NATS        $url (monitoring http://127.0.0.1:$monitor_port)
  health      coordinator http://127.0.0.1:$health_base/readyz, workers :$(( health_base + 1 ))–:$(( health_base + workers ))
  logs        $dir/logs/

Submit from another shell (in $root):
  source $dir/submitter.env      # URL and the submitter role's login
  node bin/plearn.js submit fourrooms --agent oracle --goals 8 --watch
  node bin/plearn.js jobs
  node bin/plearn.js workers

Ctrl-C stops everything.
EOF

# Block until Ctrl-C, or until one of them dies on its own (then stop the rest).
# A polling loop rather than `wait -n`: macOS still ships bash 3.2.
while :; do
  for p in "${pids[@]}"; do
    kill -0 "$p" 2>/dev/null || { echo "local-cluster: process $p exited on its own; see $dir/logs" >&2; exit 1; }
  done
  sleep 1
done
