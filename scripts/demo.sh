#!/usr/bin/env bash
# Install Accord and run the main job: the built-in trilateral exercise on the embedded default
# (SQLite, all nodes in one process, no servers). This is the README's first command.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -m pip install -q -e . 2>&1 | grep -v '^WARNING: Location' || true
if .venv/bin/accord exercise --help >/dev/null 2>&1; then
  exec .venv/bin/accord exercise run "$@"
else
  exec .venv/bin/accord demo "$@"
fi
