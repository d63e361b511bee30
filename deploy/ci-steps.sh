# shellcheck shell=bash
# Deployment tooling for CI. .ci/run sources this before `npm test`:
#
#   echo "== deployment tooling (helm; podman for the image test)"
#   source deploy/ci-steps.sh
#
# It builds helm if absent (tests/helm-chart.test.ts needs it) and, as root on
# Debian, installs podman, runc and debootstrap, configures podman for this
# kernel, starts podman's Docker-compatible API service (the engine
# testcontainers drives) and exports PLEARN_IMAGE_TEST=1, DOCKER_HOST and
# TESTCONTAINERS_RYUK_DISABLED=true so tests/image.test.ts builds the cpu image
# and runs it as containers. Where podman cannot work it says why and leaves
# PLEARN_IMAGE_TEST unset: the image test then skips with that reason. Sourced,
# so it never exits and leaves the caller's shell options as they were; sourcing
# it again reuses the running API service.
# Cold cost: helm build ~4 min, podman install ~1 min; the image test adds ~2.5 min
# (debootstrap, cached afterwards under /var/cache/plearn-ci) and ~40 s warm.
# The API service's log: /var/log/plearn-ci-podman-service.log.

plearn_ci_deploy_steps() {
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

  if ! bash "$root/tests/support/ensure-helm.sh"; then
    echo "ci-steps: no helm; the chart tests will skip" >&2
  fi

  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ci-steps: image test off (needs root and apt-get for podman/debootstrap)" >&2
    return 0
  fi
  local missing=()
  local tool
  for tool in podman runc debootstrap; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "ci-steps: installing ${missing[*]} from Debian's packages…" >&2
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap; } >/dev/null 2>&1; then
      echo "ci-steps: image test off (apt-get install podman runc debootstrap failed)" >&2
      return 0
    fi
  fi

  # podman's default nofile ulimit cannot be applied under this kernel's cgroup
  # mode; an empty default_ulimits lets containers start (with runc + cgroupfs,
  # which the scripts and tests pass on the command line).
  local conf=/etc/containers/containers.conf
  if ! grep -qE '^[[:space:]]*default_ulimits[[:space:]]*=' "$conf" 2>/dev/null; then
    mkdir -p /etc/containers
    if grep -q '^\[containers\]' "$conf" 2>/dev/null; then
      sed -i 's/^\[containers\]/[containers]\ndefault_ulimits = []/' "$conf"
    else
      printf '\n[containers]\ndefault_ulimits = []\n' >>"$conf"
    fi
  fi

  if ! podman --runtime runc --cgroup-manager cgroupfs info >/dev/null 2>&1; then
    echo "ci-steps: image test off (podman info fails: $(podman --runtime runc --cgroup-manager cgroupfs info 2>&1 | tail -1))" >&2
    return 0
  fi
  # testcontainers speaks the Docker API: podman serves it with `podman system
  # service` (no systemd here to socket-activate it). The global flags carry into
  # every container the service starts. It runs detached from this shell (own
  # session, no job entry, output to a log file), so it never holds up the
  # caller's exit, a `wait` or a pipe; --time=0 keeps it up between test files,
  # and a second sourcing finds it answering and reuses it.
  local sock=/run/podman/podman.sock svclog=/var/log/plearn-ci-podman-service.log
  if ! plearn_ci_podman_api_up "$sock" 5; then
    rm -f "$sock"
    mkdir -p "$(dirname "$sock")"
    (cd / && exec setsid podman --runtime runc --cgroup-manager cgroupfs system service --time=0 "unix://$sock" \
      </dev/null >>"$svclog" 2>&1 &)
    if ! plearn_ci_podman_api_up "$sock" 30; then
      echo "ci-steps: image test off (podman system service did not answer on $sock within 30 s: $(tail -1 "$svclog" 2>/dev/null))" >&2
      return 0
    fi
  fi
  if [ -n "${DOCKER_HOST:-}" ] && [ "$DOCKER_HOST" != "unix://$sock" ]; then
    echo "ci-steps: keeping DOCKER_HOST=$DOCKER_HOST (podman's API is on unix://$sock)" >&2
  else
    export DOCKER_HOST="unix://$sock"
  fi
  # testcontainers' reaper (ryuk) is pulled from Docker Hub, out of reach here;
  # the image test removes its own containers and network instead.
  export TESTCONTAINERS_RYUK_DISABLED=true
  export PLEARN_IMAGE_TEST=1
  echo "ci-steps: helm ready; podman $(podman --version | awk '{print $3}') ready, API on unix://$sock, PLEARN_IMAGE_TEST=1" >&2
}

# plearn_ci_podman_api_up SOCKET SECONDS: whether the Docker API on SOCKET
# answers /_ping within SECONDS (node is there: the tests need it anyway).
plearn_ci_podman_api_up() {
  [ -S "$1" ] || [ "$2" -gt 5 ] || return 1
  node -e '
    const [sock, secs] = process.argv.slice(1);
    const until = Date.now() + Number(secs) * 1000;
    const ping = () => require("http").get({ socketPath: sock, path: "/_ping", timeout: 2000 }, (res) => {
      res.resume();
      if (res.statusCode === 200) process.exit(0); else retry();
    }).on("error", retry).on("timeout", function () { this.destroy(); });
    const retry = () => (Date.now() < until ? setTimeout(ping, 250) : process.exit(1));
    ping();' "$1" "$2" 2>/dev/null
}

plearn_ci_deploy_steps
unset -f plearn_ci_deploy_steps plearn_ci_podman_api_up
