# shellcheck shell=bash
# Deployment tooling for CI. .ci/run sources this before `npm test`:
#
#   echo "== deployment tooling (helm; podman for the image test)"
#   source deploy/ci-steps.sh
#
# It builds helm if absent (tests/helm-chart.test.ts needs it) and, as root on
# Debian, installs podman, runc and debootstrap, configures podman for this
# kernel and exports PLEARN_IMAGE_TEST=1 so tests/image.test.ts builds and runs
# the cpu image. Where podman cannot work it says why and leaves the variable
# unset: the image test then skips with that reason. Sourced, so it never exits
# and leaves the caller's shell options as they were.
# Cold cost: helm build ~4 min, podman install ~1 min; the image test adds ~2 min
# (debootstrap, cached afterwards under /var/cache/plearn-ci) and ~1 min warm.

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
  export PLEARN_IMAGE_TEST=1
  echo "ci-steps: helm ready; podman $(podman --version | awk '{print $3}') ready, PLEARN_IMAGE_TEST=1" >&2
}

plearn_ci_deploy_steps
unset -f plearn_ci_deploy_steps
