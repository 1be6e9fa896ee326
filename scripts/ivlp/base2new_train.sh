#!/bin/bash
# IVLP base-to-new, training on the base classes (16 shots).
# Usage: DATA=/path/to/datasets bash scripts/ivlp/base2new_train.sh <dataset> <seed>
# A run whose log already ends with its elapsed time is skipped; an interrupted one resumes.
set -euo pipefail

DATA=${DATA:-DATA}
TRAINER=IVLP
DATASET=$1
SEED=$2

CFG=vit_b16_c2_ep20_batch8_4+4ctx
SHOTS=16
DIR=output/base2new/train_base/${DATASET}/shots_${SHOTS}/${TRAINER}/${CFG}/seed${SEED}

if grep -qs "^Elapsed:" "${DIR}"/log.txt*; then
    echo "Finished run found in ${DIR}, skipping"
    exit 0
fi
echo "Run this job and save the output to ${DIR}"
python train.py \
    --root "${DATA}" \
    --seed "${SEED}" \
    --trainer ${TRAINER} \
    --dataset-config-file "configs/datasets/${DATASET}.yaml" \
    --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
    --output-dir "${DIR}" \
    DATASET.NUM_SHOTS ${SHOTS} \
    DATASET.SUBSAMPLE_CLASSES base
