"""The chunked MLP changes how the loss and its gradients are computed, never what they are."""

import pytest
import torch
import torch.nn as nn

from c3codec.model import mlp


def _layers() -> nn.ModuleList:
    torch.manual_seed(0)
    return nn.ModuleList([nn.Linear(24, 18), nn.Linear(18, 18), nn.Linear(18, 2)]).double()


def _run(layers: nn.ModuleList, x: torch.Tensor, chunked: bool) -> list[torch.Tensor]:
    for p in layers.parameters():
        p.grad = None
    x = x.detach().clone().requires_grad_(x.requires_grad)
    params = ([layer.weight for layer in layers], [layer.bias for layer in layers])
    y = mlp.mlp_channels_first(layers, x) if chunked else mlp.plain_mlp(*params, x)
    torch.sin(y).sum().backward()
    grads = [x.grad] if x.requires_grad else []
    return [y.detach(), *grads, *(p.grad for p in layers.parameters())]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("input_grad", [True, False])
def test_chunked_mlp_matches_autograd(threads, input_grad):
    layers = _layers()
    x = torch.randn(24, 2 * mlp.CHUNK + 77, dtype=torch.float64).requires_grad_(input_grad)
    original = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        got = _run(layers, x, chunked=True)
        again = _run(layers, x, chunked=True)
        assert torch.get_num_threads() == threads  # the worker threads leave the setting alone
    finally:
        torch.set_num_threads(original)
    want = _run(layers, x, chunked=False)
    for a, b, c in zip(got, want, again):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-10)
        assert torch.equal(a, c)  # deterministic for a given thread count
