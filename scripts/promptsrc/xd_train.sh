#!/bin/bash
# PromptSRC cross-dataset: train on ImageNet (16 shots, all classes); evaluate with xd_test.sh.
# Usage: DATA=/path/to/datasets bash scripts/promptsrc/xd_train.sh imagenet <seed>
set -euo pipefail

DATA=${DATA:-DATA}
TRAINER=PromptSRC
DATASET=$1
SEED=$2

CFG=vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets
SHOTS=16
DIR=output/${DATASET}/${TRAINER}/${CFG}_${SHOTS}shots/seed${SEED}

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
    DATASET.NUM_SHOTS ${SHOTS}
