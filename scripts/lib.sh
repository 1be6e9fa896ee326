# Functions shared by the scripts under scripts/<method>/ (sourced; it defines functions and PYTHON_CMD only).
#
# A script starts with `script_args USAGE OP N "$@"` (DATA, DATASET, SEED), sets TRAINER, CFG and SHOTS, then
# calls
#   skip_if_done CHECK DIR [MESSAGE]   exit 0 (after MESSAGE) when `CHECK DIR` finds a finished run there;
#   train_py DIR [ARG ...]             train.py for DATASET / SEED / TRAINER / CFG, writing to DIR;
#   eval_py DIR MODEL_DIR EPOCH [ARG ...]   the same, evaluating the model saved in MODEL_DIR at EPOCH;
#   test_b2n CHECK ROOT EPOCH          the base-to-new evaluation of the model `b2n_dir train_base ROOT` holds.
# train_unless_elapsed DIR [ARG ...] is the skip-or-train step of the PromptSRC-style training scripts.

# The interpreter that runs train.py (coop/common.sh sets it from PYTHON for the CoOp / CoCoOp scripts).
PYTHON_CMD=python

# check_argc ARGC OP N USAGE: unless [ ARGC OP N ], print "usage: <script> USAGE" to stderr and exit 2.
check_argc() {
    if ! [ "$1" "$2" "$3" ]; then
        echo "usage: $0 $4" >&2
        exit 2
    fi
}

# script_args USAGE OP N ARG...: the start of every scripts/<method>/*.sh: stop on errors, unset variables and
# failed pipes; unless [ ARGC OP N ], print the usage and exit 2; set DATA (default DATA), DATASET=$1, SEED=$2.
script_args() {
    set -euo pipefail
    local usage=$1 op=$2 n=$3
    shift 3
    check_argc $# "${op}" "${n}" "${usage}"
    DATA=${DATA:-DATA}
    DATASET=$1
    SEED=${2:-}
    CFG_FILE=""  # set by a script whose config is not configs/trainers/<TRAINER>/<CFG>.yaml
}

# b2n_dir SPLIT ROOT: the folder of a base-to-new run (SPLIT train_base, test_new or test_base) under ROOT,
# in the CoOp-family layout ROOT/base2new/SPLIT/DATASET/shots_SHOTS/TRAINER/CFG/seedSEED.
b2n_dir() {
    echo "$2/base2new/$1/${DATASET}/shots_${SHOTS}/${TRAINER}/${CFG}/seed${SEED}"
}

# test_b2n CHECK ROOT EPOCH: evaluate the model of `b2n_dir train_base ROOT` at EPOCH on the SUB classes (env,
# default new) into `b2n_dir test_SUB ROOT`; skipped (exit 0) when `CHECK DIR` finds that run finished.
test_b2n() {
    local check=$1 root=$2 epoch=$3 sub=${SUB:-new}
    local model_dir dir
    model_dir=$(b2n_dir train_base "${root}")
    dir=$(b2n_dir "test_${sub}" "${root}")
    skip_if_done "${check}" "${dir}"
    echo "Evaluating ${model_dir} (epoch ${epoch}) on the ${sub} classes; output in ${dir}"
    eval_py "${dir}" "${model_dir}" "${epoch}" DATASET.NUM_SHOTS "${SHOTS}" DATASET.SUBSAMPLE_CLASSES "${sub}"
}

# Checks for a finished run in a folder, for skip_if_done / finished.
# has_results DIR: train.py finished a run in DIR (finished.json, written only after a successful run, and no
# exceptions.txt). results.json alone is not enough: a best_val run rewrites it after every validation pass.
has_results() {
    [ -f "$1/finished.json" ] && [ ! -f "$1/exceptions.txt" ]
}

# has_elapsed_log DIR: a log file of DIR (log.txt or a rotated log.txt-*) ends a run with "Elapsed:".
has_elapsed_log() {
    grep -qs "^Elapsed:" "$1"/log.txt*
}

# has_accuracy_log DIR: DIR/log.txt reports an accuracy and train.py finished the run (has_results).
has_accuracy_log() {
    has_results "$1" && [ -f "$1/log.txt" ] && grep -q "accuracy:" "$1/log.txt"
}

# finished CHECK DIR [MESSAGE]: when `CHECK DIR` succeeds, print MESSAGE (default "Results are available in
# DIR, skipping") and succeed; fail otherwise.
finished() {
    if "$1" "$2"; then
        echo "${3:-Results are available in $2, skipping}"
        return 0
    fi
    return 1
}

# skip_if_done CHECK DIR [MESSAGE]: exit 0 when `finished CHECK DIR [MESSAGE]` does.
skip_if_done() {
    if finished "$@"; then
        exit 0
    fi
}

# train_py DIR [ARG ...]: run train.py on DATA / SEED / DATASET with trainer TRAINER and its config CFG
# (configs/trainers/<TRAINER>/<CFG>.yaml, or the file CFG_FILE when set), writing to DIR; the ARGs follow
# --output-dir.
train_py() {
    local dir=$1
    shift
    ${PYTHON_CMD} train.py \
        --root "${DATA}" \
        --seed "${SEED}" \
        --trainer "${TRAINER}" \
        --dataset-config-file "configs/datasets/${DATASET}.yaml" \
        --config-file "${CFG_FILE:-configs/trainers/${TRAINER}/${CFG}.yaml}" \
        --output-dir "${dir}" \
        "$@"
}

# eval_py DIR MODEL_DIR EPOCH [ARG ...]: train_py DIR, evaluating only the model of MODEL_DIR at EPOCH
# (-1: the last saved one).
eval_py() {
    local dir=$1 model_dir=$2 epoch=$3
    shift 3
    train_py "${dir}" --model-dir "${model_dir}" --load-epoch "${epoch}" --eval-only "$@"
}

# train_unless_elapsed DIR [ARG ...]: skip (exit 0) when a log of DIR ended its run; otherwise announce the
# run and train_py DIR [ARG ...].
train_unless_elapsed() {
    skip_if_done has_elapsed_log "$1" "Finished run found in $1, skipping"
    echo "Run this job and save the output to $1"
    train_py "$@"
}

# capt_repo_cfg TRAINER: print the default config of a trainer of the CaPT repository's base-to-new protocol;
# for an unknown trainer, say so on stderr and exit 1.
capt_repo_cfg() {
    case "$1" in
        UCPDAPT | DAPT) echo vit_b16_ep10_batch4 ;;
        UCPCoOp | UCPKgCoOp | UCPProGrad | UCPKgCoOpDePT | CoOp | KgCoOp | ProGrad | KgCoOpDePT) echo vit_b16_ep10_ctx_batch4 ;;
        *) echo "Unknown CaPT-repository trainer '$1'" >&2; exit 1 ;;
    esac
}
