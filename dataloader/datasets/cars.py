"""`Cars` (Reed et al., NeurIPS 2015), as written by `python -m dataloader.preprocess_cars`:
`<split>X/` and `<split>Y/` with the same file names `car_NNN_eE_aAA.png`, X the front view
(azimuth 0) and Y azimuth AA of the same car and elevation E."""
import os

from dataloader.base import PairDataset, pair_by_name
from dataloader.registry import register
from utils.errors import UserError


@register("Cars", what="X = front view, Y = another of 23 azimuths of the same car and elevation (Reed et al. 2015)",
          get="`bash download_cars.sh ./data/cars`, then `python -m dataloader.preprocess_cars --raw ./data/cars "
              "--out ./data/cars` (needs `pip install scipy`; official split: car ids 1-191 train, 192-199 test)")
def build(root, split, resolution, data_options, train, traits):
    folders = [os.path.join(root, split + domain) for domain in ("X", "Y")]
    for folder in folders:
        if not os.path.isdir(folder):
            raise UserError(f"Cars: {folder} not found; make it with "
                            f"python -m dataloader.preprocess_cars --raw <folder of .mat files> --out {root}")
    return PairDataset(*pair_by_name(*folders), resolution, traits)
