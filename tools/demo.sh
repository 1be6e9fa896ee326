#!/usr/bin/env bash
# The main job on a fresh clone: provide Fashion-MNIST (tools/provide_fashion_mnist.sh), set up .venv, build
# the toy world (Fashion-MNIST + tiny CLIPs), run the pipeline on it and print the base / new / H table.
# Re-running skips everything already done.
#
#   bash tools/demo.sh                 # data under DATA/, outputs under output/toy_demo/<dataset>/
#   DATA=/elsewhere bash tools/demo.sh --force
#
# Extra arguments go to `python -m tools.demo` (see its --help; --verbose shows every stage's whole output).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${REPO}"
DATA_ROOT="${DATA:-DATA}"
# Fashion-MNIST first: without it (and no way to get it here) stop before the long install.
FASHION_MNIST_DIR="$(bash tools/provide_fashion_mnist.sh "${DATA_ROOT}")"
export FASHION_MNIST_DIR
VENV_DIR="$(bash tools/bootstrap_env.sh)"

# tools.demo builds (or checks) the toy world itself before its first stage.
"${VENV_DIR}/bin/python" -m tools.demo --root "${DATA_ROOT}" "$@"
