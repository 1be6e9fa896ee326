#!/bin/bash
# KgCoOp base-to-new as the original KgCoOp repository runs it: evaluate the epoch-100 model of
# original_base2new_train.sh on the new classes.
# Usage: DATA=/path/to/datasets bash scripts/kgcoop/original_base2new_test.sh DATASET SEED [W]
#   W as in original_base2new_train.sh (it names the model folder); SUB=base re-evaluates on the base
#   classes; LOADEP overrides the epoch (default 100).
# Output: ${OUTPUT}/base2new/test_<SUB>/<DATASET>/shots_16_<W>/KgCoOp/vit_b16_ep100_ctxv1/seed<SEED>; a
# finished run is skipped.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "$(dirname "$0")/original_common.sh"
SUB=${SUB:-new}
DIR=${OUTPUT}/base2new/test_${SUB}/${RUN}
skip_if_done run_finished "${DIR}"
echo "Run this job and save the output to ${DIR}"
eval_py "${DIR}" "${OUTPUT}/base2new/train_base/${RUN}" "${LOADEP:-100}" "${PROMPT_OPTS[@]}" \
    DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES "${SUB}"
