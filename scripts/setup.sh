#!/usr/bin/env bash
# Create .venv and install the project with the web app (the `server` extra);
# with --test, everything the tests need (the `test` extra: server, notebook,
# JupyterLab, pytest, playwright), and Debian's chromium for the browser
# tests, curl and iproute2's ip for the server's tests, redis-server for the
# rooms' test across two server processes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# torch first, pinned to one version: the project's metadata asks only
# torch>=2.1 (so a notebook keeps the torch it has). Which build of 2.13.0 pip
# gets depends on where pip looks: the machine this project is developed on
# has pip configured with a local wheel of the CPU build, so it gets that one;
# plain PyPI on Linux gives the CUDA build (several GB). Elsewhere, for the
# CPU build, install torch 2.13.0 into .venv from PyTorch's CPU-only index
# (pytorch.org's install selector gives the command) before running this
# script: `torch==2.13.0` is then satisfied already. The Dockerfile pins the
# same version.
TORCH="torch==2.13.0"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
install() { .venv/bin/pip install -q --disable-pip-version-check "$@"; }
install "$TORCH"
if [ "${1:-}" = "--test" ]; then
  install -e ".[test]"
  missing=""
  [ -x /usr/bin/chromium ] || missing="$missing chromium"
  command -v curl >/dev/null || missing="$missing curl"  # docs/api.md's curl recipe runs as a test
  command -v ip >/dev/null || missing="$missing iproute2"  # a non-loopback address for the token test
  command -v redis-server >/dev/null || missing="$missing redis-server"  # rooms across two processes (the test starts it)
  if [ -n "$missing" ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -q
    # shellcheck disable=SC2086 # one package a word
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
  fi
else
  install -e ".[server]"
fi
