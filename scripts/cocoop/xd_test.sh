#!/bin/bash
# CoCoOp cross-dataset transfer, step 2: evaluate the source model of xd_train.sh on all classes of DATASET
# (the 10 other datasets, or imagenetv2 / imagenet_sketch / imagenet_a / imagenet_r for domain generalisation).
# Usage: DATA=/path/to/datasets bash scripts/cocoop/xd_test.sh DATASET SEED
#   CFG / TRAINER (env) as in xd_train.sh; SOURCE (env) the training dataset, default imagenet; LOADEP overrides
#   the epoch (default: OPTIM.MAX_EPOCH of the config).
# Output: ${OUTPUT}/evaluation/<TRAINER>/<CFG>_16shots/<DATASET>/seed<SEED>; a finished run is skipped.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "$(dirname "$0")/../coop/common.sh"
script_args "DATASET SEED" -eq 2 "$@"
SOURCE=${SOURCE:-imagenet} TRAINER=${TRAINER:-CoCoOp}
coop_cfg "" "${SOURCE}"
LOADEP=${LOADEP:-$(max_epoch "configs/trainers/${TRAINER}/${CFG}.yaml")}
DIR=${OUTPUT}/evaluation/${TRAINER}/${CFG}_${SHOTS}shots/${DATASET}/seed${SEED}
skip_if_done run_finished "${DIR}"
eval_py "${DIR}" "${OUTPUT}/${SOURCE}/${TRAINER}/${CFG}_${SHOTS}shots/seed${SEED}" "${LOADEP}"
