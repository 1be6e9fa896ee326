#!/bin/bash
# PromptKD cross-dataset: distil the ImageNet teacher (teacher_model/ImageNet-xd/VLPromptLearner_large/
# model.pth.tar-20) on the unlabelled train images of the target dataset, all classes.
# Usage: DATA=/path/to/datasets bash scripts/promptkd/xd_train.sh <dataset> <seed>
set -euo pipefail

DATA=${DATA:-DATA}
TRAINER=PromptKD
DATASET=$1
SEED=$2

CFG=vit_b16_c2_ep20_batch8_4+4ctx_cross_datasets
SHOTS=0
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
    DATASET.NUM_SHOTS ${SHOTS} \
    DATASET.SUBSAMPLE_CLASSES all \
    TRAINER.PROMPTKD.TEMPERATURE 1.0 \
    TRAINER.PROMPTKD.KD_WEIGHT 1000.0 \
    TRAINER.MODAL cross
