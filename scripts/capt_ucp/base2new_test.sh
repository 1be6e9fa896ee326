#!/bin/bash
# CaPT (TRAINER=UCPCoOp|UCPKgCoOp|UCPProGrad|UCPDAPT|UCPKgCoOpDePT) base-to-new (CaPT protocol): evaluate the last-epoch model of base2new_train.sh on the new classes.
# Usage: [TRAINER=UCPKgCoOp] DATA=/path/to/datasets bash scripts/capt_ucp/base2new_test.sh <dataset> <seed> [trainer]
# Environment: DATA (default DATA), OUTPUT (output root, default output), EXTRA_OPTS (more KEY VALUE
# overrides), CFG (config stem; default vit_b16_ep10_batch4 for UCPDAPT,
# vit_b16_ep10_ctx_batch4 otherwise).
# Output: ${OUTPUT}/test_new/<trainer>/<dataset>/shots16/<cfg>/seed<seed>; a finished run is skipped.
set -euo pipefail

DATA=${DATA:-DATA}
OUTPUT=${OUTPUT:-output}
DATASET=$1
SEED=$2
TRAINER=${3:-${TRAINER:-UCPCoOp}}
case "${TRAINER}" in
    UCPDAPT | DAPT) DEFAULT_CFG=vit_b16_ep10_batch4 ;;
    UCPCoOp | UCPKgCoOp | UCPProGrad | UCPKgCoOpDePT | KgCoOp | ProGrad | KgCoOpDePT) DEFAULT_CFG=vit_b16_ep10_ctx_batch4 ;;
    *) echo "Unknown CaPT-repository trainer '${TRAINER}'" >&2; exit 1 ;;
esac
CFG=${CFG:-${DEFAULT_CFG}}
SHOTS=16
COMMON_DIR=${TRAINER}/${DATASET}/shots${SHOTS}/${CFG}/seed${SEED}
MODEL_DIR=${OUTPUT}/train_base/${COMMON_DIR}
DIR=${OUTPUT}/test_new/${COMMON_DIR}

if [ -f "${DIR}/log.txt" ] && grep -q "accuracy:" "${DIR}/log.txt"; then
    echo "Results are available in ${DIR}, skipping"
    exit 0
fi
python train.py \
    --root "${DATA}" \
    --seed "${SEED}" \
    --trainer "${TRAINER}" \
    --dataset-config-file "configs/datasets/${DATASET}.yaml" \
    --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
    --output-dir "${DIR}" \
    --model-dir "${MODEL_DIR}" \
    --load-epoch -1 \
    --eval-only \
    DATASET.NUM_SHOTS ${SHOTS} \
    DATASET.SUBSAMPLE_CLASSES new \
    ${EXTRA_OPTS:-}
