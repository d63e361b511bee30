#!/usr/bin/env bash
# The one Python environment the tests use (cross-checks against Python's own
# readers, side-by-side benches): a virtualenv outside the clone, made once and
# reused, at ${PLEARN_PYTHON_VENV:-$HOME/.cache/plearn/python-venv}.
#
#   bash tests/support/python-env.sh [PACKAGE…]
#
# Installs the base packages (safetensors, numpy) plus any PACKAGE given (pip
# requirement syntax, e.g. jax==0.9.2) that is not installed yet, then prints
# the interpreter's path on stdout. Other needs add their packages by calling
# it with them. Exit 1, with one line on stderr saying how, when no venv can be
# made (no python3 ≥ 3.9, or PyPI unreachable).
#
# PLEARN_PYTHON_SYSTEM_SITE=1 makes the venv see the host interpreter's own
# packages (torch-env.sh: Debian's python3-torch beside PyPI's onnx); a package
# the host already has counts as installed and is not fetched again.
set -uo pipefail
venv=${PLEARN_PYTHON_VENV:-$HOME/.cache/plearn/python-venv}
base=(safetensors numpy)
want=("${base[@]}" "$@")
py="$venv/bin/python"

fail() { echo "python env: $1 — make it by hand: python3 -m venv $venv && $venv/bin/pip install ${want[*]}" >&2; exit 1; }

if [ ! -x "$py" ]; then
  host=${PLEARN_PYTHON_HOST:-python3}
  command -v "$host" >/dev/null 2>&1 || fail "no python3 on PATH"
  "$host" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' || fail "$("$host" --version 2>&1) is older than 3.9"
  mkdir -p "$(dirname "$venv")"
  site=()
  [ "${PLEARN_PYTHON_SYSTEM_SITE:-0}" = 1 ] && site=(--system-site-packages)
  "$host" -m venv "${site[@]}" "$venv" >/dev/null 2>&1 || { rm -rf "$venv"; fail "'$host -m venv' failed (Debian: apt-get install python3-venv)"; }
fi

# A requirement counts as installed when pip can satisfy it without a download;
# `pip install` of satisfied requirements is quick but still asks the index, so
# ask pip's own metadata first and install only what is missing.
missing=()
for req in "${want[@]}"; do
  "$py" - "$req" >/dev/null 2>&1 <<'PY' || missing+=("$req")
import sys
from importlib.metadata import version, PackageNotFoundError
req = sys.argv[1]
name, _, pin = req.partition('==')
try:
    v = version(name)
except PackageNotFoundError:
    sys.exit(1)
sys.exit(0 if not pin or v == pin else 1)
PY
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "python env: installing ${missing[*]} into $venv…" >&2
  "$py" -m pip install -q --disable-pip-version-check "${missing[@]}" >&2 || fail "pip install ${missing[*]} failed (PyPI unreachable?)"
fi
echo "$py"
