#!/usr/bin/env bash
# Download MNIST-CDCB (Gonzalez-Garcia et al., NeurIPS 2018): TARGET/train/ and TARGET/test/
# of 512x256 PNGs (left half: white digit on a coloured background; right half: coloured
# digit on black). Afterwards run dataloader's preprocessing to split them into X and Y.
#
# Usage: bash download_mnist_cdcb.sh [TARGET]        (default TARGET: ./MNIST-CDCB)
# Environment: IIAE_MNIST_CDCB_URL  archive URL (default: the authors' CVC server)
#              IIAE_DOWNLOADER      curl or wget (default: curl if installed, else wget)
set -euo pipefail

# shellcheck source=utils/download_lib.sh
source "$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)/utils/download_lib.sh"

DEFAULT_URL="http://www.cvc.uab.es/lamp/wp-content/shared_files/cross-domain-disen/MNIST-CDCB-256Ims.tar.gz"

USAGE="bash $IIAE_PROG [TARGET]"
usage() {
    printf 'Usage: bash %s [TARGET]   (default TARGET: ./MNIST-CDCB)\n' "$IIAE_PROG"
    printf 'Downloads MNIST-CDCB into TARGET/train and TARGET/test. Set IIAE_MNIST_CDCB_URL to use another URL.\n'
}

# A complete MNIST-CDCB folder has train/ and test/, each with PNGs.
mnist_cdcb_layout() {
    [[ -d $1/train && -d $1/test ]] && compgen -G "$1/train/*.png" >/dev/null \
        && compgen -G "$1/test/*.png" >/dev/null
}

case "${1:-}" in
    -h | --help) usage; exit 0 ;;
    -*) iiae_usage_error "unknown option $1" "$USAGE" ;;
esac
(($# <= 1)) || iiae_usage_error "too many arguments" "$USAGE"

target=${1:-./MNIST-CDCB}
iiae_install_dataset "MNIST-CDCB" "MNIST-CDCB-256Ims.tar.gz" "$target" "$target" \
    mnist_cdcb_layout "${IIAE_MNIST_CDCB_URL:-$DEFAULT_URL}"
