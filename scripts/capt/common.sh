# Shared settings of the CAPT scripts (sourced). Usage of each script: <script> DATASET SEED
# DATASET is the name of a configs/datasets/*.yaml file (e.g. caltech101); DATA (env) is the data root.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
script_args "DATASET SEED   (DATASET: a configs/datasets/<name>.yaml; DATA=<data root> in the env)" -ge 2 "$@"
DATASET_CFG=configs/datasets/${DATASET}.yaml
if [ ! -f "${DATASET_CFG}" ]; then
    echo "unknown dataset ${DATASET}: ${DATASET_CFG} does not exist" >&2
    exit 2
fi
DATASET_NAME=$(sed -n 's/^ *NAME: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "${DATASET_CFG}" | head -n 1)
KD_WEIGHT=${KD_WEIGHT:-1000.0}
STAGE1_CFG=vit_b16_c2_ep20_batch32_4+4ctx
STAGE2_CFG=vit_b16_c2_ep20_batch4_4+4ctx
STAGE1_DIR=output/PromptKD/base2new/train_base/${DATASET}/1_PromptKD_baseline/${STAGE1_CFG}/seed${SEED}
STAGE2_DIR=output/PromptKD/base2new/train_base/${DATASET}/3_SPLE_converse/${STAGE2_CFG}_con20/seed${SEED}
NEW_DIR=output/PromptKD/base2new/test_new/${DATASET}/3_SPLE_converse/${STAGE2_CFG}_con20/seed${SEED}
# The options every CAPT stage passes after its own.
PROMPTKD_OPTS=(TRAINER.MODAL base2novel TRAINER.PROMPTKD.TEMPERATURE 1.0 TRAINER.PROMPTKD.KD_WEIGHT "${KD_WEIGHT}")
STAGE1_OPTS=(SPLE.BACK_CKPT_PATH "${STAGE1_DIR}" SPLE.BACK_CKPT_EPOCH 20)
