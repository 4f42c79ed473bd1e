#!/usr/bin/env bash
# Download AFHQ (StarGAN v2, Choi et al. 2020) into TARGET/afhq/{train,val}/{cat,dog,wild}/*.jpg.
# The first argument names the dataset, as in StarGAN v2's download.sh; only afhq-dataset is
# offered here.
#
# Usage: bash download.sh afhq-dataset [TARGET]        (default TARGET: ./data)
# Environment: IIAE_AFHQ_URL    archive URL (default: StarGAN v2's Dropbox link)
#              IIAE_DOWNLOADER  curl or wget (default: curl if installed, else wget)
set -euo pipefail

# shellcheck source=utils/download_lib.sh
source "$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)/utils/download_lib.sh"

# StarGAN v2's link with dl=1 (send the file itself rather than Dropbox's preview page).
DEFAULT_URL="https://www.dropbox.com/s/t9l9o3vsx2jai3z/afhq.zip?dl=1"

USAGE="bash $IIAE_PROG afhq-dataset [TARGET]"
usage() {
    printf 'Usage: bash %s afhq-dataset [TARGET]   (default TARGET: ./data)\n' "$IIAE_PROG"
    printf 'Downloads AFHQ into TARGET/afhq/{train,val}/{cat,dog,wild}. Set IIAE_AFHQ_URL to use another URL.\n'
}

# A complete AFHQ folder has train/ and val/, each with cat/ and dog/ (and wild/, unused here).
afhq_layout() {
    [[ -d $1/train/cat && -d $1/train/dog && -d $1/val/cat && -d $1/val/dog ]]
}

case "${1:-}" in
    -h | --help) usage; exit 0 ;;
    afhq-dataset) ;;
    "") iiae_usage_error "no dataset named (the only one offered is afhq-dataset)" "$USAGE" ;;
    *) iiae_usage_error "unknown dataset '$1' (the only one offered is afhq-dataset)" "$USAGE" ;;
esac
(($# <= 2)) || iiae_usage_error "too many arguments" "$USAGE"

target=${2:-./data}
iiae_install_dataset "AFHQ" "afhq.zip" "$target" "$target/afhq" afhq_layout "${IIAE_AFHQ_URL:-$DEFAULT_URL}"
