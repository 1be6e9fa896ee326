#!/bin/bash
# CoCoOp base-to-new: evaluate the last-epoch (10) model of base2new_train.sh on the new classes.
# Usage: DATA=/path/to/datasets bash scripts/cocoop/base2new_test.sh DATASET SEED
#   CFG / TRAINER (env) as in base2new_train.sh; SUB=base re-evaluates on the base classes; LOADEP overrides
#   the epoch (default: OPTIM.MAX_EPOCH of the config).
# Output: ${OUTPUT}/base2new/test_<SUB>/<DATASET>/shots_16/<TRAINER>/<CFG>/seed<SEED>; a finished run is skipped.
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
SUB=${SUB:-new}
check_files "${DATASET}" "${TRAINER}" "${CFG}"
LOADEP=${LOADEP:-$(max_epoch "configs/trainers/${TRAINER}/${CFG}.yaml")}
COMMON_DIR=${DATASET}/shots_${SHOTS}/${TRAINER}/${CFG}/seed${SEED}
MODEL_DIR=${OUTPUT}/base2new/train_base/${COMMON_DIR}
DIR=${OUTPUT}/base2new/test_${SUB}/${COMMON_DIR}

skip_if_done run_finished "${DIR}"
eval_py "${DIR}" "${MODEL_DIR}" "${LOADEP}" DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES "${SUB}"
