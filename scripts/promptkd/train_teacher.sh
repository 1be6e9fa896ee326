#!/bin/bash
# Train a PromptKD teacher with PromptSRC (ViT-L/14 recipe, 16 shots, base classes) and place its final
# (GPA) checkpoint where PromptKD looks for it:
#   ${TEACHER_ROOT:-teacher_model}/<DATASET.NAME>/VLPromptLearner/model-best.pth.tar
# Usage: DATA=/path/to/datasets bash scripts/promptkd/train_teacher.sh <dataset> <seed> [KEY VALUE ...]
# Environment: CFG (PromptSRC config name, default vit_l14_c2_ep20_batch8_4+4ctx), TEACHER_ROOT.
# Extra KEY VALUE pairs are passed to train.py (e.g. MODEL.CLIP_WEIGHTS_DIR /path/to/weights).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
script_args "<dataset> <seed> [KEY VALUE ...]" -ge 2 "$@"
shift 2
TRAINER=PromptSRC CFG=${CFG:-vit_l14_c2_ep20_batch8_4+4ctx} SHOTS=16 TEACHER_ROOT=${TEACHER_ROOT:-teacher_model}
DIR=output/teacher/${DATASET}/shots_${SHOTS}/${TRAINER}/${CFG}/seed${SEED}

NAME=$(sed -n 's/^ *NAME: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "configs/datasets/${DATASET}.yaml" | head -n 1)
if [ -z "${NAME}" ]; then
    echo "Cannot read DATASET.NAME from configs/datasets/${DATASET}.yaml" >&2
    exit 1
fi

if ! finished has_elapsed_log "${DIR}" "Finished teacher run found in ${DIR}"; then
    echo "Training the teacher; output in ${DIR}"
    train_py "${DIR}" DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES base "$@"
fi

LAST=$(ls "${DIR}/VLPromptLearner" | sed -n 's/^model\.pth\.tar-\([0-9]*\)$/\1/p' | sort -n | tail -n 1)
if [ -z "${LAST}" ]; then
    echo "No model.pth.tar-<N> in ${DIR}/VLPromptLearner" >&2
    exit 1
fi
DEST=${TEACHER_ROOT}/${NAME}/VLPromptLearner
mkdir -p "${DEST}"
cp "${DIR}/VLPromptLearner/model.pth.tar-${LAST}" "${DEST}/model-best.pth.tar.tmp"
mv "${DEST}/model-best.pth.tar.tmp" "${DEST}/model-best.pth.tar"
echo "Teacher placed at ${DEST}/model-best.pth.tar (from epoch ${LAST} of ${DIR})"
