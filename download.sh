#!/usr/bin/env bash
# Download AFHQ (StarGAN v2, Choi et al. 2020) into TARGET/afhq/{train,val}/{cat,dog,wild}/*.jpg. The first
# argument names the dataset, as in StarGAN v2's download.sh; only afhq-dataset is offered here. The work
# (download, archive check, unpacking, moving into place) is done by dataloader/download.py.
#
# Usage: bash download.sh afhq-dataset [TARGET]        (default TARGET: ./data)
# Environment: IIAE_AFHQ_URL    archive URL (default: StarGAN v2's Dropbox link)
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" exec python3 -m dataloader.download download.sh "$@"
