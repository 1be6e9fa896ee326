#!/bin/bash
# PromptSRC cross-dataset: evaluate the ImageNet model of xd_train.sh (epoch 20) on another dataset.
# Usage: DATA=/path/to/datasets bash scripts/promptsrc/xd_test.sh <dataset> <seed>
set -euo pipefail

DATA=${DATA:-DATA}
TRAINER=PromptSRC
DATASET=$1
SEED=$2

CFG=vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets
SHOTS=16
MODEL_DIR=output/imagenet/${TRAINER}/${CFG}_${SHOTS}shots/seed${SEED}
DIR=output/evaluation/${TRAINER}/${CFG}_${SHOTS}shots/${DATASET}/seed${SEED}

if [ -f "${DIR}/results.json" ]; then
    echo "Results are available in ${DIR}, skipping"
    exit 0
fi
echo "Evaluating ${MODEL_DIR} on ${DATASET}; output in ${DIR}"
python train.py \
    --root "${DATA}" \
    --seed "${SEED}" \
    --trainer ${TRAINER} \
    --dataset-config-file "configs/datasets/${DATASET}.yaml" \
    --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
    --output-dir "${DIR}" \
    --model-dir "${MODEL_DIR}" \
    --load-epoch 20 \
    --eval-only
