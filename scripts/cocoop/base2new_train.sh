#!/bin/bash
# CoCoOp base-to-new (CoCoOp paper protocol): train on the base classes with 16 shots.
# Usage: DATA=/path/to/datasets bash scripts/cocoop/base2new_train.sh DATASET SEED
#   CFG (env) default vit_b16_c4_ep10_batch1_ctxv1; TRAINER=CoOp runs CoOp with its base-to-new config instead.
# Output: ${OUTPUT}/base2new/train_base/<DATASET>/shots_16/<TRAINER>/<CFG>/seed<SEED>; a finished run is skipped.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
DATA=${DATA:-DATA}
if [ -d "${DATA}" ]; then DATA=$(cd "${DATA}" && pwd); fi  # the script runs from the repository root
cd "$(dirname "$0")/../.."
source scripts/coop/common.sh
check_argc $# -eq 2 "DATASET SEED"
DATASET=$1
SEED=$2
TRAINER=${TRAINER:-CoCoOp}
CFG=${CFG:-$(default_cfg "${TRAINER}" "${DATASET}")}
SHOTS=16
check_files "${DATASET}" "${TRAINER}" "${CFG}"
DIR=${OUTPUT}/base2new/train_base/${DATASET}/shots_${SHOTS}/${TRAINER}/${CFG}/seed${SEED}

skip_if_done run_finished "${DIR}"
train_py "${DIR}" DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES base
