#!/usr/bin/env bash
# Runs the bot locally on the embedded default: a SQLite file under var/, the
# sample company data in data/, the web chat at http://127.0.0.1:8080/ (PORT to
# change it). With TELEGRAM_BOT_TOKEN set it serves Telegram as well.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-venv.sh
exec .venv/bin/aftersales demo
