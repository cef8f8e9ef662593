#!/usr/bin/env bash
# Create .venv and install the project (and, with --test, what the tests need:
# pytest, playwright and Debian's chromium for the browser tests, curl and
# iproute2's ip for the server's tests, redis-server for the rooms' test
# across two server processes).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch==2.13.0 is pinned in pyproject.toml: the CPU wheel (a looser spec can
# pull a multi-GB CUDA build).
if [ "${1:-}" = "--test" ]; then
  .venv/bin/pip install -q --disable-pip-version-check -e ".[test]"
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
  .venv/bin/pip install -q --disable-pip-version-check -e .
fi
