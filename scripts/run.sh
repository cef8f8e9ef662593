#!/usr/bin/env bash
# Set up (first time) and start the app on the built-in names data set:
#   bash scripts/run.sh [--port 8000] [--data words.txt] [--no-open]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/backprop-ninja "$@"
