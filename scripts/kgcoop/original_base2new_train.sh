#!/bin/bash
# KgCoOp base-to-new as the original KgCoOp repository runs it: 16 shots, 4 context tokens initialised from
# "a photo of a", loss weight W, 100 epochs (configs/trainers/KgCoOp/vit_b16_ep100_ctxv1.yaml).
# Usage: DATA=/path/to/datasets bash scripts/kgcoop/original_base2new_train.sh DATASET SEED [W]
#   W default 8.0 (the value of the original README's runs).
# Output: ${OUTPUT}/base2new/train_base/<DATASET>/shots_16_<W>/KgCoOp/vit_b16_ep100_ctxv1/seed<SEED>; a
# finished run is skipped.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "$(dirname "$0")/original_common.sh"
DIR=${OUTPUT}/base2new/train_base/${RUN}
skip_if_done run_finished "${DIR}"
echo "Run this job and save the output to ${DIR}"
train_py "${DIR}" "${PROMPT_OPTS[@]}" TRAINER.COOP.W "${WEIGHT}" \
    DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES base
