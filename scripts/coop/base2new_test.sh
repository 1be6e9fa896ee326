#!/bin/bash
# CoOp base-to-new: evaluate the last-epoch model of base2new_train.sh on the new classes.
# Usage: DATA=/path/to/datasets bash scripts/coop/base2new_test.sh DATASET SEED [CFG]
#   CFG as in base2new_train.sh; SUB=base re-evaluates on the base classes; LOADEP overrides the epoch
#   (default: OPTIM.MAX_EPOCH of the config).
# Output: ${OUTPUT}/base2new/test_<SUB>/<DATASET>/shots_16/CoOp/<CFG>/seed<SEED>; a finished run is skipped.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "$(dirname "$0")/../coop/common.sh"
script_args "DATASET SEED [CFG]" -ge 2 "$@"
TRAINER=CoOp
coop_cfg "${3:-}"
test_b2n run_finished "${OUTPUT}" "${LOADEP:-$(max_epoch "configs/trainers/${TRAINER}/${CFG}.yaml")}"
