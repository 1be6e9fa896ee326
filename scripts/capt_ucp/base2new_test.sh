#!/bin/bash
# CaPT (TRAINER=UCPCoOp|UCPKgCoOp|UCPProGrad|UCPDAPT|UCPKgCoOpDePT, or a baseline without it: CoOp|KgCoOp|ProGrad|DAPT|KgCoOpDePT) base-to-new (CaPT protocol): evaluate the last-epoch model of base2new_train.sh on the new classes.
# Usage: [TRAINER=UCPKgCoOp] DATA=/path/to/datasets bash scripts/capt_ucp/base2new_test.sh <dataset> <seed> [trainer]
# Environment: DATA (default DATA), OUTPUT (output root, default output), EXTRA_OPTS (more KEY VALUE
# overrides), CFG (config stem; default vit_b16_ep10_batch4 for DAPT and UCPDAPT,
# vit_b16_ep10_ctx_batch4 otherwise).
# Output: ${OUTPUT}/test_new/<trainer>/<dataset>/shots16/<cfg>/seed<seed>; a finished run is skipped.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

DATA=${DATA:-DATA}
OUTPUT=${OUTPUT:-output}
DATASET=$1
SEED=$2
TRAINER=${3:-${TRAINER:-UCPCoOp}}
DEFAULT_CFG=$(capt_repo_cfg "${TRAINER}")
CFG=${CFG:-${DEFAULT_CFG}}
SHOTS=16
COMMON_DIR=${TRAINER}/${DATASET}/shots${SHOTS}/${CFG}/seed${SEED}
MODEL_DIR=${OUTPUT}/train_base/${COMMON_DIR}
DIR=${OUTPUT}/test_new/${COMMON_DIR}

skip_if_done has_accuracy_log "${DIR}"
eval_py "${DIR}" "${MODEL_DIR}" -1 DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES new ${EXTRA_OPTS:-}
