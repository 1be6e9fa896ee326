# Shared start and helpers of the CoOp / CoCoOp scripts (sourced, as `source "$(dirname "$0")/../coop/common.sh"`):
# makes DATA absolute and changes to the repository root, where the scripts run.
# Environment: DATA (dataset root, default DATA), OUTPUT (output root, default output), PYTHON (default python).
# The run / skip functions (script_args, train_py, eval_py, skip_if_done, ...) come from scripts/lib.sh.
set -euo pipefail
DATA=${DATA:-DATA}
if [ -d "${DATA}" ]; then DATA=$(cd "${DATA}" && pwd); fi
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source scripts/lib.sh
OUTPUT=${OUTPUT:-output}
PYTHON=${PYTHON:-python}
PYTHON_CMD=${PYTHON}

# run_finished DIR: true when DIR holds a final test evaluation (results.json of the test split, or a log
# with the result block after "Finish training" / of an evaluation-only run).
run_finished() {
    local dir=$1
    if [ -f "${dir}/results.json" ] && grep -Eq '"split": *"test"' "${dir}/results.json"; then
        return 0
    fi
    grep -qs "^=> result" "${dir}"/log.txt*
}

# max_epoch CONFIG: OPTIM.MAX_EPOCH of a trainer YAML, following its _BASE_ files (the last epoch file of
# a run is model.pth.tar-<MAX_EPOCH>).
max_epoch() {
    local file=$1 value base
    while [ -n "${file}" ]; do
        value=$(sed -n 's/^ *MAX_EPOCH: *\([0-9][0-9]*\).*/\1/p' "${file}" | head -n 1)
        if [ -n "${value}" ]; then
            echo "${value}"
            return 0
        fi
        base=$(sed -n 's/^_BASE_: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "${file}" | head -n 1)
        if [ -n "${base}" ]; then file=$(dirname "${file}")/${base}; else file=""; fi
    done
    echo "no OPTIM.MAX_EPOCH in $1 or its _BASE_ files" >&2
    return 1
}

# coop_cfg [CFG_ARG] [CFG_DATASET]: SHOTS=16 and CFG = CFG_ARG, else CFG (env), else default_cfg of TRAINER for
# CFG_DATASET (default DATASET); then check_files.
coop_cfg() {
    SHOTS=16
    CFG=${1:-${CFG:-$(default_cfg "${TRAINER}" "${2:-${DATASET}}")}}
    check_files "${DATASET}" "${TRAINER}" "${CFG}"
}

# check_files DATASET TRAINER CFG: the dataset and trainer YAMLs exist.
check_files() {
    local f
    for f in "configs/datasets/$1.yaml" "configs/trainers/$2/$3.yaml"; do
        if [ ! -f "${f}" ]; then
            echo "missing config ${f}" >&2
            exit 2
        fi
    done
}

# default_cfg TRAINER DATASET: the published base-to-new / cross-dataset config of CoCoOp, or of CoOp
# (vit_b16_ctxv1; vit_b16_ep50_ctxv1 on ImageNet).
default_cfg() {
    case "$1" in
        CoCoOp) echo vit_b16_c4_ep10_batch1_ctxv1 ;;
        CoOp) if [ "$2" = imagenet ]; then echo vit_b16_ep50_ctxv1; else echo vit_b16_ctxv1; fi ;;
        *) echo "no default config for trainer '$1'; set CFG" >&2; return 1 ;;
    esac
}
