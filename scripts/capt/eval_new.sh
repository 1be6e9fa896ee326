#!/bin/bash
# CAPT new-class evaluation of a stage-2 run (new-class test split, SPLE.STACK.WEIGHT_FOR_NEW mixing).
# Usage: DATA=<data root> bash scripts/capt/eval_new.sh DATASET SEED   (after stage2.sh)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "$(dirname "$0")/common.sh"
skip_if_done has_results "${NEW_DIR}" "New-class evaluation already done: ${NEW_DIR}"
python train.py --root "${DATA}" --seed "${SEED}" --trainer StackSPLE_PromptKD \
    --dataset-config-file "${DATASET_CFG}" \
    --config-file "configs/trainers/SPLE/PromptKD/${STAGE2_CFG}.yaml" \
    --output-dir "${NEW_DIR}" --eval-only --model-dir "${STAGE2_DIR}" \
    DATASET.NUM_SHOTS 16 SPLE.BACK_CKPT_PATH "${STAGE1_DIR}" SPLE.BACK_CKPT_EPOCH 20 \
    SPLE.STACK.WEIGHT_FOR_NEW 0.0 DATASET.SUBSAMPLE_CLASSES new TRAINER.MODAL base2novel \
    TRAINER.PROMPTKD.TEMPERATURE 1.0 TRAINER.PROMPTKD.KD_WEIGHT "${KD_WEIGHT}" TEST.SPLIT test
