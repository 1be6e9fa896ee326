#!/bin/bash
# PromptSRC cross-dataset: evaluate the ImageNet model of xd_train.sh (epoch 20) on another dataset.
# Usage: DATA=/path/to/datasets bash scripts/promptsrc/xd_test.sh <dataset> <seed>
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
script_args "<dataset> <seed>" -ge 2 "$@"
TRAINER=PromptSRC CFG=vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets SHOTS=16
MODEL_DIR=output/imagenet/${TRAINER}/${CFG}_${SHOTS}shots/seed${SEED}
DIR=output/evaluation/${TRAINER}/${CFG}_${SHOTS}shots/${DATASET}/seed${SEED}
skip_if_done has_results "${DIR}"
echo "Evaluating ${MODEL_DIR} on ${DATASET}; output in ${DIR}"
eval_py "${DIR}" "${MODEL_DIR}" 20
