#!/usr/bin/env bash
# The whole test suite: installs the project and its test dependencies into .venv (created if
# missing), then lint, type check and pytest. Uses TEST_DATABASE_URL / TEST_REDIS_URL when set,
# else embedded PostgreSQL and Redis. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e '.[test]'
ruff check .
ruff format --check .
mypy
python -m pytest "$@"
