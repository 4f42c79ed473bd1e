"""Infinite, resumable data order. The stream of samples is the concatenation of permutations of
the dataset, epoch e drawn from (seed, e); global batch g holds stream positions
[g * B * W, (g + 1) * B * W) for batch size B per process and W processes, and process r takes
the r-th contiguous slice of it. Every item comes with its own seed (for random partners and
augmentation) derived from its stream position. So the data depend only on (seed, position):
resuming at iteration N replays exactly what an uninterrupted run would have seen, and W processes
see together exactly the batches one process with batch B * W would."""
import torch
from torch.utils.data import Sampler

SEED_STRIDE = 1_000_003


class ResumableSampler(Sampler):
    def __init__(self, size, seed, batch_size, start_iteration=0, rank=0, world_size=1):
        self.size, self.seed, self.batch_size = size, seed, batch_size
        self.start_iteration, self.rank, self.world_size = start_iteration, rank, world_size

    def _permutation(self, epoch):
        # A prime stride far above any epoch or position count keeps nearby config seeds' streams apart;
        # reduced so that any config seed, up to 2^64 - 1, makes a valid generator seed.
        seed = (self.seed * SEED_STRIDE + epoch) % (2 ** 63)
        return torch.randperm(self.size, generator=torch.Generator().manual_seed(seed))

    def __iter__(self):
        epoch, order = -1, None
        iteration = self.start_iteration
        while True:
            first = (iteration * self.world_size + self.rank) * self.batch_size
            for position in range(first, first + self.batch_size):
                if position // self.size != epoch:
                    epoch = position // self.size
                    order = self._permutation(epoch)
                yield int(order[position % self.size]), (self.seed * SEED_STRIDE + position) % (2 ** 63)
            iteration += 1


def balanced_batches(size, batch_size):
    """Index batches of near-equal size covering 0..size-1 in order: none is a single item (unless
    size is 1), because BatchNorm with batch statistics cannot normalise one item."""
    count = max(1, -(-size // batch_size))
    if count > 1 and size // count < 2:
        count = max(1, size // 2)
    bounds = [round(i * size / count) for i in range(count + 1)]
    return [list(range(bounds[i], bounds[i + 1])) for i in range(count)]
