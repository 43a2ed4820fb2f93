#!/usr/bin/env bash
# Run the test suite (SQLite by default; TEST_DATABASE_URL=postgresql+psycopg://… for PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh requirements-dev.txt
exec .venv/bin/python -m pytest "$@"
