#!/usr/bin/env bash
# Run Habarlama locally: web on http://localhost:5000 and the worker, SQLite, SMS_GATEWAY=log, demo data.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh requirements.txt
export FLASK_APP=notifier
export SMS_GATEWAY="${SMS_GATEWAY:-log}"
.venv/bin/flask db upgrade
.venv/bin/flask demo-data
.venv/bin/flask worker &
worker=$!
trap 'kill -TERM "$worker" 2>/dev/null; wait "$worker" 2>/dev/null' EXIT INT TERM
echo "Habarlama: http://localhost:${PORT:-5000}  (staff sign-in: /staff/login)"
.venv/bin/flask run --host 127.0.0.1 --port "${PORT:-5000}"
