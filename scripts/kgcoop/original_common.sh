# Shared start of scripts/kgcoop/original_base2new_{train,test}.sh (sourced after the sh guard, with the
# script's arguments DATASET SEED [W]): the CoOp scripts' helpers, the original KgCoOp repository's settings
# (TRAINER, CFG, SHOTS, WEIGHT) and RUN, the run's folder below base2new/<split>/.
source "$(dirname "${BASH_SOURCE[0]}")/../coop/common.sh"
script_args "DATASET SEED [W]" -ge 2 "$@"
TRAINER=KgCoOp
CFG=vit_b16_ep100_ctxv1
SHOTS=16
WEIGHT=${3:-8.0}
check_files "${DATASET}" "${TRAINER}" "${CFG}"
RUN=${DATASET}/shots_${SHOTS}_${WEIGHT}/${TRAINER}/${CFG}/seed${SEED}
# The original scripts' prompt options (the loss weight is passed only when training).
PROMPT_OPTS=(TRAINER.COOP.N_CTX 4 TRAINER.COOP.CSC False TRAINER.COOP.CLASS_TOKEN_POSITION end)
