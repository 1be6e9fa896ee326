#!/bin/bash
# PromptSRC base-to-new, evaluating the epoch-20 (GPA) model of base2new_train.sh on the new classes.
# Usage: DATA=/path/to/datasets bash scripts/promptsrc/base2new_test.sh <dataset> <seed>
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
script_args "<dataset> <seed>" -ge 2 "$@"
TRAINER=PromptSRC CFG=vit_b16_c2_ep20_batch4_4+4ctx SHOTS=16
SUB=new test_b2n has_results output 20
