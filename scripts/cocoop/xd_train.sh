#!/bin/bash
# CoCoOp cross-dataset transfer, step 1: train on all classes of the source dataset (ImageNet) with 16 shots.
# Usage: DATA=/path/to/datasets bash scripts/cocoop/xd_train.sh [DATASET] SEED    (DATASET default imagenet)
#   CFG / TRAINER (env) as in base2new_train.sh.
# Output: ${OUTPUT}/<DATASET>/<TRAINER>/<CFG>_16shots/seed<SEED>; a finished run is skipped.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "$(dirname "$0")/../coop/common.sh"
script_args "[DATASET] SEED" -ge 1 "$@"
case $# in
    1) DATASET=imagenet; SEED=$1 ;;
    2) DATASET=$1; SEED=$2 ;;
    *) echo "usage: $0 [DATASET] SEED" >&2; exit 2 ;;
esac
TRAINER=${TRAINER:-CoCoOp}
coop_cfg
DIR=${OUTPUT}/${DATASET}/${TRAINER}/${CFG}_${SHOTS}shots/seed${SEED}
skip_if_done run_finished "${DIR}"
train_py "${DIR}" DATASET.NUM_SHOTS ${SHOTS}
