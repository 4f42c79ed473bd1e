#!/usr/bin/env bash
# Download the Cars data of Reed et al., NeurIPS 2015 ("Deep Visual Analogy-Making",
# nips2015-analogy-data.tar.gz): TARGET/car_NNN_mesh.mat (key `im`, H x W x 3 x 24 x 4) and
# TARGET/list.txt. Only the archive's cars/ folder is kept; its other data sets are dropped.
#
# Usage: bash download_cars.sh [TARGET]        (default TARGET: ./data/cars)
# Environment: IIAE_CARS_URL    archive URL (default: Scott Reed's page, then the old
#                               www-personal.umich.edu copy)
#              IIAE_DOWNLOADER  curl or wget (default: curl if installed, else wget)
set -euo pipefail

# shellcheck source=utils/download_lib.sh
source "$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)/utils/download_lib.sh"

DEFAULT_URLS=(
    "http://www.scottreed.info/files/nips2015-analogy-data.tar.gz"
    "http://www-personal.umich.edu/~reedscot/files/nips2015-analogy-data.tar.gz"
)

USAGE="bash $IIAE_PROG [TARGET]"
usage() {
    printf 'Usage: bash %s [TARGET]   (default TARGET: ./data/cars)\n' "$IIAE_PROG"
    printf 'Downloads the Cars data (car_NNN_mesh.mat files) into TARGET. Set IIAE_CARS_URL to use another URL.\n'
}

# A complete Cars folder holds the car_NNN_mesh.mat files.
cars_layout() {
    compgen -G "$1/car_*_mesh.mat" >/dev/null
}

case "${1:-}" in
    -h | --help) usage; exit 0 ;;
    -*) iiae_usage_error "unknown option $1" "$USAGE" ;;
esac
(($# <= 1)) || iiae_usage_error "too many arguments" "$USAGE"

target=${1:-./data/cars}
if [[ -n ${IIAE_CARS_URL:-} ]]; then
    urls=("$IIAE_CARS_URL")
else
    urls=("${DEFAULT_URLS[@]}")
fi
iiae_install_dataset "Cars" "nips2015-analogy-data.tar.gz" "$target" "$target" cars_layout "${urls[@]}"
