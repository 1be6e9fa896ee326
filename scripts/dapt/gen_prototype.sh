#!/bin/bash
# DAPT / UCPDAPT prerequisite: write the class prototypes of <dataset> for <seed> (16 shots) next to its
# few-shot cache (<DATA>/<dataset folder>/split_fewshot/shot_16-seed_<seed>_prototype.pkl). The run builds
# the model, writes the file and exits without training.
# Usage: DATA=/path/to/datasets bash scripts/dapt/gen_prototype.sh <dataset> <seed>
# Environment: DATA (default DATA), OUTPUT (output root, default output), EXTRA_OPTS (more KEY VALUE
# overrides), CFG (default vit_b16_ep10_batch4).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
script_args "<dataset> <seed>" -ge 2 "$@"
TRAINER=DAPT CFG=${CFG:-vit_b16_ep10_batch4} SHOTS=16
train_py "${OUTPUT:-output}/prototype/DAPT/${DATASET}/shots${SHOTS}/${CFG}/seed${SEED}" \
    DATASET.NUM_SHOTS ${SHOTS} TRAINER.DAPT.PROTOTYPE_GEN True ${EXTRA_OPTS:-}
