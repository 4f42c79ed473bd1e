"""Translation grids (the sample and result grids in the README's run-directory table), from posterior
means. A grid is a list of rows, each a batch of images; src_domain 0 gives the X2Y grids, 1 the Y2X
grids."""
import torch


def translation_rows(model, src, ref, src_domain, num_random=3, generator=None):
    """[src, reconstruction of ref, src -> other domain in ref's style, num_random x random style, ref]."""
    tgt = 1 - src_domain
    shared_src = model.shared_code(src, src_domain)[0]
    shared_ref = model.shared_code(ref, tgt)[0]
    style_ref = model.exclusive_code(ref, tgt)[0]
    rows = [src, model.decode(style_ref, shared_ref, tgt), model.decode(style_ref, shared_src, tgt)]
    for _ in range(num_random):
        noise = torch.randn(style_ref.shape, generator=generator).to(style_ref.device)
        rows.append(model.decode(noise, shared_src, tgt))
    rows.append(ref)
    return rows


def fixed_source_rows(model, fixed_src, ref, src_domain):
    """[fixed src, other domain with ref's style and fixed src's shared code, ref]."""
    n = min(fixed_src.shape[0], ref.shape[0])
    fixed_src, ref = fixed_src[:n], ref[:n]
    tgt = 1 - src_domain
    out = model.decode(model.exclusive_code(ref, tgt)[0], model.shared_code(fixed_src, src_domain)[0], tgt)
    return [fixed_src, out, ref]
