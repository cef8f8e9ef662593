#!/usr/bin/env bash
# Create .venv and install the project (and, with --test, what the tests need:
# pytest, playwright and Debian's chromium for the browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch==2.13.0 is pinned in pyproject.toml: the CPU wheel (a looser spec can
# pull a multi-GB CUDA build).
if [ "${1:-}" = "--test" ]; then
  .venv/bin/pip install -q --disable-pip-version-check -e ".[test]"
  if [ ! -x /usr/bin/chromium ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium
  fi
else
  .venv/bin/pip install -q --disable-pip-version-check -e .
fi
