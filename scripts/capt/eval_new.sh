#!/bin/bash
# CAPT new-class evaluation of a stage-2 run (new-class test split, SPLE.STACK.WEIGHT_FOR_NEW mixing).
# Usage: DATA=<data root> bash scripts/capt/eval_new.sh DATASET SEED   (after stage2.sh)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "${0%/*}/common.sh"  # the scripts run from the repository root
skip_if_done has_results "${NEW_DIR}" "New-class evaluation already done: ${NEW_DIR}"
TRAINER=StackSPLE_PromptKD CFG_FILE=configs/trainers/SPLE/PromptKD/${STAGE2_CFG}.yaml
train_py "${NEW_DIR}" --eval-only --model-dir "${STAGE2_DIR}" DATASET.NUM_SHOTS 16 "${STAGE1_OPTS[@]}" \
    SPLE.STACK.WEIGHT_FOR_NEW 0.0 DATASET.SUBSAMPLE_CLASSES new "${PROMPTKD_OPTS[@]}" TEST.SPLIT test
