#!/bin/bash
# CoCoOp base-to-new (CoCoOp paper protocol): train on the base classes with 16 shots.
# Usage: DATA=/path/to/datasets bash scripts/cocoop/base2new_train.sh DATASET SEED
#   CFG (env) default vit_b16_c4_ep10_batch1_ctxv1; TRAINER=CoOp runs CoOp with its base-to-new config instead.
# Output: ${OUTPUT}/base2new/train_base/<DATASET>/shots_16/<TRAINER>/<CFG>/seed<SEED>; a finished run is skipped.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "$(dirname "$0")/../coop/common.sh"
script_args "DATASET SEED" -eq 2 "$@"
TRAINER=${TRAINER:-CoCoOp}
coop_cfg
skip_if_done run_finished "$(b2n_dir train_base "${OUTPUT}")"
train_py "$(b2n_dir train_base "${OUTPUT}")" DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES base
