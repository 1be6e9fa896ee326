#!/bin/bash
# PromptSRC base-to-new, evaluating the epoch-20 (GPA) model of base2new_train.sh on the new classes.
# Usage: DATA=/path/to/datasets bash scripts/promptsrc/base2new_test.sh <dataset> <seed>
set -euo pipefail

DATA=${DATA:-DATA}
TRAINER=PromptSRC
DATASET=$1
SEED=$2

CFG=vit_b16_c2_ep20_batch4_4+4ctx
SHOTS=16
LOADEP=20
SUB=new
COMMON_DIR=${DATASET}/shots_${SHOTS}/${TRAINER}/${CFG}/seed${SEED}
MODEL_DIR=output/base2new/train_base/${COMMON_DIR}
DIR=output/base2new/test_${SUB}/${COMMON_DIR}

if [ -f "${DIR}/results.json" ]; then
    echo "Results are available in ${DIR}, skipping"
    exit 0
fi
echo "Evaluating ${MODEL_DIR} (epoch ${LOADEP}) on the ${SUB} classes; output in ${DIR}"
python train.py \
    --root "${DATA}" \
    --seed "${SEED}" \
    --trainer ${TRAINER} \
    --dataset-config-file "configs/datasets/${DATASET}.yaml" \
    --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
    --output-dir "${DIR}" \
    --model-dir "${MODEL_DIR}" \
    --load-epoch ${LOADEP} \
    --eval-only \
    DATASET.NUM_SHOTS ${SHOTS} \
    DATASET.SUBSAMPLE_CLASSES ${SUB}
