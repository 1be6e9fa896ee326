#!/bin/bash
# CaPT (TRAINER=UCPCoOp|UCPKgCoOp|UCPProGrad|UCPDAPT|UCPKgCoOpDePT, or a baseline without it: CoOp|KgCoOp|ProGrad|DAPT|KgCoOpDePT) base-to-new (CaPT protocol), training on the base classes with 16 shots.
# Usage: [TRAINER=UCPKgCoOp] DATA=/path/to/datasets bash scripts/capt_ucp/base2new_train.sh <dataset> <seed> [trainer]
# Environment: DATA (default DATA), OUTPUT (output root, default output), EXTRA_OPTS (more KEY VALUE
# overrides), CFG (config stem; default vit_b16_ep10_batch4 for DAPT and UCPDAPT,
# vit_b16_ep10_ctx_batch4 otherwise).
# Output: ${OUTPUT}/train_base/<trainer>/<dataset>/shots16/<cfg>/seed<seed>; a finished run is skipped.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
script_args "<dataset> <seed> [trainer]" -ge 2 "$@"
TRAINER=${3:-${TRAINER:-UCPCoOp}} SHOTS=16 OUTPUT=${OUTPUT:-output}
CFG=${CFG:-$(capt_repo_cfg "${TRAINER}")}
DIR=${OUTPUT}/train_base/${TRAINER}/${DATASET}/shots${SHOTS}/${CFG}/seed${SEED}
skip_if_done has_accuracy_log "${DIR}"
train_py "${DIR}" DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES base ${EXTRA_OPTS:-}
