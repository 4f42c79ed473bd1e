"""The rows of the sample grids (training) and result grids (test mode), drawn from an EvalBatch's own
codes and translations; a grid is a list of rows, each a batch of model-range images."""
import torch

from metrics.evaluation import EvalBatch

GRID_RANDOM_STYLES = 3


def model_range(images):
    return images * 2 - 1


def translation_grid(batch, src_domain, num_random=GRID_RANDOM_STYLES):
    """[src, reconstruction of its partner, src in its partner's style, num_random random styles, partner]."""
    tgt = 1 - src_domain
    reconstruction = batch.model.decode(batch.code("exclusive", tgt), batch.code("shared", tgt), tgt)
    return [batch.sources[src_domain], reconstruction, model_range(batch.translation(src_domain, "partner")),
            *model_range(batch.random_translations(src_domain, num_random)), batch.sources[tgt]]


def fixed_source_grid(fixed, batch, src_domain):
    """[fixed src, the other domain in the style of this batch's partners with fixed src's shared code,
    those partners]."""
    tgt = 1 - src_domain
    shared = fixed.code("shared", src_domain)
    n = min(len(shared), len(batch))
    out = batch.model.decode(batch.code("exclusive", tgt)[:n], shared[:n], tgt)
    return [fixed.sources[src_domain][:n], out, batch.sources[tgt][:n]]


def sample_batch(model, x, y, seed):
    """The fixed pairs of the sample grids as an EvalBatch (their own partners as references), with the
    grid's random styles drawn from `seed`; call inside models.iiae.evaluating."""
    return EvalBatch(model, None, x, y, x, y, [""] * len(x), torch.Generator().manual_seed(seed),
                     num_random=GRID_RANDOM_STYLES)
