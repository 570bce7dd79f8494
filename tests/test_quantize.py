import torch

from c3codec.fitting.quantize import kumaraswamy_noise, quantize, soft_round, soft_round_inverse


def test_soft_round_limits_and_inverse():
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    near_int = torch.tensor([-2.1, -0.9, 0.2, 1.05, 2.95], dtype=torch.float64)
    assert torch.allclose(soft_round(near_int, 0.01), torch.round(near_int), atol=1e-6)
    assert torch.allclose(soft_round(x, 1e3), x, atol=1e-3)  # large T: identity
    for t in (0.1, 0.3, 1.0):
        assert torch.allclose(soft_round_inverse(soft_round(x, t), t), x, atol=1e-6)


def test_kumaraswamy_noise_range_and_shape():
    g = torch.Generator().manual_seed(0)
    uniform = kumaraswamy_noise(torch.Size([200000]), 1.0, g, torch.device("cpu"))
    peaked = kumaraswamy_noise(torch.Size([200000]), 2.0, g, torch.device("cpu"))
    for u in (uniform, peaked):
        assert u.min() >= -0.5 and u.max() <= 0.5
    assert abs(uniform.var().item() - 1 / 12) < 2e-3
    assert peaked.var() < uniform.var() * 0.8  # a = 2 is more concentrated (A.2.5)
    assert abs(peaked.median().item()) < 0.05  # mode near 0.5 before the shift


def test_hard_modes_round_forward_and_differ_in_gradient():
    x = torch.tensor([0.2, 1.7, -1.4], requires_grad=True)
    for mode, expected_grad in (("ste", 1.0), ("epsilon_ste", 0.01)):
        y = quantize(x, mode, epsilon=0.01)
        assert torch.equal(y.detach(), torch.round(x.detach()))
        (g,) = torch.autograd.grad(y.sum(), x)
        assert torch.allclose(g, torch.full_like(g, expected_grad))
    y = quantize(x, "softround_ste", temperature=1e-4)
    assert torch.equal(y.detach(), torch.round(x.detach()))


def test_noisy_modes_stay_within_half_a_bin():
    x = torch.linspace(-5, 5, 1001)
    g = torch.Generator().manual_seed(1)
    for mode in ("softround_noise", "uniform_noise"):
        y = quantize(x, mode, temperature=0.3, kumaraswamy_a=2.0, generator=g)
        assert (y - x).abs().max() <= 1.0
        assert not torch.equal(y, x)
