"""Fused kernels for fitting (``kernels.c``): built with the system C compiler on first use.

A fitting step spends most of its time in the two per-position MLPs. Run layer by layer in
PyTorch, every 18-wide matrix product and GELU is a separate pass over the data and GELU is
evaluated three times per element (forward, recomputed forward, derivative). The MLP kernel runs
all layers of a block of 64 positions in registers and the L1 cache, forward and backward, and
shares one erf between GELU and its derivative: about 2x faster than the PyTorch chunks on the
ARM (benchmarks/README.md). The synthesis network's residual 3x3 convolutions have as many
channels as the image (3), far too few for PyTorch's convolution kernels; their kernel does a
whole layer (replicated borders, convolution, residual, GELU) in a few passes over rows. The
rate of the latents under the ARM's Laplace, and its derivatives, take one pass instead of some
forty elementwise PyTorch operators; fused with the ARM, the rate of a whole grid and all its
gradients take one pass and no context array. C3's stage-1 quantisation (soft rounding with
Kumaraswamy noise) and its derivative take one pass too, and the bilinear upsampling of the
latent grids two (rows, then columns) instead of PyTorch's interpolation or matrix products.

The C file is compiled once per machine by :mod:`c3codec.compiled`, with ``-march=native``.
Without a C compiler, on a failed build, for float64 data or for shapes beyond the kernels'
limits, fitting uses PyTorch instead (same results up to float32 rounding); ``C3CODEC_NATIVE=0``
forces that. Only fitting uses these kernels; the decoder has its own exact ones (``exact/``).
"""

from __future__ import annotations

import ctypes
import math
from functools import lru_cache
from pathlib import Path

import torch

from .. import compiled
from ..runtime import share_chunks

SOURCE = Path(__file__).with_name("kernels.c")
FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=fast",
         "-shared", "-fPIC")
MAX_WIDTH = 64  # as in kernels.c
MAX_DEPTH = 8
MAX_CONV_CHANNELS = 4
LANES = 8  # partial sums per parameter gradient
RING_X, RING_G = 3, 4  # padded rows the residual convolutions keep (as kernels.c)

_P, _INT, _I64, _U32 = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_uint32


@lru_cache(maxsize=1)
def library() -> ctypes.CDLL | None:
    """The loaded kernel library, or None (disabled, no compiler, or the build failed)."""
    lib = compiled.load(SOURCE, FLAGS, "fitting uses slower PyTorch code")
    if lib is None:
        return None
    lib.c3_mlp_forward.argtypes = [_INT, _P, _P, _P, _I64, _P, _I64, _I64]
    lib.c3_mlp_backward.argtypes = [_INT, _P, _P, _P, _I64, _P, _I64, _P, _I64, _P, _I64]
    lib.c3_residual_forward.argtypes = [_INT, _INT, _INT, _P, _P, _P, _INT, _P, _P, _P]
    lib.c3_residual_backward.argtypes = [_INT, _INT, _INT, _P, _P, _P, _P, _P, _P, _P, _P]
    lib.c3_laplace_bits.argtypes = [_I64, _P, _P, _P, *[ctypes.c_float] * 5, _P, _P, _P, _P]
    lib.c3_arm_rate.argtypes = [_INT, _P, _P, *[_INT] * 3, _P, _P, _INT, _INT, *[ctypes.c_float] * 5,
                                _P, _P, _P, _P, _INT, _P, _P]
    lib.c3_uniform.argtypes = [_I64, _U32, _U32, _I64, _P]
    lib.c3_softround_noise.argtypes = [_I64, _P, _U32, _U32, _I64, *[ctypes.c_float] * 4, _INT, _P, _P]
    lib.c3_upsample_forward.argtypes = [*[_INT] * 5, _P, _P]
    lib.c3_upsample_backward.argtypes = [*[_INT] * 5, _P, _P]
    return lib


def _pointer(t: torch.Tensor, column: int) -> int:
    return t.data_ptr() + column * t.element_size()


class FusedMLP:
    """The kernel for one network: ``widths`` = (inputs, hidden..., outputs).

    Tensors are float32, channel-first ``(features, N)`` with unit column stride; every call
    handles the columns ``[start, stop)``. ctypes releases the GIL during a call, so calls on
    different columns run in parallel from Python threads.
    """

    def __init__(self, lib: ctypes.CDLL, widths: tuple[int, ...]):
        self.lib = lib
        self.widths = widths
        self.depth = len(widths) - 1
        self._widths = (ctypes.c_int * len(widths))(*widths)
        self.num_params = sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))

    @staticmethod
    def pack(weights, biases) -> torch.Tensor:
        """All parameters in the kernel's layout: W_0, b_0, W_1, b_1, ..."""
        return torch.cat([t.detach().reshape(-1) for pair in zip(weights, biases) for t in pair])

    def forward(self, params: torch.Tensor, x: torch.Tensor, out: torch.Tensor, start: int, stop: int) -> None:
        code = self.lib.c3_mlp_forward(self.depth, self._widths, params.data_ptr(), _pointer(x, start),
                                       x.stride(0), _pointer(out, start), out.stride(0), stop - start)
        if code:
            raise RuntimeError(f"fused MLP forward failed (code {code})")

    def backward(self, params: torch.Tensor, x: torch.Tensor, grad_out: torch.Tensor,
                 grad_x: torch.Tensor | None, lanes: torch.Tensor, start: int, stop: int) -> None:
        """Adds this range's parameter gradients to ``lanes`` (``LANES`` partial sums per
        parameter, see :meth:`gradients`) and writes its input gradient into ``grad_x``."""
        gx, ldgx = (None, 0) if grad_x is None else (_pointer(grad_x, start), grad_x.stride(0))
        code = self.lib.c3_mlp_backward(self.depth, self._widths, params.data_ptr(), _pointer(x, start),
                                        x.stride(0), _pointer(grad_out, start), grad_out.stride(0),
                                        gx, ldgx, lanes.data_ptr(), stop - start)
        if code:
            raise RuntimeError(f"fused MLP backward failed (code {code})")

    def new_lanes(self) -> torch.Tensor:
        return torch.zeros(self.num_params * LANES)

    def gradients(self, lanes: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Weight and bias gradients from the lanes (their partial sums added in a fixed order)."""
        flat = lanes.view(-1, LANES).sum(dim=1)
        grad_w, grad_b, offset = [], [], 0
        for n_in, n_out in zip(self.widths[:-1], self.widths[1:]):
            grad_w.append(flat[offset: offset + n_in * n_out].view(n_out, n_in))
            offset += n_in * n_out
            grad_b.append(flat[offset: offset + n_out])
            offset += n_out
        return grad_w, grad_b


def sum_lanes(parts: list[torch.Tensor]) -> torch.Tensor:
    """Per-chunk gradient lanes added one after the other, in chunk order: the same sum whichever
    thread ran which chunk (a library reduction could pair them differently)."""
    total = parts[0].clone()
    for part in parts[1:]:
        total += part
    return total


def fused_mlp(widths: tuple[int, ...], dtype: torch.dtype) -> FusedMLP | None:
    """The kernel for these layer widths and data type, or None where the PyTorch path must run."""
    if dtype != torch.float32 or len(widths) - 1 > MAX_DEPTH or max(widths) > MAX_WIDTH:
        return None
    lib = library()
    return None if lib is None else FusedMLP(lib, tuple(widths))


class FusedResidual:
    """The kernel for residual 3x3 convolutions on (C, H, W) float32 contiguous planes."""

    def __init__(self, lib: ctypes.CDLL):
        self.lib = lib

    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, gelu: bool
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(pre, out)``: pre = x + bias + conv(x) with replicated borders, out = GELU(pre) (or
        ``pre`` itself without GELU)."""
        c, h, w = x.shape
        pre = torch.empty_like(x)
        out = torch.empty_like(x) if gelu else pre
        scratch = x.new_empty(c * RING_X * (w + 2))  # a few padded rows, not a padded image
        weight, bias = weight.detach().contiguous(), bias.detach().contiguous()  # alive during the call
        code = self.lib.c3_residual_forward(c, h, w, x.data_ptr(), weight.data_ptr(), bias.data_ptr(),
                                            int(gelu), pre.data_ptr(), out.data_ptr(), scratch.data_ptr())
        if code:
            raise RuntimeError(f"fused residual convolution failed (code {code})")
        return pre, out

    def backward(self, x: torch.Tensor, weight: torch.Tensor, pre: torch.Tensor | None,
                 grad_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Gradients of the input, weight and bias given that of the output (``pre`` is the
        forward pass's, for a layer with GELU; None without)."""
        c, h, w = x.shape
        grad_x = torch.empty_like(x)
        grad_w = torch.zeros(weight.shape, dtype=torch.float64)
        grad_b = torch.zeros(c, dtype=torch.float64)
        scratch = x.new_empty(c * (RING_X + RING_G) * (w + 2) + c * (w + 4))  # rows, as forward
        weight = weight.detach().contiguous()
        code = self.lib.c3_residual_backward(c, h, w, x.data_ptr(), weight.data_ptr(),
                                             None if pre is None else pre.data_ptr(),
                                             grad_out.data_ptr(), grad_x.data_ptr(), grad_w.data_ptr(),
                                             grad_b.data_ptr(), scratch.data_ptr())
        if code:
            raise RuntimeError(f"fused residual convolution backward failed (code {code})")
        return grad_x, grad_w.to(x.dtype), grad_b.to(x.dtype)


def fused_residual(channels: int, kernel_size: int, dtype: torch.dtype) -> FusedResidual | None:
    """The residual-convolution kernel, or None where the PyTorch path must run."""
    if dtype != torch.float32 or kernel_size != 3 or not 1 <= channels <= MAX_CONV_CHANNELS:
        return None
    lib = library()
    return None if lib is None else FusedResidual(lib)


class FusedLaplace:
    """The kernel for the latents' rate under the ARM's Laplace, with its derivatives."""

    def __init__(self, lib: ctypes.CDLL):
        self.lib = lib

    def bits(self, values: torch.Tensor, raw: torch.Tensor, step: float, shift: float, lo: float,
             hi: float, min_log2: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Bits of ``values`` (bin units, (N,)) given the ARM's raw outputs ``raw`` ((2, N): mean
        in real units, raw log-scale), and their derivatives by values, mean and raw log-scale
        ((3, N)). ``shift``, ``lo``, ``hi``: see ``entropy.log_scale_from_raw``."""
        values, raw = values.detach().contiguous(), raw.detach().contiguous()
        n = values.numel()
        bits = torch.empty_like(values)
        derivatives = values.new_empty(3, n)
        self.lib.c3_laplace_bits(n, values.data_ptr(), raw[0].data_ptr(), raw[1].data_ptr(), step, shift,
                                 lo, hi, min_log2, bits.data_ptr(), derivatives[0].data_ptr(),
                                 derivatives[1].data_ptr(), derivatives[2].data_ptr())
        return bits, derivatives


class FusedRate:
    """The kernel for the rate of whole grids under the ARM (context gather, MLP, Laplace bits)
    with all its gradients, one band of rows at a time. With ``prev_kernel`` the inputs also
    hold that window of a second plane (a video's previous latent frame, or with the previous-grid
    context the finer grid, downsampled)."""

    def __init__(self, lib: ctypes.CDLL, widths: tuple[int, ...], context: int, prev_kernel: int = 0):
        self.mlp = FusedMLP(lib, widths)
        self.context = context
        self.prev_kernel = prev_kernel

    def band(self, params: torch.Tensor, padded: torch.Tensor, bins: torch.Tensor, rows: range,
             laplace: tuple[float, ...], grad_bins: torch.Tensor | None,
             grad_padded: torch.Tensor | None = None, lanes: torch.Tensor | None = None,
             prev: torch.Tensor | None = None, grad_prev: torch.Tensor | None = None,
             ) -> tuple[float, torch.Tensor | None, torch.Tensor | None]:
        """Bits of rows ``rows`` of ``bins`` ((H, W), bin units) given ``padded``: the grid in
        real units with ``context // 2`` zero rows above and columns each side. ``laplace``:
        step, shift, lo, hi, min_log2 (see ``FusedLaplace.bits``). With ``grad_bins`` also
        writes the bits' derivatives by these rows' bins into it, and returns those by the rows
        ``rows.start .. rows.stop + context // 2`` of ``padded`` and the parameter gradient
        lanes (see ``FusedMLP.gradients``) in ``grad_padded`` and ``lanes``, which the caller
        gives with ``grad_bins`` (zeroed, contiguous: views of blocks it allocates once).
        ``prev``: the previous plane in real units, padded by ``prev_kernel // 2`` on every
        side; its gradient by rows ``rows.start .. rows.stop + 2 (prev_kernel // 2)`` is added
        to ``grad_prev`` (zeroed, given with ``grad_bins``)."""
        bits = ctypes.c_double(0.0)
        if grad_bins is None:
            grad_padded = lanes = grad_prev = None
        elif grad_padded is None or lanes is None or (prev is not None and grad_prev is None):
            raise ValueError("band(): grad_bins needs grad_padded, lanes (and grad_prev with prev)")
        code = self.mlp.lib.c3_arm_rate(
            self.mlp.depth, self.mlp._widths, params.data_ptr(), self.context, *bins.shape,
            padded.data_ptr(), bins.data_ptr(), rows.start, rows.stop, *laplace, ctypes.byref(bits),
            *(None if t is None else t.data_ptr() for t in (grad_padded, grad_bins, lanes)),
            self.prev_kernel, *(None if t is None else t.data_ptr() for t in (prev, grad_prev)))
        if code:
            raise RuntimeError(f"fused ARM rate failed (code {code})")
        return bits.value, grad_padded, lanes


def fused_rate(widths: tuple[int, ...], context: int, dtype: torch.dtype, prev_kernel: int = 0
               ) -> FusedRate | None:
    """The ARM-rate kernel for these MLP widths, causal context and previous-plane window (0:
    none), or None where the separate steps (context gather, MLP, Laplace rate) must run."""
    taps = (context * context - 1) // 2 + prev_kernel**2
    if (dtype != torch.float32 or len(widths) - 1 > MAX_DEPTH or max(widths) > MAX_WIDTH
            or widths[0] != taps or widths[-1] != 2):
        return None
    lib = library()
    return None if lib is None else FusedRate(lib, tuple(widths), context, prev_kernel)


class FusedQuantizer:
    """The kernel for C3's stage-1 quantisation (``fitting.quantize``, ``softround_noise``),
    which draws its own noise: element ``i`` of a grid with key ``(k0, k1)`` always gets the same
    uniform draw (:meth:`uniform`), whatever thread or chunk computes it."""

    CHUNK = 32768  # elements per call (kodim01's seven grids: 20 chunks, for an even split)

    def __init__(self, lib: ctypes.CDLL):
        self.lib = lib

    def uniform(self, n: int, key: tuple[int, int]) -> torch.Tensor:
        """The ``n`` first uniform draws in (0, 1) of the stream ``key`` (two 32-bit integers)."""
        u = torch.empty(n)
        self.lib.c3_uniform(n, *key, 0, u.data_ptr())
        return u

    def softround_noise(self, xs: list[torch.Tensor], keys: list[tuple[int, int]], temperature: float,
                        a: float) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Each ``x`` of ``xs`` quantised with the Kumaraswamy(a) noise of the stream of its key,
        and its derivative by ``x``. Elementwise: the chunks of all tensors go to
        ``torch.get_num_threads()`` threads in one dispatch, with the same result."""
        xs = [x.detach().contiguous() for x in xs]
        ys, derivatives = [torch.empty_like(x) for x in xs], [torch.empty_like(x) for x in xs]
        b = (2.0**a * (a - 1.0) + 1.0) / a
        constants = (temperature, 2.0 * math.tanh(0.5 / temperature), 1.0 / a, 1.0 / b, int(a == 1.0))
        tasks = [(t, s) for t, x in enumerate(xs) for s in range(0, x.numel(), self.CHUNK)]

        def work(k: int) -> None:
            t, s = tasks[k]
            x, y, d = xs[t], ys[t], derivatives[t]
            self.lib.c3_softround_noise(min(self.CHUNK, x.numel() - s), _pointer(x, s), *keys[t], s, *constants,
                                        _pointer(y, s), _pointer(d, s))

        share_chunks(work, len(tasks))  # elementwise: any thread may take any chunk
        return ys, derivatives


def fused_quantizer(xs: list[torch.Tensor]) -> FusedQuantizer | None:
    """The quantisation kernel for the tensors ``xs``, or None where PyTorch must quantise them."""
    ok = all(x.dtype == torch.float32 and x.device.type == "cpu" for x in xs)
    lib = library() if ok else None
    return None if lib is None else FusedQuantizer(lib)


class FusedUpsample:
    """The kernel for the bilinear upsampling of 2-D latent grids by 2**e (``latents.upsample``)."""

    def __init__(self, lib: ctypes.CDLL):
        self.lib = lib

    def forward(self, grid: torch.Tensor, exponent: int, out: torch.Tensor) -> None:
        """Writes ``grid`` ((h, w)) upsampled by ``2**exponent`` and cropped into ``out`` ((H, W),
        contiguous)."""
        grid = grid.detach().contiguous()
        code = self.lib.c3_upsample_forward(*grid.shape, exponent, *out.shape, grid.data_ptr(), out.data_ptr())
        if code:
            raise RuntimeError(f"fused upsampling failed (code {code})")

    def backward(self, grad_out: torch.Tensor, exponent: int, shape: tuple[int, int]) -> torch.Tensor:
        """The gradient of a grid of ``shape`` given ``grad_out``, that of its upsampled output."""
        grad_out = grad_out.contiguous()
        grad = grad_out.new_empty(shape)
        code = self.lib.c3_upsample_backward(*shape, exponent, *grad_out.shape, grad_out.data_ptr(),
                                             grad.data_ptr())
        if code:
            raise RuntimeError(f"fused upsampling backward failed (code {code})")
        return grad


def fused_upsample(grids: list[torch.Tensor]) -> FusedUpsample | None:
    """The upsampling kernel for these grids, or None where PyTorch must upsample them (not
    float32 2-D grids on the CPU: the decoder's float64, videos, GPUs)."""
    runnable = all(g.dtype == torch.float32 and g.dim() == 2 and g.device.type == "cpu" for g in grids)
    lib = library() if runnable else None
    return None if lib is None else FusedUpsample(lib)


def fused_laplace(dtype: torch.dtype) -> FusedLaplace | None:
    """The Laplace-rate kernel, or None where the PyTorch path must run."""
    lib = library() if dtype == torch.float32 else None
    return None if lib is None else FusedLaplace(lib)
