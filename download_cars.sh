#!/usr/bin/env bash
# Download the Cars data of Reed et al., NeurIPS 2015 ("Deep Visual Analogy-Making",
# nips2015-analogy-data.tar.gz): TARGET/car_NNN_mesh.mat (key `im`, H x W x 3 x 24 x 4) and
# TARGET/list.txt. Only the archive's cars/ folder is kept; its other data sets are dropped. The work is
# done by dataloader/download.py.
#
# Usage: bash download_cars.sh [TARGET]        (default TARGET: ./data/cars)
# Environment: IIAE_CARS_URL    archive URL (default: Scott Reed's page, then the old
#                               www-personal.umich.edu copy)
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" exec python3 -m dataloader.download download_cars.sh "$@"
