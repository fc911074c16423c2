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
# Two xdist workers (TEST_WORKERS; 0 runs in this process): the long end-to-end tests overlap the
# rest. Tests that run `up` share one worker (xdist_group "up"): they pick the demo ports.
python -m pytest -n "${TEST_WORKERS:-2}" --dist loadgroup "$@"
