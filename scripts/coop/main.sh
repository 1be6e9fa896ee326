#!/bin/bash
# CoOp few-shot protocol (CoOp paper): seeds 1 2 3 (override with SEEDS="1 2") on one dataset.
# Usage: DATA=/path/to/datasets bash scripts/coop/main.sh DATASET CFG CTP NCTX SHOTS CSC
#   e.g. bash scripts/coop/main.sh caltech101 rn50 end 16 16 False
#   CFG: configs/trainers/CoOp/<CFG>.yaml; CTP: end | middle | front; CSC: False | True.
# Output: ${OUTPUT}/<DATASET>/CoOp/<CFG>_<SHOTS>shots/nctx<NCTX>_csc<CSC>_ctp<CTP>/seed<SEED>; finished runs are skipped.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "$(dirname "$0")/common.sh"
script_args "DATASET CFG CTP NCTX SHOTS CSC" -eq 6 "$@"
TRAINER=CoOp
CFG=$2
CTP=$3
NCTX=$4
SHOTS=$5
CSC=$6
check_files "${DATASET}" "${TRAINER}" "${CFG}"

for SEED in ${SEEDS:-1 2 3}; do
    DIR=${OUTPUT}/${DATASET}/${TRAINER}/${CFG}_${SHOTS}shots/nctx${NCTX}_csc${CSC}_ctp${CTP}/seed${SEED}
    if finished run_finished "${DIR}"; then
        continue
    fi
    train_py "${DIR}" \
        TRAINER.COOP.N_CTX "${NCTX}" \
        TRAINER.COOP.CSC "${CSC}" \
        TRAINER.COOP.CLASS_TOKEN_POSITION "${CTP}" \
        DATASET.NUM_SHOTS "${SHOTS}"
done
