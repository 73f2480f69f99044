#!/usr/bin/env bash
# Runs the whole test suite. Installs what it needs first: the Python packages
# (pinned in constraints.txt), Debian's chromium and axe-core (tests/js/package.json,
# from the npm registry) for the browser tests, and Debian's nginx for the deployment
# test (tests/test_deploy.py).
# PostgreSQL must be running at 127.0.0.1:5432 (user postgres, database test);
# under CI=true a missing PostgreSQL, Chromium or nginx fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-venv.sh test
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
  echo "installing chromium (browser tests) ..."
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
if [ ! -f tests/js/node_modules/axe-core/axe.min.js ] && command -v npm >/dev/null; then
  echo "installing axe-core (accessibility checks in the browser tests) ..."
  npm install --prefix tests/js --no-audit --no-fund --ignore-scripts --silent
fi
if [ ! -x /usr/sbin/nginx ] && command -v apt-get >/dev/null; then
  echo "installing nginx (the deployment test runs deploy/nginx.conf) ..."
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx >/dev/null
fi
echo "static checks: ruff, mypy ..."
.venv/bin/ruff check --quiet .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
