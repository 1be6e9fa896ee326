#!/usr/bin/env bash
# Make Fashion-MNIST, the source of the toy world, available before anything is installed, and print the
# folder holding its four IDX files (the only line on stdout; progress goes to stderr):
#
#   FASHION_MNIST_DIR="$(bash tools/provide_fashion_mnist.sh [DATA_ROOT])"    # DATA_ROOT default: DATA
#
# Tried in order:
#   1. FASHION_MNIST_DIR, when set (it must hold the files);
#   2. the Debian/Ubuntu package dataset-fashion-mnist, installed with apt-get when missing (as root, or
#      through password-less sudo), as CI does;
#   3. <DATA_ROOT>/FashionMNIST/raw, torchvision's download folder, downloaded there from torchvision's
#      mirror when the machine is online.
# Otherwise one line says what to do and the exit status is 1.
# Settings, for other systems and for tests: FMNIST_DEBIAN_DIR (the package's folder), FMNIST_APT_GET (the
# apt-get command; empty: no package install), FMNIST_MIRROR (download base URL; empty: no download),
# PYTHON (the interpreter of the download, default python3; the standard library is enough).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # started by sh (dash): re-run under bash
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_ROOT="${1:-DATA}"
DEBIAN_DIR="${FMNIST_DEBIAN_DIR-/usr/share/datasets/fashion-mnist}"
APT_GET="${FMNIST_APT_GET-apt-get}"
PYTHON="${PYTHON:-python3}"
STEMS=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

log() { echo "[fashion-mnist] $*" >&2; }

# has_files DIR: DIR holds the four IDX files (gzip-compressed or not).
has_files() {
    local stem
    for stem in "${STEMS[@]}"; do
        [[ -f "$1/${stem}.gz" || -f "$1/${stem}" ]] || return 1
    done
}

found() {
    (cd "$1" && pwd)
    exit 0
}

if [[ -n "${FASHION_MNIST_DIR:-}" ]]; then
    has_files "${FASHION_MNIST_DIR}" && found "${FASHION_MNIST_DIR}"
    echo "FASHION_MNIST_DIR=${FASHION_MNIST_DIR} does not hold the four Fashion-MNIST files ${STEMS[*]} (.gz or not)" >&2
    exit 1
fi

has_files "${DEBIAN_DIR}" && found "${DEBIAN_DIR}"
RAW_DIR="${DATA_ROOT}/FashionMNIST/raw"
has_files "${RAW_DIR}" && found "${RAW_DIR}"

# apt_install: install the Debian package when apt-get can run with root rights here, without a password.
apt_install() {
    local sudo=()
    [[ -n "${APT_GET}" ]] && command -v "${APT_GET}" >/dev/null 2>&1 || return 1
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null || return 1
        sudo=(sudo -n)
    fi
    log "installing the Debian package dataset-fashion-mnist"
    { ${sudo[@]+"${sudo[@]}"} "${APT_GET}" update -qq \
        && DEBIAN_FRONTEND=noninteractive ${sudo[@]+"${sudo[@]}"} "${APT_GET}" install -y -qq dataset-fashion-mnist
    } >&2
}

if apt_install && has_files "${DEBIAN_DIR}"; then
    found "${DEBIAN_DIR}"
fi

MIRROR=()  # unset FMNIST_MIRROR: torchvision's mirror (download_raw.py's default)
[[ -n "${FMNIST_MIRROR:-}" ]] && MIRROR=(--mirror "${FMNIST_MIRROR}")
if [[ "${FMNIST_MIRROR-default}" != "" ]] && command -v "${PYTHON}" >/dev/null 2>&1; then
    log "downloading into ${RAW_DIR}"
    if "${PYTHON}" "${REPO}/tools/toy_world/download_raw.py" "${RAW_DIR}" ${MIRROR[@]+"${MIRROR[@]}"} \
        && has_files "${RAW_DIR}"; then
        found "${RAW_DIR}"
    fi
fi

echo "Fashion-MNIST (the toy world's data) is missing and could not be installed or downloaded here: run" \
     "'sudo apt-get install dataset-fashion-mnist', or set FASHION_MNIST_DIR to a folder holding its four" \
     "IDX files, then run this command again." >&2
exit 1
