#!/usr/bin/env bash
# The main job on a fresh clone: set up .venv, build the toy world (Fashion-MNIST + tiny CLIPs), run the
# pipeline on it and print the base / new / H table. Re-running skips everything already done.
#
#   bash tools/demo.sh                 # data under DATA/, outputs under output/toy_demo/<dataset>/
#   DATA=/elsewhere bash tools/demo.sh --force
#
# Extra arguments go to `python -m tools.demo` (see its --help).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_DIR="$(bash "${REPO}/tools/bootstrap_env.sh")"
cd "${REPO}"
DATA_ROOT="${DATA:-DATA}"

# tools.demo builds (or checks) the toy world itself before its first stage.
"${VENV_DIR}/bin/python" -m tools.demo --root "${DATA_ROOT}" "$@"
