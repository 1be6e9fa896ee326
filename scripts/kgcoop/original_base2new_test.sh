#!/bin/bash
# KgCoOp base-to-new as the original KgCoOp repository runs it: evaluate the epoch-100 model of
# original_base2new_train.sh on the new classes.
# Usage: DATA=/path/to/datasets bash scripts/kgcoop/original_base2new_test.sh DATASET SEED [W]
#   W as in original_base2new_train.sh (it names the model folder); SUB=base re-evaluates on the base
#   classes; LOADEP overrides the epoch (default 100).
# Output: ${OUTPUT}/base2new/test_<SUB>/<DATASET>/shots_16_<W>/KgCoOp/vit_b16_ep100_ctxv1/seed<SEED>; a
# finished run is skipped.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "$(dirname "$0")/../coop/common.sh"
script_args "DATASET SEED [W]" -ge 2 "$@"
TRAINER=KgCoOp
CFG=vit_b16_ep100_ctxv1
SHOTS=16
WEIGHT=${3:-8.0}
SUB=${SUB:-new}
check_files "${DATASET}" "${TRAINER}" "${CFG}"
COMMON=${DATASET}/shots_${SHOTS}_${WEIGHT}/${TRAINER}/${CFG}/seed${SEED}
DIR=${OUTPUT}/base2new/test_${SUB}/${COMMON}
skip_if_done run_finished "${DIR}"
echo "Run this job and save the output to ${DIR}"
eval_py "${DIR}" "${OUTPUT}/base2new/train_base/${COMMON}" "${LOADEP:-100}" \
    TRAINER.COOP.N_CTX 4 TRAINER.COOP.CSC False TRAINER.COOP.CLASS_TOKEN_POSITION end \
    DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES "${SUB}"
