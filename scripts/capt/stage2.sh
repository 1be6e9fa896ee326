#!/bin/bash
# CAPT stage 2: train the Diff-Manner Adapter and MGDE on 16-shot base classes over the frozen stage 1.
# Usage: DATA=<data root> bash scripts/capt/stage2.sh DATASET SEED   (run stage1.sh first)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "${0%/*}/common.sh"  # the scripts run from the repository root
skip_if_done has_results "${STAGE2_DIR}" "Stage 2 already done: ${STAGE2_DIR}"
TRAINER=StackSPLE_PromptKD CFG_FILE=configs/trainers/SPLE/PromptKD/${STAGE2_CFG}.yaml
train_py "${STAGE2_DIR}" DATASET.NUM_SHOTS 16 "${STAGE1_OPTS[@]}" \
    SPLE.PIC_LIB "${DATA}/SPLE_database/SPLE_${DATASET_NAME}.json" SPLE.STACK.MODE converse \
    SPLE.STACK.WEIGHT 0.2 DATASET.SUBSAMPLE_CLASSES base SPLE.STACK.WEIGHT_FOR_NEW 0.0 "${PROMPTKD_OPTS[@]}" \
    TEST.SPLIT val
# resolved rate against the stage-1 backbone stage 2 froze (scored by stage 2's own evaluation)
python -m tools.confusion.compare_runs --baseline "${STAGE2_DIR}/backbone_wrong_predictions.json" \
    --new "${STAGE2_DIR}"
