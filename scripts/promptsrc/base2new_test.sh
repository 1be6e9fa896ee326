#!/bin/bash
# PromptSRC base-to-new, evaluating the epoch-20 (GPA) model of base2new_train.sh on the new classes.
# Usage: DATA=/path/to/datasets bash scripts/promptsrc/base2new_test.sh <dataset> <seed>
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

DATA=${DATA:-DATA}
TRAINER=PromptSRC
DATASET=$1
SEED=$2

CFG=vit_b16_c2_ep20_batch4_4+4ctx
SHOTS=16
LOADEP=20
SUB=new
COMMON_DIR=${DATASET}/shots_${SHOTS}/${TRAINER}/${CFG}/seed${SEED}
MODEL_DIR=output/base2new/train_base/${COMMON_DIR}
DIR=output/base2new/test_${SUB}/${COMMON_DIR}

skip_if_done has_results "${DIR}"
echo "Evaluating ${MODEL_DIR} (epoch ${LOADEP}) on the ${SUB} classes; output in ${DIR}"
eval_py "${DIR}" "${MODEL_DIR}" ${LOADEP} DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES ${SUB}
