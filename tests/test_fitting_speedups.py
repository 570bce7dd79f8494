"""The fitting speed-ups (chunked MLP, fused kernels, concurrent branches) change how the loss and
its gradients are computed, never what they are."""

import pytest
import torch
import torch.nn as nn

from c3codec.fitting import kernels as fused
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


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])  # the kernel, then PyTorch
def test_chunked_mlp_scratch_input_gives_the_same_gradients(dtype):
    """With ``scratch_input`` the input gradient is written over the input (memory at 12 MP):
    the same values as into a fresh tensor, and the input's storage is reused."""
    layers = _layers().to(dtype)
    start = torch.randn(24, 2 * mlp.CHUNK + 77, dtype=dtype)

    def run(scratch: bool) -> tuple[list[torch.Tensor], bool]:
        for p in layers.parameters():
            p.grad = None
        leaf = start.clone().requires_grad_()
        x = leaf * 1.0  # a temporary, as the synthesis's upsampled latents
        seen = []
        x.register_hook(lambda g: seen.append((g.clone(), g.data_ptr() == x.data_ptr())))
        y = mlp.mlp_channels_first(layers, x, scratch_input=scratch)
        torch.sin(y).sum().backward()
        return [y.detach(), seen[0][0], leaf.grad, *(p.grad for p in layers.parameters())], seen[0][1]

    (got, reused), (want, fresh) = run(True), run(False)
    assert reused and not fresh
    for a, b in zip(got, want):
        assert torch.equal(a, b)


needs_kernel = pytest.mark.skipif(fused.library() is None, reason="no C compiler for the fused kernel")


@needs_kernel
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("input_grad", [True, False])
@pytest.mark.parametrize("dims", [(24, 18, 18, 2), (7, 12, 12, 3), (40, 64, 5, 9, 1)])
def test_fused_kernel_matches_autograd(threads, input_grad, dims):
    """float32 data take the fused C kernel (ARM-, synthesis- and odd-shaped networks, a partial
    last block); its results match PyTorch's float64 autograd to float32 rounding."""
    torch.manual_seed(0)
    layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
    x = (2 * torch.randn(dims[0], 2 * mlp.CHUNK + 77)).requires_grad_(input_grad)
    assert fused.fused_mlp(dims, x.dtype) is not None
    original = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        got = _run(layers, x, chunked=True)
        again = _run(layers, x, chunked=True)
    finally:
        torch.set_num_threads(original)
    want = _run(layers.double(), x.double(), chunked=False)
    for a, b, c in zip(got, want, again):
        assert torch.equal(a, c)  # deterministic for a given thread count
        scale = b.abs().max().item()
        assert (a.double() - b).abs().max().item() <= 2e-5 * scale + 1e-6


@needs_kernel
def test_fused_backward_is_the_same_whichever_threads_run_the_chunks():
    """The fused MLP gives bit-identical results on 1 or 3 threads, and as a branch of
    ``run_branches`` whose other branch helps (it ends at once) or does not (busy until the
    end): each chunk keeps its own partial sums."""
    import threading

    from c3codec.runtime import run_branches

    torch.manual_seed(0)
    layers = nn.ModuleList(nn.Linear(a, b) for a, b in [(7, 12), (12, 12), (12, 3)])
    x = torch.randn(7, 4 * mlp.CHUNK + 77, requires_grad=True)
    original = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 3):
            torch.set_num_threads(threads)
            results.append(_run(layers, x, chunked=True))
        torch.set_num_threads(1)
        results.append(run_branches([lambda: _run(layers, x, chunked=True), lambda: None])[0])
        finished = threading.Event()

        def mlp_branch():
            try:
                return _run(layers, x, chunked=True)
            finally:
                finished.set()

        results.append(run_branches([mlp_branch, finished.wait])[0])
    finally:
        torch.set_num_threads(original)
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other))


def test_share_chunks_runs_every_chunk_once_and_reraises():
    """Every chunk once, on 1 or 3 threads, inside ``run_branches`` with the other branch free
    to help or busy; a chunk's error reaches the caller, also when a helper ran that chunk."""
    import threading
    import time
    from collections import Counter

    from c3codec.runtime import run_branches, share_chunks

    original = torch.get_num_threads()
    try:
        for threads, busy in [(1, False), (1, True), (3, False)]:
            torch.set_num_threads(threads)
            done: Counter = Counter()
            release = threading.Event()

            def chunked():
                try:
                    share_chunks(lambda k: (time.sleep(1e-4), done.update([k])), 50)
                finally:
                    release.set()
                return "chunked"

            other = release.wait if busy else (lambda: "other")
            results = run_branches([chunked, other])
            assert results[0] == "chunked" and done == Counter(range(50))
        torch.set_num_threads(1)

        def fail(k: int) -> None:
            time.sleep(1e-3)
            if k == 7:
                raise ValueError("chunk 7")

        with pytest.raises(ValueError, match="chunk 7"):
            run_branches([lambda: share_chunks(fail, 20), lambda: None])
        with pytest.raises(RuntimeError, match="branch"):
            run_branches([lambda: None, lambda: (_ for _ in ()).throw(RuntimeError("branch"))])
    finally:
        torch.set_num_threads(original)


def test_fused_kernel_declines_what_it_cannot_run():
    assert fused.fused_mlp((24, 18, 2), torch.float64) is None
    assert fused.fused_mlp((24, fused.MAX_WIDTH + 1, 2), torch.float32) is None
    assert fused.fused_mlp((4,) * (fused.MAX_DEPTH + 2), torch.float32) is None




@needs_kernel
@pytest.mark.parametrize("gelu", [True, False])
@pytest.mark.parametrize("shape", [(3, 37, 53), (1, 1, 9), (3, 5, 1), (4, 3, 2), (2, 2, 40)])
def test_fused_residual_layer_matches_pytorch(shape, gelu):
    """x + conv3x3(edge-padded x) (+ GELU) and its three gradients, against float64 PyTorch, on
    shapes with one-pixel rows or columns and partial vectors; deterministic."""
    from c3codec.model.synthesis import _FusedResidualLayer

    torch.manual_seed(0)
    c = shape[0]
    x, grad = torch.randn(shape, dtype=torch.float64), torch.randn(shape, dtype=torch.float64)
    weight, bias = 0.3 * torch.randn(c, c, 3, 3, dtype=torch.float64), torch.randn(c, dtype=torch.float64)

    def reference(x, weight, bias):
        y = x[None] + nn.functional.conv2d(nn.functional.pad(x[None], (1,) * 4, mode="replicate"), weight, bias)
        return (nn.functional.gelu(y) if gelu else y)[0]

    def fused_layer(x, weight, bias):
        return _FusedResidualLayer.apply(x, weight, bias, fused.fused_residual(c, 3, x.dtype), gelu)

    def run(layer, dtype):
        inputs = [t.to(dtype).requires_grad_() for t in (x, weight, bias)]
        out = layer(*inputs)
        return [out.detach(), *torch.autograd.grad(out, inputs, grad.to(dtype))]

    want = run(reference, torch.float64)
    got, again = run(fused_layer, torch.float32), run(fused_layer, torch.float32)
    for a, b, c_ in zip(got, want, again):
        assert torch.equal(a, c_)
        assert (a.double() - b).abs().max().item() <= 2e-6 * b.abs().max().item()


def test_fused_residual_declines_what_it_cannot_run():
    assert fused.fused_residual(3, 3, torch.float64) is None
    assert fused.fused_residual(3, 5, torch.float32) is None
    assert fused.fused_residual(fused.MAX_CONV_CHANNELS + 1, 3, torch.float32) is None


@needs_kernel
@pytest.mark.parametrize("size", [(37, 53), (1, 1), (2, 33), (64, 48)])
def test_fused_upsampling_matches_pytorch(monkeypatch, size):
    """All grids of an image upsampled and stacked, and the adjoint, against float64 PyTorch
    (F.interpolate / interpolation matrices), with odd sizes, crops and one-pixel grids: within
    float32 rounding (the adjoint sums in order, a few ulps on a one-pixel grid's sum of
    thousands of terms); deterministic."""
    from c3codec.model import latents

    torch.manual_seed(0)
    exponents = (0, 1, 2, 3, 4, 6)
    shapes = [tuple(-(-s // 2**e) for s in size) for e in exponents]
    grids = [torch.randn(shape, dtype=torch.float64) for shape in shapes]
    grad = torch.randn(len(grids), *size, dtype=torch.float64)

    def run(dtype):
        leaves = [g.to(dtype).requires_grad_() for g in grids]
        out = latents.upsample_all(leaves, exponents, size)
        return [out.detach(), *torch.autograd.grad(out, leaves, grad.to(dtype))]

    assert fused.fused_upsample([g.float() for g in grids]) is not None
    got, again, want = run(torch.float32), run(torch.float32), run(torch.float64)
    monkeypatch.setattr(latents, "fused_upsample", lambda grids: None)
    pytorch32 = run(torch.float32)
    for a, b, c, d in zip(got, want, again, pytorch32):
        assert a.dtype == torch.float32 and a.shape == b.shape
        assert torch.equal(a, c)
        assert (a.double() - b).abs().max() <= 2 * (d.double() - b).abs().max() + 2e-6 * b.abs().max()


def test_fused_upsampling_declines_what_it_cannot_run():
    assert fused.fused_upsample([torch.zeros(4, 4, dtype=torch.float64)]) is None
    assert fused.fused_upsample([torch.zeros(2, 4, 4)]) is None
    assert fused.fused_upsample([torch.zeros(4, 4), torch.zeros(2, 2, dtype=torch.float64)]) is None


@needs_kernel
def test_fused_laplace_rate_is_as_accurate_as_pytorch():
    """Bits and their gradients (by the latents, the mean and the raw log-scale) from the fused
    kernel, against float64 PyTorch: no worse than PyTorch's own float32, in the tails, the
    central bin, exactly at the mean, on bin edges and with clipped scales at both ends."""
    from c3codec.config import EntropyConfig
    from c3codec.model import entropy

    config, step, n = EntropyConfig(), 0.4, 20000
    torch.manual_seed(0)
    values = torch.round(4 * torch.randn(n))
    raw = torch.stack([1.5 * torch.randn(n), 6 * torch.randn(n) - 4])
    raw[1, :50], raw[1, 50:100] = 40.0, -40.0  # log-scale clipped above and below
    raw[0, 100:200] = values[100:200] * step  # latent exactly at the mean
    raw[0, 200:300] = (values[200:300] + 0.5) * step  # mean on a bin edge
    grad = torch.rand(n)

    def run(dtype, fused):
        v, r = values.to(dtype).requires_grad_(), raw.to(dtype).requires_grad_()
        if fused:
            bits = entropy.latent_bits(v, r, config, step)
        else:
            scale = torch.exp(entropy.log_scale_from_raw(r[1], config)) / step
            bits = entropy.laplace_bits(v, r[0] / step, scale)
        return [bits.detach(), *torch.autograd.grad(bits, (v, r), grad.to(dtype))]

    want, pytorch32, got = run(torch.float64, False), run(torch.float32, False), run(torch.float32, True)
    for a, b, c in zip(got, want, pytorch32):
        assert torch.isfinite(a).all()
        assert (a.double() - b).abs().max() <= 1.5 * (c.double() - b).abs().max() + 1e-7 * b.abs().max()
    assert fused.fused_laplace(torch.float64) is None

@needs_kernel
@pytest.mark.parametrize("context, widths, prev_grid", [(7, (12, 12), 0), (3, (5,), 0), (9, (18, 18, 7), 0),
                                                       (7, (12, 12), 3), (5, (8,), 1)])
def test_fused_grid_rates_match_pytorch(monkeypatch, context, widths, prev_grid):
    """The fused rate kernel (contexts, ARM, Laplace rate and all gradients in one pass) against
    the separate PyTorch steps in float64: as accurate as those steps in float32, on grids with
    partial blocks and several bands of rows, with and without the previous-grid context (whose
    gradient reaches the finer grid); bit-identical for 1 and 3 threads."""
    from c3codec.config import EntropyConfig
    from c3codec.model import entropy

    monkeypatch.setattr(entropy, "BAND_POSITIONS", 700)  # several bands per grid
    config = EntropyConfig(widths=widths, context=context, use_prev_grid=bool(prev_grid), prev_kernel=prev_grid or 3)
    step = 0.4
    torch.manual_seed(0)
    model = entropy.EntropyModel(config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    shapes = ([(37, 150), (19, 75), (10, 38), (5, 19)] if prev_grid  # each grid half the one before
              else [(37, 150), (9, 64), (1, 1), (3, 5)])
    bins = [torch.round(4 * torch.randn(shape)) for shape in shapes]
    grad = torch.tensor([0.5, 1.0, 2.0, -1.0])

    def separate(dtype):
        net = entropy.EntropyModel(config).to(dtype)
        net.load_state_dict(model.state_dict())
        leaves = [b.to(dtype).requires_grad_() for b in bins]
        contexts = entropy.grid_contexts([b * step for b in leaves], config)
        per_position = entropy.latent_bits(torch.cat([b.reshape(-1) for b in leaves]), net(contexts), config, step)
        totals = torch.stack([part.sum() for part in per_position.split([b.numel() for b in leaves])])
        return [totals.detach(), *torch.autograd.grad(totals, [*leaves, *net.parameters()], grad.to(dtype))]

    def fused_kernel(threads):
        original = torch.get_num_threads()
        try:
            torch.set_num_threads(threads)
            model.zero_grad()
            leaves = [b.clone().requires_grad_() for b in bins]
            totals = entropy.grid_rates(leaves, model, step)
            assert totals is not None
            return [totals.detach(), *torch.autograd.grad(totals, [*leaves, *model.parameters()], grad)]
        finally:
            torch.set_num_threads(original)

    want, pytorch32, got = separate(torch.float64), separate(torch.float32), fused_kernel(1)
    # with the previous grid, a latent's gradient sums its own and the next grid's terms in
    # float32, in another order than PyTorch's: a few times its worst rounding on one latent
    factor = 4.0 if prev_grid else 1.5
    for a, b, c in zip(got, want, pytorch32):
        assert torch.isfinite(a).all()
        assert (a.double() - b).abs().max() <= factor * (c.double() - b).abs().max() + 1e-6 * b.abs().max()
    for a, b in zip(got, fused_kernel(3)):
        assert torch.equal(a, b)
    with torch.no_grad():
        assert torch.equal(entropy.grid_rates(bins, model, step), got[0])
        assert torch.equal(entropy.grid_rates(bins, model, step, [1, 3]), got[0][[1, 3]])


def test_fused_grid_rates_decline_what_they_cannot_run():
    from c3codec.config import EntropyConfig
    from c3codec.model import entropy

    bins = [torch.zeros(4, 4)]
    assert entropy.grid_rates([b.double() for b in bins], entropy.EntropyModel(EntropyConfig()).double(), 0.4) is None
    assert fused.fused_rate((24, fused.MAX_WIDTH + 1, 2), 7, torch.float32) is None
    assert fused.fused_rate((23, 12, 2), 7, torch.float32) is None  # not the context's inputs


@needs_kernel
@pytest.mark.parametrize("temperature, a", [(0.3, 2.0), (0.2, 1.5), (0.1, 1.0)])
def test_fused_softround_noise_is_as_accurate_as_pytorch(temperature, a):
    """C3's stage-1 quantisation through the kernel, against float64 PyTorch with the kernel's
    own uniform draws: values and gradients no worse than PyTorch's float32, also on the
    rounding edges and on integers; the same values on one or two threads."""
    from c3codec.fitting import quantize as q

    torch.manual_seed(0)
    x = 5 * torch.randn(2 * fused.FusedQuantizer.CHUNK + 777)
    x[:500] = torch.round(x[:500]) + 0.5
    x[500:1000] = torch.round(x[500:1000])
    grad = torch.rand(x.shape)
    kernel = fused.fused_quantizer([x])
    assert kernel is not None
    u = kernel.uniform(x.numel(), q.noise_keys(1, torch.Generator().manual_seed(5))[0])

    def run(dtype, fused_path):
        leaf = x.to(dtype).requires_grad_()
        if fused_path:
            y = q.quantize(leaf, "softround_noise", temperature=temperature, kumaraswamy_a=a,
                           generator=torch.Generator().manual_seed(5))
        else:
            noise = q._kumaraswamy(u.to(dtype), a)
            y = q.soft_round_inverse(q.soft_round(leaf, temperature) + noise - 0.5, temperature) + 0.5
        return [y.detach(), *torch.autograd.grad(y, leaf, grad.to(dtype))]

    want, pytorch32, got = run(torch.float64, False), run(torch.float32, False), run(torch.float32, True)
    for a_, b_, c_ in zip(got, want, pytorch32):
        assert torch.isfinite(a_).all()
        assert (a_.double() - b_).abs().max() <= 1.5 * (c_.double() - b_).abs().max() + 1e-6 * b_.abs().max()
    assert fused.fused_quantizer([x.double()]) is None
    original = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # chunks on two threads: the same values
        assert all(torch.equal(a_, b_) for a_, b_ in zip(run(torch.float32, True), got))
    finally:
        torch.set_num_threads(original)


@needs_kernel
def test_fused_quantizer_noise_is_uniform_and_independent():
    """The kernel's counter-based draws: in (0, 1), uniform (Kolmogorov-Smirnov distance and
    moments), no correlation between neighbours or between streams, any offset gives the same
    stream, and the grids of one call get their own streams."""
    from c3codec.fitting import quantize as q

    kernel = fused.fused_quantizer([torch.zeros(1)])
    n = 1 << 20
    u = kernel.uniform(n, (12345, 678))
    assert 0.0 < u.min() and u.max() < 1.0
    ks = (torch.sort(u.double()).values - (torch.arange(n, dtype=torch.float64) + 0.5) / n).abs().max()
    assert ks < 1.63 / n**0.5  # rejects uniformity at the 1 % level only
    assert abs(u.double().mean() - 0.5) < 3 * (1 / 12 / n) ** 0.5
    assert abs(u.double().var() - 1 / 12) < 1e-3
    centred = u.double() - 0.5
    assert abs((centred[1:] * centred[:-1]).mean() * 12) < 4 / n**0.5  # lag-1 correlation
    other = kernel.uniform(n, (12346, 678)).double() - 0.5
    assert abs((centred * other).mean() * 12) < 4 / n**0.5
    tail = torch.empty(1000)
    kernel.lib.c3_uniform(1000, 12345, 678, n - 1000, tail.data_ptr())
    assert torch.equal(tail, u[-1000:])
    grids = [torch.zeros(3000), torch.zeros(3000)]
    y = q.quantize_grids(grids, "softround_noise", temperature=0.3, kumaraswamy_a=1.0,
                         generator=torch.Generator().manual_seed(1))
    keys = q.noise_keys(2, torch.Generator().manual_seed(1))
    for out, key in zip(y, keys):  # a = 1: uniform noise, r_T(s_T(0) + u - 1/2) is monotonic in u
        assert torch.equal(torch.argsort(out), torch.argsort(kernel.uniform(3000, key)))
    assert not torch.equal(y[0], y[1])


def _fitting_problem():
    """A model with random latents and networks (not C3's zero start: every path carries
    gradient) on an image big enough for the chunked MLPs (> CHUNK positions)."""
    from c3codec.config import ArchitectureConfig
    from c3codec.encoder import _target
    from c3codec.model.c3 import C3Model
    from conftest import synthetic

    picture = synthetic(136, 128)
    torch.manual_seed(0)
    model = C3Model((picture.height, picture.width), picture.channels, ArchitectureConfig())
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.1)
    return model, _target(picture, torch.device("cpu"))


def _loss_and_gradients(model, target, threads: int, concurrent_api: bool) -> list[torch.Tensor]:
    from c3codec.fitting.fit import loss_and_gradients, rd_loss

    model.zero_grad(set_to_none=True)
    kwargs = dict(temperature=0.2, kumaraswamy_a=1.5, generator=torch.Generator().manual_seed(3))
    original = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        if concurrent_api:
            loss = loss_and_gradients(model, target, 1e-3, "softround_noise", **kwargs)[0]
        else:
            loss = rd_loss(model, target, 1e-3, "softround_noise", **kwargs)[0]
            loss.backward()
        assert torch.get_num_threads() == threads  # the branches restore the setting
    finally:
        torch.set_num_threads(original)
    return [loss.detach(), *(p.grad.clone() for p in model.parameters())]


def test_concurrent_branches_give_rd_loss_gradients():
    """Distortion and rate branches run at the same time on 2 threads: same loss and gradients
    as one backward pass of the whole loss, and bit-identical for 1 and 2 threads (each branch
    runs single-threaded)."""
    model, target = _fitting_problem()
    want = _loss_and_gradients(model, target, 1, concurrent_api=False)
    one = _loss_and_gradients(model, target, 1, concurrent_api=True)
    two = _loss_and_gradients(model, target, 2, concurrent_api=True)
    again = _loss_and_gradients(model, target, 2, concurrent_api=True)
    for w, a, b, c in zip(want, one, two, again):
        assert torch.equal(a, b) and torch.equal(b, c)
        assert torch.allclose(a, w, rtol=1e-5, atol=1e-6 * w.abs().max().item())


@needs_kernel
def test_synthesis_takes_the_fused_residual_path_with_the_same_result():
    from c3codec.config import SynthesisConfig
    from c3codec.model.synthesis import Synthesis

    torch.manual_seed(0)
    synthesis = Synthesis(7, 3, SynthesisConfig())
    with torch.no_grad():
        for conv in synthesis.residual:
            conv.weight.normal_(0.0, 0.2)
            conv.bias.normal_(0.0, 0.1)
    latents = torch.randn(7, 24, 40)
    fused_image = synthesis(latents)
    mlp_out = mlp.mlp_channels_first(synthesis.mlp, latents.reshape(7, -1)).reshape(3, 24, 40)
    torch_image = synthesis._residual_layers(mlp_out[None])[0].clamp(0.0, 1.0)
    assert torch.allclose(fused_image, torch_image, atol=2e-6)
    assert 0.0 < fused_image.mean() < 1.0 and fused_image.std() > 0.05  # not a trivial image


@pytest.mark.parametrize("prev_grid", [False, True])
def test_rate_of_grid_subsets_adds_up(prev_grid):
    """The concurrent branches split the rate by grids: the parts must add up to the whole,
    also when a grid's context reads the previous grid."""
    from c3codec.config import ArchitectureConfig, EntropyConfig
    from c3codec.model.c3 import C3Model

    torch.manual_seed(0)
    arch = ArchitectureConfig(entropy=EntropyConfig(use_prev_grid=prev_grid))
    model = C3Model((40, 56), 3, arch)
    bins = [torch.round(3 * torch.randn(g.shape)).requires_grad_() for g in model.latents.grids]
    total, per_grid = model.rate(bins)
    finest, coarse = model.rate(bins, [0])[0], model.rate(bins, range(1, len(bins)))
    assert torch.allclose(finest + coarse[0], total, rtol=1e-5)
    assert torch.allclose(torch.stack(coarse[1]), torch.stack(per_grid[1:]), rtol=1e-5)
    whole, parts = torch.autograd.grad(total, bins), torch.autograd.grad(finest + coarse[0], bins)
    for a, b in zip(whole, parts):  # the finest grid's gradient also comes from the next grid's bits
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)
    assert whole[0].abs().sum() > 0



@pytest.mark.parametrize("prev_grid", [0, 3])
def test_per_grid_arms_rate_and_gradients(prev_grid):
    """One ARM per grid: each grid's bits are those of the shared model whose ARM is that
    grid's, and a grid's bits move only its own ARM's weights."""
    from c3codec.config import ArchitectureConfig, EntropyConfig
    from c3codec.model.c3 import C3Model

    torch.manual_seed(0)
    arch = ArchitectureConfig(entropy=EntropyConfig(widths=(8, 8), per_grid=True)).with_prev_grid(prev_grid)
    model = C3Model((40, 56), 3, arch)
    assert len(model.entropy) == arch.latents.num_grids
    bins = [torch.round(3 * torch.randn(g.shape)) for g in model.latents.grids]
    total, per_grid = model.rate(bins)
    assert torch.allclose(torch.stack(per_grid).sum(), total)
    shared = C3Model((40, 56), 3, arch.with_per_grid(False))
    for k in (0, 3, len(bins) - 1):
        shared.entropy.load_state_dict(model.arm(k).state_dict())
        assert torch.allclose(shared.rate(bins)[1][k], per_grid[k], rtol=1e-5)
    grads = torch.autograd.grad(per_grid[2], [p for net in model.entropy for p in net.parameters()],
                                allow_unused=True)
    per_net = len(list(model.arm(0).parameters()))
    touched = [any(g is not None and g.abs().sum() > 0 for g in grads[n * per_net: (n + 1) * per_net])
               for n in range(len(bins))]
    assert touched == [n == 2 for n in range(len(bins))]


def test_thread_pools_are_not_inherited_across_fork():
    """Worker threads do not survive fork: a forked child (ProcessPoolExecutor's default on
    Linux, as in ``c3 eval --jobs``) must get pools of its own, not wait forever on the parent's."""
    import os

    from c3codec.runtime import thread_pool

    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    parent_pool = thread_pool("test", 1)
    assert parent_pool.submit(int).result() == 0
    pid = os.fork()
    if pid == 0:  # child: exit status 0 if its pool is new and works
        ok = False
        try:
            child_pool = thread_pool("test", 1)
            ok = child_pool is not parent_pool and child_pool.submit(int).result(timeout=10) == 0
        finally:
            os._exit(0 if ok else 1)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def test_video_rate_kernel_matches_the_gathered_contexts():
    """A video grid's rate through the fused kernel (each latent frame with the previous one as
    its second plane) equals the PyTorch path's, gradients included."""
    from c3codec.model.c3 import C3Model
    from c3codec.model.entropy import grid_contexts, grid_rates, latent_bits
    from c3codec.video_encoder import default_video_architecture

    torch.manual_seed(0)
    arch = default_video_architecture()
    model = C3Model((9, 20, 26), 3, arch)
    step = arch.latents.step
    bins = [torch.randn(g.shape).mul(2).round().requires_grad_() for g in model.latents.grids]
    fused = grid_rates(bins, model.entropy, step)
    assert fused is not None
    (fused * torch.arange(1.0, len(bins) + 1)).sum().backward()
    fused_grads = [b.grad.clone() for b in bins]
    fused_weights = [layer.weight.grad.clone() for layer in model.entropy.layers]
    for b in bins:
        b.grad = None
    model.entropy.zero_grad()
    contexts = grid_contexts([b * step for b in bins], arch.entropy)
    bits = latent_bits(torch.cat([b.reshape(-1) for b in bins]), model.entropy(contexts), arch.entropy, step)
    per_grid = torch.stack([part.sum() for part in torch.split(bits, [b.numel() for b in bins])])
    (per_grid * torch.arange(1.0, len(bins) + 1)).sum().backward()
    assert torch.allclose(fused, per_grid, rtol=1e-5)
    for a, b in zip(fused_grads, bins):
        assert torch.allclose(a, b.grad, atol=1e-3, rtol=1e-4)
    for a, layer in zip(fused_weights, model.entropy.layers):
        assert torch.allclose(a, layer.weight.grad, atol=1e-2, rtol=1e-4)


def test_video_synthesis_fused_per_frame_matches_pytorch():
    from c3codec.config import SynthesisConfig
    from c3codec.model.synthesis import Synthesis

    torch.manual_seed(1)
    synthesis = Synthesis(5, 3, SynthesisConfig(widths=(8, 8)))
    with torch.no_grad():
        for conv in synthesis.residual:
            conv.weight.normal_(0.0, 0.2)
            conv.bias.normal_(0.0, 0.1)
    latents = torch.randn(5, 4, 12, 10, requires_grad=True)
    video = synthesis(latents)
    video.square().sum().backward()
    fused_grad = latents.grad.clone()
    latents.grad = None
    mlp_out = mlp.mlp_channels_first(synthesis.mlp, latents.reshape(5, -1)).reshape(3, 4, 12, 10)
    frames = synthesis._residual_layers(mlp_out.transpose(0, 1)).transpose(0, 1)
    clipped = frames + (frames.clamp(0.0, 1.0) - frames).detach()  # the clip's identity gradient
    clipped.square().sum().backward()
    assert torch.allclose(video, clipped, atol=2e-6)
    assert torch.allclose(fused_grad, latents.grad, atol=1e-4, rtol=1e-4)
    assert 0.0 < video.mean() < 1.0 and video.std() > 0.05


@pytest.mark.parametrize("shape", [(8, 12), (9, 12), (8, 13), (9, 13), (1, 1)])
def test_downsample2_adjoint_is_its_gradient(shape):
    """The previous-grid context's hand-written backward (used by the fused rate kernel) against
    autograd through :func:`downsample2`, edge-replicated odd sizes included; the strided sums
    against the average pooling they replace."""
    import torch.nn.functional as F

    from c3codec.model.latents import downsample2, downsample2_adjoint

    torch.manual_seed(0)
    finer = torch.round(3 * torch.randn(shape)).requires_grad_()
    coarse = tuple(-(-n // 2) for n in shape)
    grad = torch.randn(coarse)
    (want,) = torch.autograd.grad(downsample2(finer, coarse), finer, grad)
    assert torch.allclose(downsample2_adjoint(grad, shape), want, atol=1e-6)
    padded = F.pad(finer.detach()[None, None], (0, 2 * coarse[1] - shape[1], 0, 2 * coarse[0] - shape[0]), mode="replicate")
    assert torch.equal(downsample2(finer.detach(), coarse), F.avg_pool2d(padded, 2)[0, 0])
