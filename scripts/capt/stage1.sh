#!/bin/bash
# CAPT stage 1: PromptKD on all training images (unlabelled); builds the Confusion Bank at the end.
# Usage: DATA=<data root> bash scripts/capt/stage1.sh DATASET SEED
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "${0%/*}/common.sh"  # the scripts run from the repository root
skip_if_done has_results "${STAGE1_DIR}" "Stage 1 already done: ${STAGE1_DIR}"
TRAINER=PromptKD CFG=${STAGE1_CFG}
train_py "${STAGE1_DIR}" DATASET.NUM_SHOTS 0 "${PROMPTKD_OPTS[@]}" TEST.SPLIT val
