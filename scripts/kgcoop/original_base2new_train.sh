#!/bin/bash
# KgCoOp base-to-new as the original KgCoOp repository runs it: 16 shots, 4 context tokens initialised from
# "a photo of a", loss weight W, 100 epochs (configs/trainers/KgCoOp/vit_b16_ep100_ctxv1.yaml).
# Usage: DATA=/path/to/datasets bash scripts/kgcoop/original_base2new_train.sh DATASET SEED [W]
#   W default 8.0 (the value of the original README's runs).
# Output: ${OUTPUT}/base2new/train_base/<DATASET>/shots_16_<W>/KgCoOp/vit_b16_ep100_ctxv1/seed<SEED>; a
# finished run is skipped.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "$(dirname "$0")/../coop/common.sh"
script_args "DATASET SEED [W]" -ge 2 "$@"
TRAINER=KgCoOp
CFG=vit_b16_ep100_ctxv1
SHOTS=16
WEIGHT=${3:-8.0}
check_files "${DATASET}" "${TRAINER}" "${CFG}"
DIR=${OUTPUT}/base2new/train_base/${DATASET}/shots_${SHOTS}_${WEIGHT}/${TRAINER}/${CFG}/seed${SEED}
skip_if_done run_finished "${DIR}"
echo "Run this job and save the output to ${DIR}"
train_py "${DIR}" TRAINER.COOP.N_CTX 4 TRAINER.COOP.CSC False TRAINER.COOP.W "${WEIGHT}" \
    TRAINER.COOP.CLASS_TOKEN_POSITION end DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES base
