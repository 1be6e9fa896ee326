#!/bin/bash
# KgCoOpDePT base-to-new (CaPT protocol); the shared CaPT-repository runner does the work.
# Usage: DATA=/path/to/datasets bash scripts/dept/base2new_test.sh <dataset> <seed>
# Environment: DATA, OUTPUT, EXTRA_OPTS, CFG as in scripts/capt_ucp/base2new_test.sh.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
set -euo pipefail
exec bash "$(dirname "$0")/../capt_ucp/base2new_test.sh" "$1" "$2" KgCoOpDePT
