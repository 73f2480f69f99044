#!/usr/bin/env bash
# Creates .venv (if missing) and installs the project with pinned versions.
# Usage: scripts/setup-venv.sh [extras]   e.g. "test"
# Installs only when something changed: a stamp in .venv holds the hash of
# pyproject.toml, constraints.txt, the extras and the Python version of the last
# install (delete .venv/.installed to force one). pip's output is kept in
# .venv/install.log and shown only if the install fails.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv ..."
  python3 -m venv .venv
fi
stamp=".venv/.installed"
files="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1) $(.venv/bin/python -V)"
want="$files extras=${extras}"
if [ -f "$stamp" ]; then
  had="$(cat "$stamp")"
  # Nothing changed since the last install (an install with extras also serves a plain one).
  if [ "$had" = "$want" ] || { [ -z "$extras" ] && [ "${had% extras=*}" = "$files" ]; }; then
    exit 0
  fi
fi
target="."
[ -n "$extras" ] && target=".[$extras]"
echo "installing Python packages${extras:+ (with $extras)} into .venv ..."
log=".venv/install.log"
if ! { .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip \
       && .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e "$target"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "installing the packages failed (the log above is in $log)" >&2
  rm -f "$stamp"
  exit 1
fi
echo "$want" > "$stamp"
