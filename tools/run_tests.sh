#!/usr/bin/env bash
# Provide Fashion-MNIST, set up the environment, then lint and run the whole test suite (slow end-to-end
# tests included).
# Extra arguments go to pytest, e.g.: bash tools/run_tests.sh tests/dassl -x
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${REPO}"

# The toy-world tests (every end-to-end trainer test) need Fashion-MNIST: provide it, or stop here, before
# the install, unless SKIP_TOY_WORLD=1 allows those tests to be skipped.
if [[ "${SKIP_TOY_WORLD:-0}" == 1 ]]; then
    echo "== SKIP_TOY_WORLD=1: the toy-world tests are skipped where Fashion-MNIST is missing" >&2
elif FASHION_MNIST_DIR="$(bash tools/provide_fashion_mnist.sh "${DATA:-DATA}")"; then
    # a toy-world test that still cannot find the files fails instead of skipping
    export FASHION_MNIST_DIR REQUIRE_FASHION_MNIST=1
else
    echo "run_tests: the toy-world tests need Fashion-MNIST (see above); SKIP_TOY_WORLD=1 runs the" \
         "rest and skips them" >&2
    exit 1
fi

VENV_DIR="$(bash tools/bootstrap_env.sh)"

echo "== ruff check ."
"${VENV_DIR}/bin/python" -m ruff check .

echo "== pytest"
"${VENV_DIR}/bin/python" -m pytest -q "$@"
