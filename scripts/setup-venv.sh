#!/usr/bin/env bash
# Creates .venv (if missing) and installs the project with pinned versions.
# Usage: scripts/setup-venv.sh [extras]   e.g. "test"
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
target="."
[ -n "$extras" ] && target=".[$extras]"
.venv/bin/python -m pip install --quiet -c constraints.txt -e "$target"
