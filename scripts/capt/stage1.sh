#!/bin/bash
# CAPT stage 1: PromptKD on all training images (unlabelled); builds the Confusion Bank at the end.
# Usage: DATA=<data root> bash scripts/capt/stage1.sh DATASET SEED
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "$(dirname "$0")/common.sh"
skip_if_done has_results "${STAGE1_DIR}" "Stage 1 already done: ${STAGE1_DIR}"
python train.py --root "${DATA}" --seed "${SEED}" --trainer PromptKD \
    --dataset-config-file "${DATASET_CFG}" \
    --config-file "configs/trainers/PromptKD/${STAGE1_CFG}.yaml" \
    --output-dir "${STAGE1_DIR}" \
    DATASET.NUM_SHOTS 0 TRAINER.MODAL base2novel TRAINER.PROMPTKD.TEMPERATURE 1.0 \
    TRAINER.PROMPTKD.KD_WEIGHT "${KD_WEIGHT}" TEST.SPLIT val
