"""Infinite, resumable data order: epoch e is a permutation drawn from (seed, e), split across
processes, and every item comes with its own seed for random partners and augmentation. The order
from sample s onwards depends only on (seed, s), so resuming at iteration N replays exactly the
data an uninterrupted run would have seen."""
import torch
from torch.utils.data import Sampler


class ResumableSampler(Sampler):
    def __init__(self, size, seed, start=0, rank=0, world_size=1):
        self.size, self.seed, self.start = size, seed, start
        self.rank, self.world_size = rank, world_size
        # Every process gets the same number of items per epoch; a few wrap around.
        self.per_rank = -(-size // world_size)

    def _epoch(self, epoch):
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(self.size, generator=generator)
        order = torch.cat([order, order[:self.per_rank * self.world_size - self.size]])
        return order[self.rank::self.world_size].tolist()

    def __iter__(self):
        position = self.start
        while True:
            epoch, offset = divmod(position, self.per_rank)
            order = self._epoch(epoch)
            for i in range(offset, self.per_rank):
                global_position = (epoch * self.per_rank + i) * self.world_size + self.rank
                yield order[i], (self.seed * 1_000_003 + global_position) % (2 ** 63)
            position = (epoch + 1) * self.per_rank


def balanced_batches(size, batch_size):
    """Index batches of near-equal size covering 0..size-1 in order: none is a single item (unless
    size is 1), because BatchNorm with batch statistics cannot normalise one item."""
    count = max(1, -(-size // batch_size))
    if count > 1 and size // count < 2:
        count = max(1, size // 2)
    bounds = [round(i * size / count) for i in range(count + 1)]
    return [list(range(bounds[i], bounds[i + 1])) for i in range(count)]
