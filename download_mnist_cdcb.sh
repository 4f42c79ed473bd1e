#!/usr/bin/env bash
# Download MNIST-CDCB (Gonzalez-Garcia et al., NeurIPS 2018): TARGET/train/ and TARGET/test/ of 512x256
# PNGs (left half: white digit on a coloured background; right half: coloured digit on black). The work
# is done by dataloader/download.py. Afterwards `python -m dataloader.preprocess_mnist` can split them
# into X and Y as the seed did (the MNIST-CDCB dataset also reads them as they are).
#
# Usage: bash download_mnist_cdcb.sh [TARGET]        (default TARGET: ./MNIST-CDCB)
# Environment: IIAE_MNIST_CDCB_URL  archive URL (default: the authors' CVC server)
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" exec python3 -m dataloader.download download_mnist_cdcb.sh "$@"
