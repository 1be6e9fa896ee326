#!/bin/bash
# CoOp base-to-new (CoCoOp paper protocol): train on the base classes with 16 shots.
# Usage: DATA=/path/to/datasets bash scripts/coop/base2new_train.sh DATASET SEED [CFG]
#   CFG default: vit_b16_ctxv1 (vit_b16_ep50_ctxv1 for imagenet); also vit_b16_ep10_ctx_batch4 (CaPT re-run),
#   vit_b16_ep10_bs4_lr35 (DePT re-run).
# Output: ${OUTPUT}/base2new/train_base/<DATASET>/shots_16/CoOp/<CFG>/seed<SEED>; a finished run is skipped.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "$(dirname "$0")/../coop/common.sh"
script_args "DATASET SEED [CFG]" -ge 2 "$@"
TRAINER=CoOp
coop_cfg "${3:-}"
skip_if_done run_finished "$(b2n_dir train_base "${OUTPUT}")"
train_py "$(b2n_dir train_base "${OUTPUT}")" DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES base
