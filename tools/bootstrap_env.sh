#!/usr/bin/env bash
# Create (or reuse) the project's Python environment and install requirements-dev.txt into it.
#
#   bash tools/bootstrap_env.sh            -> uses <repo>/.venv, created with `python3 -m venv` if missing
#   VENV=/path/to/venv bash tools/bootstrap_env.sh   -> reuses that environment when it exists
#
# Progress goes to stderr; the only line on stdout is the environment's directory, so other
# scripts can do: VENV_DIR="$(bash tools/bootstrap_env.sh)".
# Requirements are only (re)installed when requirements*.txt changed since the last run. The versions are
# those of requirements-lock.txt (pip constraints); BOOTSTRAP_LOCK=0 installs the ranges of requirements.txt.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"

log() { echo "[bootstrap] $*" >&2; }

if [[ -n "${VENV:-}" && -x "${VENV}/bin/python" ]]; then
    VENV_DIR="$(cd "${VENV}" && pwd)"
    log "reusing the environment given by VENV: ${VENV_DIR}"
else
    if [[ -n "${VENV:-}" ]]; then
        log "VENV=${VENV} is not a virtual environment; using ${REPO}/.venv instead"
    fi
    VENV_DIR="${REPO}/.venv"
    if [[ ! -x "${VENV_DIR}/bin/python" ]]; then
        log "creating ${VENV_DIR} with ${PYTHON} -m venv"
        "${PYTHON}" -m venv "${VENV_DIR}"
    fi
fi

LOCK=()
case "${BOOTSTRAP_LOCK:-1}" in
    1) LOCK=(-c requirements-lock.txt) ;;
    0) ;;
    *) log "BOOTSTRAP_LOCK must be 1 (the versions of requirements-lock.txt) or 0 (the ranges), got '${BOOTSTRAP_LOCK}'"
       exit 2 ;;
esac

# TORCH_CUDA picks the PyTorch build for the machine's driver (e.g. cu126, cu128, cpu), installed first from
# PyTorch's own index at the locked version; unset: the default wheel of the package index.
TORCH_CUDA="${TORCH_CUDA:-}"
if [[ -n "${TORCH_CUDA}" && ! "${TORCH_CUDA}" =~ ^(cpu|cu[0-9]+|rocm[0-9.]+)$ ]]; then
    log "TORCH_CUDA must name a PyTorch build such as cu126, cu128 or cpu, got '${TORCH_CUDA}'"
    exit 2
fi

STAMP="${VENV_DIR}/.requirements-stamp"
WANT="$({ cat "${REPO}"/requirements*.txt; echo "lock=${#LOCK[@]} torch_cuda=${TORCH_CUDA}"; } \
        | sha256sum | cut -d' ' -f1)"
if [[ -f "${STAMP}" && "$(cat "${STAMP}")" == "${WANT}" ]]; then
    log "requirements already installed"
else
    if [[ -n "${TORCH_CUDA}" ]]; then
        log "installing torch and torchvision built for ${TORCH_CUDA}"
        (cd "${REPO}" && "${VENV_DIR}/bin/python" -m pip install --disable-pip-version-check \
            --index-url "https://download.pytorch.org/whl/${TORCH_CUDA}" ${LOCK[@]+"${LOCK[@]}"} \
            torch torchvision >&2)
    fi
    log "installing requirements-dev.txt ${LOCK[*]} (torch wheels are large: the first run takes a while)"
    (cd "${REPO}" && "${VENV_DIR}/bin/python" -m pip install --disable-pip-version-check \
        -r requirements-dev.txt ${LOCK[@]+"${LOCK[@]}"} >&2)
    echo "${WANT}" > "${STAMP}"
fi

echo "${VENV_DIR}"
