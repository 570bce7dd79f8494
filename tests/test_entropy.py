import math

import torch

from c3codec.config import EntropyConfig
from c3codec.model.entropy import causal_offsets, gather_offsets, grid_contexts, laplace_bits


def test_causal_offsets_are_the_decoded_neighbours():
    offs = causal_offsets(7)
    assert len(offs) == 24 and len(set(offs)) == 24
    assert all(di < 0 or (di == 0 and dj < 0) for di, dj in offs)
    assert len(causal_offsets(5)) == 12


def test_gather_matches_masked_convolution_and_has_exact_gradient():
    torch.manual_seed(0)
    grids = [torch.randn(6, 9, dtype=torch.float64, requires_grad=True),
             torch.randn(3, 5, dtype=torch.float64, requires_grad=True)]
    offs = causal_offsets(5)
    ctx = gather_offsets(grids, offs)
    assert ctx.shape == (12, 6 * 9 + 3 * 5)
    g = grids[0].detach()
    for t, (di, dj) in enumerate(offs):
        for i in range(6):
            for j in range(9):
                inside = 0 <= i + di < 6 and 0 <= j + dj < 9
                value = g[i + di, j + dj] if inside else 0.0
                assert ctx[t, i * 9 + j] == value
    assert torch.autograd.gradcheck(lambda a, b: gather_offsets([a, b], offs), tuple(grids))


def test_prev_grid_contexts_have_extra_inputs():
    grids = [torch.randn(8, 8), torch.randn(4, 4)]
    ctx = grid_contexts(grids, EntropyConfig(use_prev_grid=True))
    assert ctx.shape == (24 + 9, 80)
    assert torch.count_nonzero(ctx[24:, :64]) == 0  # finest grid has no previous grid


def test_laplace_bits_matches_direct_integral():
    mu = torch.tensor([0.0, 0.3, -2.2, 5.0], dtype=torch.float64)
    scale = torch.tensor([0.5, 2.0, 0.05, 30.0], dtype=torch.float64)
    x = torch.tensor([0.0, 4.0, -2.0, -7.0], dtype=torch.float64)

    def cdf(v, m, b):
        return 0.5 * math.exp((v - m) / b) if v < m else 1 - 0.5 * math.exp(-(v - m) / b)

    for xi, mi, bi, bits in zip(x, mu, scale, laplace_bits(x, mu, scale)):
        p = cdf(float(xi) + 0.5, float(mi), float(bi)) - cdf(float(xi) - 0.5, float(mi), float(bi))
        assert math.isclose(float(bits), -math.log2(max(p, 2**-24)), rel_tol=1e-9)
