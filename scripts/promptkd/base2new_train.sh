#!/bin/bash
# PromptKD base-to-novel: distil the teacher in teacher_model/<DATASET.NAME>/ into a ViT-B/16 student on the
# unlabelled train images of all classes; the log reports base accuracy per epoch (split "val") and the
# best-val model's new-class accuracy at the end (split "test").
# KD weight: 1000 as in the upstream script; the paper used 200 for fgvc_aircraft, oxford_flowers and dtd
# (set KD_WEIGHT=200 in the environment for those).
# Usage: DATA=/path/to/datasets bash scripts/promptkd/base2new_train.sh <dataset> <seed>
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
script_args "<dataset> <seed>" -ge 2 "$@"
TRAINER=PromptKD CFG=vit_b16_c2_ep20_batch8_4+4ctx SHOTS=0
# seed_<N>: the folder name of the upstream script
train_unless_elapsed "output/base2new/train_base/${DATASET}/shots_${SHOTS}/${TRAINER}/${CFG}/seed_${SEED}" \
    DATASET.NUM_SHOTS ${SHOTS} TRAINER.MODAL base2novel \
    TRAINER.PROMPTKD.TEMPERATURE 1.0 TRAINER.PROMPTKD.KD_WEIGHT "${KD_WEIGHT:-1000.0}"
