#!/usr/bin/env bash
# Set up (first time) and run every test: model, server, and the browser
# tests in headless Chromium. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
mkdir -p artifacts
exec .venv/bin/python -m pytest "$@"
