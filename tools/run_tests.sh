#!/usr/bin/env bash
# Set up the environment, then lint and run the whole test suite (slow end-to-end tests included).
# Extra arguments go to pytest, e.g.: bash tools/run_tests.sh tests/dassl -x
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_DIR="$(bash "${REPO}/tools/bootstrap_env.sh")"
cd "${REPO}"

echo "== ruff check ."
"${VENV_DIR}/bin/python" -m ruff check .

echo "== pytest"
"${VENV_DIR}/bin/python" -m pytest -q "$@"
