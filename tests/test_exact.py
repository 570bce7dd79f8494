"""The integer-exact arithmetic the decoder relies on."""

import math

import numpy as np
import torch

from c3codec.exact.arithmetic import ONE, IntLayer, conv_fixed, det_exp, gelu_fixed, linear_fixed
from c3codec.model.latents import upsample


def test_det_exp_is_accurate():
    x = np.linspace(-40, 10, 10001)
    rel = np.abs(det_exp(x) - np.exp(x)) / np.exp(x)
    assert rel.max() < 1e-14


def test_gelu_table_matches_gelu():
    x = np.arange(-10 * ONE, 10 * ONE, 997, dtype=np.float64)
    exact = torch.nn.functional.gelu(torch.from_numpy(x) / ONE).numpy() * ONE
    assert np.abs(gelu_fixed(x) - exact).max() <= 1.0  # within one fixed-point unit
    assert np.array_equal(gelu_fixed(x), np.round(gelu_fixed(x)))


def _random_layer(rng, out, inp, k=None):
    shape = (out, inp) if k is None else (out, inp, k, k)
    w = rng.integers(-40000, 40000, shape).astype(np.float64)
    b = rng.integers(-2000, 2000, out).astype(np.float64)
    return IntLayer(w, b, 5e-5, 1e-3)


def test_linear_is_independent_of_batching_and_order():
    rng = np.random.default_rng(0)
    layer = _random_layer(rng, 18, 24)
    x = rng.integers(-3_000_000, 3_000_000, (5000, 24)).astype(np.float64)
    full = linear_fixed(x, layer, 1.0 / ONE)
    pieces = np.concatenate([linear_fixed(x[i:i + 7], layer, 1.0 / ONE) for i in range(0, 5000, 7)])
    reversed_rows = linear_fixed(x[::-1].copy(), layer, 1.0 / ONE)[::-1]
    reversed_inputs = linear_fixed(x[:, ::-1].copy(), IntLayer(layer.weight[:, ::-1].copy(),
                                   layer.bias, layer.w_step, layer.b_step), 1.0 / ONE)
    assert np.array_equal(full, pieces)
    assert np.array_equal(full, reversed_rows)
    assert np.array_equal(full, reversed_inputs)  # another summation order, same result
    # the accumulator is exact: compare with Python integers on a few rows
    for row in (0, 1234, 4999):
        acc = sum(int(a) * int(b) for a, b in zip(x[row], layer.weight[3]))
        expected = round(acc * (1.0 / ONE * layer.w_step) * ONE + float(layer.bias[3]) * (layer.b_step * ONE))
        assert full[row, 3] == expected


def test_conv_matches_float_conv():
    rng = np.random.default_rng(1)
    layer = _random_layer(rng, 3, 3, k=3)
    x = rng.integers(-70000, 70000, (3, 9, 11)).astype(np.float64)
    out = conv_fixed(x, layer, 1.0 / ONE)
    padded = torch.nn.functional.pad(torch.from_numpy(x / ONE)[None], (1, 1, 1, 1), mode="replicate")
    ref = torch.nn.functional.conv2d(padded, torch.from_numpy(layer.weight * layer.w_step),
                                     torch.from_numpy(layer.bias * layer.b_step))[0].numpy()
    assert np.abs(out / ONE - ref).max() <= 0.5 / ONE + 1e-9


def test_upsampling_is_exact_dyadic():
    rng = np.random.default_rng(2)
    for exponent in range(7):
        grid = torch.from_numpy(rng.integers(-300, 300, (1, 1, 5, 7)).astype(np.float64))
        up = upsample(grid, exponent, (5 * 2**exponent - 3, 7 * 2**exponent - 1))
        scaled = up * 2.0 ** (2 * exponent + 2)
        assert torch.equal(scaled, torch.round(scaled))
        assert up.shape[-2:] == (5 * 2**exponent - 3, 7 * 2**exponent - 1)
    assert math.isclose(float(upsample(torch.ones(1, 1, 3, 3), 2, (12, 12)).mean()), 1.0)
