#!/bin/bash
# CoOp base-to-new (CoCoOp paper protocol): train on the base classes with 16 shots.
# Usage: DATA=/path/to/datasets bash scripts/coop/base2new_train.sh DATASET SEED [CFG]
#   CFG default: vit_b16_ctxv1 (vit_b16_ep50_ctxv1 for imagenet); also vit_b16_ep10_ctx_batch4 (CaPT re-run),
#   vit_b16_ep10_bs4_lr35 (DePT re-run).
# Output: ${OUTPUT}/base2new/train_base/<DATASET>/shots_16/CoOp/<CFG>/seed<SEED>; a finished run is skipped.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
DATA=${DATA:-DATA}
if [ -d "${DATA}" ]; then DATA=$(cd "${DATA}" && pwd); fi  # the script runs from the repository root
cd "$(dirname "$0")/../.."
source scripts/coop/common.sh
check_argc $# -ge 2 "DATASET SEED [CFG]"
TRAINER=CoOp
DATASET=$1
SEED=$2
CFG=${3:-${CFG:-$(default_cfg ${TRAINER} "${DATASET}")}}
SHOTS=16
check_files "${DATASET}" "${TRAINER}" "${CFG}"
DIR=${OUTPUT}/base2new/train_base/${DATASET}/shots_${SHOTS}/${TRAINER}/${CFG}/seed${SEED}

skip_if_done run_finished "${DIR}"
train_py "${DIR}" DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES base
