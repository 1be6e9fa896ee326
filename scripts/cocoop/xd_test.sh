#!/bin/bash
# CoCoOp cross-dataset transfer, step 2: evaluate the source model of xd_train.sh on all classes of DATASET
# (the 10 other datasets, or imagenetv2 / imagenet_sketch / imagenet_a / imagenet_r for domain generalisation).
# Usage: DATA=/path/to/datasets bash scripts/cocoop/xd_test.sh DATASET SEED
#   CFG / TRAINER (env) as in xd_train.sh; SOURCE (env) the training dataset, default imagenet; LOADEP overrides
#   the epoch (default: OPTIM.MAX_EPOCH of the config).
# Output: ${OUTPUT}/evaluation/<TRAINER>/<CFG>_16shots/<DATASET>/seed<SEED>; a finished run is skipped.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
DATA=${DATA:-DATA}
if [ -d "${DATA}" ]; then DATA=$(cd "${DATA}" && pwd); fi  # the script runs from the repository root
cd "$(dirname "$0")/../.."
source scripts/coop/common.sh
check_argc $# -eq 2 "DATASET SEED"
DATASET=$1
SEED=$2
SOURCE=${SOURCE:-imagenet}
TRAINER=${TRAINER:-CoCoOp}
CFG=${CFG:-$(default_cfg "${TRAINER}" "${SOURCE}")}
SHOTS=16
check_files "${DATASET}" "${TRAINER}" "${CFG}"
LOADEP=${LOADEP:-$(max_epoch "configs/trainers/${TRAINER}/${CFG}.yaml")}
MODEL_DIR=${OUTPUT}/${SOURCE}/${TRAINER}/${CFG}_${SHOTS}shots/seed${SEED}
DIR=${OUTPUT}/evaluation/${TRAINER}/${CFG}_${SHOTS}shots/${DATASET}/seed${SEED}

skip_if_done run_finished "${DIR}"
eval_py "${DIR}" "${MODEL_DIR}" "${LOADEP}"
