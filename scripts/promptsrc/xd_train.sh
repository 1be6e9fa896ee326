#!/bin/bash
# PromptSRC cross-dataset: train on ImageNet (16 shots, all classes); evaluate with xd_test.sh.
# Usage: DATA=/path/to/datasets bash scripts/promptsrc/xd_train.sh imagenet <seed>
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
script_args "imagenet <seed>" -ge 2 "$@"
TRAINER=PromptSRC CFG=vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets SHOTS=16
train_unless_elapsed "output/${DATASET}/${TRAINER}/${CFG}_${SHOTS}shots/seed${SEED}" DATASET.NUM_SHOTS ${SHOTS}
