#!/usr/bin/env bash
# Installs everything the tests need and runs the whole suite. The tests start
# their own Docker daemons, so this must run as root (or through sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "The tests start their own dockerd daemons, which needs root: run" \
         "sudo ./scripts/test.sh" >&2
    exit 2
fi
./scripts/install.sh --test
exec .venv/bin/python -m pytest "$@"
