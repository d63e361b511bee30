#!/usr/bin/env bash
# The Python of the `plearn extract` cross-checks: Debian's python3-torch (its
# torch.onnx exports the test agents; PyPI's torch is CUDA-sized) seen from a
# virtualenv that adds PyPI's onnx and safetensors, made once at
# ${PLEARN_TORCH_VENV:-$HOME/.cache/plearn/torch-venv} by python-env.sh.
#
#   bash tests/support/torch-env.sh      # prints the interpreter's path
#
# As root it installs python3-torch with apt when missing. Exit 1 with one line
# saying how when it cannot.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
host=/usr/bin/python3
if ! "$host" -c 'import torch' >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "torch env: installing Debian's python3-torch…" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-torch >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-torch >/dev/null 2>&1; }
  fi
  "$host" -c 'import torch' >/dev/null 2>&1 || { echo "torch env: no torch for $host — install it with: apt-get install python3-torch" >&2; exit 1; }
fi
# Debian's torch is built against Debian's numpy: keep that one (onnx's newest
# releases would pull numpy 2, and torch 1.13 then cannot hand arrays to it).
pins=$(mktemp)
trap 'rm -f "$pins"' EXIT
"$host" -c 'import numpy; print("numpy==" + numpy.__version__)' > "$pins"
PLEARN_PYTHON_VENV=${PLEARN_TORCH_VENV:-$HOME/.cache/plearn/torch-venv} PLEARN_PYTHON_HOST=$host PLEARN_PYTHON_SYSTEM_SITE=1 PIP_CONSTRAINT=$pins \
  bash "$here/python-env.sh" onnx
