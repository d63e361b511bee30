#!/usr/bin/env bash
# npm test's set-up (its `pretest`): make what the tests need, on a fresh
# machine as on a developer's, or stop with one line that says how.
#   1. nats-server, for the integration tests (ensure-nats-server.sh);
#   2. the fast CPU addon, so the fast-path tests run: `npm ci` ran its build
#      before anything could install a compiler or OpenBLAS, so build it here
#      (shared/tensor/native/ensure.sh installs them first as root with apt);
#   3. the Python virtualenvs of the cross-checks (python-env.sh; torch-env.sh:
#      Debian's python3-torch and PyPI's onnx for `plearn extract`), a software
#      Vulkan driver for the webgpu backend's tests (ensure-lavapipe.sh), and
#      helm for the chart tests (ensure-helm.sh: built with Go, minutes once),
#      Debian's chromium for the report's browser test (ensure-chromium.sh).
#      Without them those tests skip, saying so — under CI=true they fail.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

bash "$here/ensure-nats-server.sh" || exit 1
bash "$root/shared/tensor/native/ensure.sh" || exit 1
if py=$(bash "$here/python-env.sh"); then
  echo "python env: $py"
elif [ "${CI:-}" = true ]; then
  exit 1
else
  echo "python env: none; the Python cross-checks will skip" >&2
fi
if py=$(bash "$here/torch-env.sh"); then
  echo "torch env (plearn extract cross-checks): $py"
elif [ "${CI:-}" = true ]; then
  exit 1
else
  echo "torch env: none; the plearn extract cross-checks with PyPI's onnx and Debian's torch will skip" >&2
fi
if icd=$(bash "$here/ensure-lavapipe.sh"); then
  echo "software Vulkan for the webgpu tests: $icd"
elif [ "${CI:-}" = true ]; then
  exit 1
else
  echo "no software Vulkan; the webgpu tests will skip" >&2
fi
bash "$here/ensure-chromium.sh" >/dev/null || { [ "${CI:-}" = true ] && exit 1; echo "chromium: none; the sweep report's browser test will skip" >&2; }
if ! bash "$here/ensure-helm.sh"; then
  [ "${CI:-}" = true ] && exit 1
  echo "helm: none; the chart tests will skip" >&2
fi
exit 0
