"""Quantisation and coding of the synthesis and ARM parameters (c3-supplementary A.2.6, B.3).

All weights share one quantisation step and all biases another; each tensor's integers are coded
with a zero-mean Laplace whose scale (one of 1024 values) is sent in the header.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import TYPE_CHECKING

import numpy as np

from ..exact.arithmetic import IntLayer
from .range_coder import SymbolDecoder, SymbolEncoder
from .tables import param_row, param_scale, param_scale_index

if TYPE_CHECKING:  # the encoder's helpers take PyTorch tensors; decoding needs no PyTorch
    import torch

# C3's grid of candidate steps, for weights and biases separately (Table 4).
PARAM_STEPS = (5e-5, 1e-4, 5e-4, 1e-3, 3e-3, 6e-3, 1e-2)
MAX_PARAM_RANGE = 1 << 20  # largest |integer| a parameter may take in a file


@dataclass
class TensorCode:
    """Side information of one coded tensor."""

    scale_index: int
    symbol_range: int


def network_tensors(modules: list[torch.nn.Module]) -> list[torch.Tensor]:
    """Weight and bias of every layer, in bitstream order."""
    return [t for m in modules for t in (m.weight, m.bias)]


def quantize_tensors(tensors: list[torch.Tensor], w_step: float, b_step: float) -> list[np.ndarray]:
    """Integers n with weight ~= n * w_step (even positions) and bias ~= n * b_step (odd)."""
    out = []
    for i, t in enumerate(tensors):
        step = w_step if i % 2 == 0 else b_step
        out.append(np.round(t.detach().cpu().double().numpy() / step).astype(np.int64))
    return out


def tensor_code(values: np.ndarray) -> TensorCode:
    r = int(np.abs(values).max()) if values.size else 0
    return TensorCode(param_scale_index(float(np.abs(values).mean()) if values.size else 0.0), max(r, 1))


def tensor_bits(values: np.ndarray) -> float:
    """Ideal code length of a tensor under its own snapped Laplace (what the coder spends)."""
    code = tensor_code(values)
    row = param_row(code.symbol_range, code.scale_index)
    p = np.maximum(row / row.sum(), 2.0**-24)
    return float(-np.log2(p[values.reshape(-1) + code.symbol_range]).sum())


def encode_tensors(values: list[np.ndarray]) -> tuple[bytes, list[TensorCode]]:
    encoder = SymbolEncoder()
    codes = []
    for v in values:
        code = tensor_code(v)
        if code.symbol_range > MAX_PARAM_RANGE:
            raise ValueError("network parameter too large for its quantisation step")
        encoder.encode(v.reshape(-1) + code.symbol_range, param_row(code.symbol_range, code.scale_index))
        codes.append(code)
    return encoder.finish(), codes


def decode_tensors(data: bytes, codes: list[TensorCode], shapes: list[tuple[int, ...]],
                   reference: bool = False) -> list[np.ndarray]:
    """Inverse of :func:`encode_tensors` (compiled where available, else constriction)."""
    from ..exact import native

    if not reference and native.available() and codes:
        sizes = [int(np.prod(shape)) for shape in shapes]
        values = native.decode_params(data, [param_scale(c.scale_index) for c in codes],
                                      [c.symbol_range for c in codes], sizes)
        parts = np.split(values, np.cumsum(sizes)[:-1])
        return [part.reshape(shape) for part, shape in zip(parts, shapes)]
    decoder = SymbolDecoder(data)
    out = []
    for code, shape in zip(codes, shapes):
        count = int(np.prod(shape))
        symbols = decoder.decode(param_row(code.symbol_range, code.scale_index), count)
        out.append((symbols - code.symbol_range).reshape(shape))
    return out


def int_layers(values: list[np.ndarray], w_step: float, b_step: float) -> list[IntLayer]:
    """Pair up (weight, bias) integer tensors into exact layers."""
    return [IntLayer(values[i].astype(np.float64), values[i + 1].astype(np.float64), w_step, b_step)
            for i in range(0, len(values), 2)]


def load_quantized(tensors: list[torch.Tensor], values: list[np.ndarray], w_step: float,
                   b_step: float) -> None:
    """Overwrite float parameters with their dequantised values."""
    import torch

    with torch.no_grad():
        for i, (t, v) in enumerate(zip(tensors, values)):
            step = w_step if i % 2 == 0 else b_step
            t.copy_(torch.from_numpy(v * step).to(t.dtype))
