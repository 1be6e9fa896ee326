#!/bin/bash
# PromptKD cross-dataset: distil the ImageNet teacher (teacher_model/ImageNet-xd/VLPromptLearner_large/
# model.pth.tar-20) on the unlabelled train images of the target dataset, all classes.
# Usage: DATA=/path/to/datasets bash scripts/promptkd/xd_train.sh <dataset> <seed>
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
script_args "<dataset> <seed>" -ge 2 "$@"
TRAINER=PromptKD CFG=vit_b16_c2_ep20_batch8_4+4ctx_cross_datasets SHOTS=0
train_unless_elapsed "output/${DATASET}/${TRAINER}/${CFG}_${SHOTS}shots/seed${SEED}" \
    DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES all \
    TRAINER.PROMPTKD.TEMPERATURE 1.0 TRAINER.PROMPTKD.KD_WEIGHT 1000.0 TRAINER.MODAL cross
