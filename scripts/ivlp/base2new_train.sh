#!/bin/bash
# IVLP base-to-new, training on the base classes (16 shots).
# Usage: DATA=/path/to/datasets bash scripts/ivlp/base2new_train.sh <dataset> <seed>
# A run whose log already ends with its elapsed time is skipped; an interrupted one resumes.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
script_args "<dataset> <seed>" -ge 2 "$@"
TRAINER=IVLP CFG=vit_b16_c2_ep20_batch8_4+4ctx SHOTS=16
train_unless_elapsed "$(b2n_dir train_base output)" DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES base
