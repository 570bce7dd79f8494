"""The compiled exact decoder gives exactly the numpy reference's numbers.

Pieces are compared on their own first (GELU on every table input, table rows, the range coder
against constriction), then whole decodes: every architecture option, odd sizes, grey, RGBA,
16 bit, 1 to 3 threads. The golden files (test_golden.py) pin both to files of older revisions.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from c3codec.coding.latents import latent_tables, scale_grid
from c3codec.coding.range_coder import SymbolEncoder
from c3codec.coding.tables import MU_STEPS
from c3codec.config import ArchitectureConfig, SynthesisConfig, default_architecture
from c3codec.decoder import decode, decode_parsed
from c3codec.coding.bitstream import read
from c3codec.exact import native
from c3codec.exact.arithmetic import ONE, gelu_fixed
from conftest import quick_encode, synthetic

pytestmark = pytest.mark.skipif(not native.available(), reason="no C compiler for the native decoder")

BASE = ArchitectureConfig()


def test_gelu_matches_the_table_everywhere():
    x = np.arange(-9 * ONE, 9 * ONE, 1.0)
    x = np.concatenate([x, [1e300, -1e300, 2.0**60, -(2.0**60), -0.0, 8 * ONE, -8 * ONE]])
    for offset in range(4):  # vector body and scalar tail on every alignment
        assert np.array_equal(native.gelu(x[offset:]), gelu_fixed(x[offset:]))


@pytest.mark.parametrize("symbol_range", [1, 5, 40, 300])
def test_table_rows_match_numpy(symbol_range):
    """Rows the kernel builds lazily are the numpy table's rows, quantised as constriction does."""
    arch = BASE
    table = latent_tables([symbol_range], arch)[0]
    laplace = native.LaplaceTable(arch)
    count = scale_grid(arch).count
    quantised = native.quantize_rows(table)
    for frac in (0, 3, MU_STEPS // 2, MU_STEPS):
        for scale in (0, 7, count // 2, count - 1):
            p, cdf = laplace.row(frac, scale, symbol_range)
            assert np.array_equal(p, table[frac, scale])
            assert np.array_equal(cdf, quantised[frac, scale])


@pytest.mark.parametrize("seed", range(3))
def test_range_decoder_reads_constriction_streams(seed):
    """Symbols coded by constriction with float rows decode with the kernel's quantised rows."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 200))
    rows = rng.gamma(0.3, size=(50, n)) + rng.choice([0.0, 1e-12], size=(50, n))
    rows[:, 0] += 1e-3
    which = rng.integers(0, 50, 5000)
    # symbols drawn from their rows, plus some very unlikely ones
    symbols = np.array([rng.choice(n, p=rows[k] / rows[k].sum()) for k in which])
    symbols[rng.integers(0, 5000, 50)] = n - 1
    encoder = SymbolEncoder()
    encoder.encode(symbols, rows[which])
    stream = encoder.finish()
    decoded = native.range_decode(stream, native.quantize_rows(rows), which)
    assert np.array_equal(decoded, symbols)


def test_parameter_streams_decode_the_same():
    """Network parameters through the kernel and through constriction, including wide ranges."""
    from c3codec.coding.parameters import decode_tensors, encode_tensors

    rng = np.random.default_rng(4)
    tensors = [rng.laplace(0, scale, size).round().astype(np.int64)
               for scale, size in [(0.3, 7), (30.0, (5, 4)), (3000.0, 50), (1.0, 1), (2e5, 9)]]
    tensors[3][...] = 0
    data, codes = encode_tensors(tensors)
    shapes = [t.shape for t in tensors]
    for fast, slow, original in zip(decode_tensors(data, codes, shapes),
                                    decode_tensors(data, codes, shapes, reference=True), tensors):
        assert np.array_equal(fast, original) and np.array_equal(slow, original)


def _check_same(data: bytes) -> None:
    reference, ref_latents = decode_parsed(read(data), reference=True)
    for threads in (1, 2, 3):
        picture, latents = decode_parsed(read(data), threads=threads)
        assert picture.pixels.dtype == reference.pixels.dtype
        assert np.array_equal(picture.pixels, reference.pixels)
        assert all(np.array_equal(a, b) for a, b in zip(latents, ref_latents))


ARCHITECTURES = {
    "c3": BASE,
    "budget": default_architecture(budget=True),
    "w24_ctx9": replace(BASE.with_widths(24), entropy=replace(BASE.entropy, widths=(24, 24), context=9)),
    "ctx3_prev_grid": replace(BASE, entropy=replace(BASE.entropy, context=3, use_prev_grid=True)),
    "ctx5_prev5_drop": replace(BASE, latents=replace(BASE.latents, drop_finest=True),
                               entropy=replace(BASE.entropy, context=5, use_prev_grid=True, prev_kernel=5)),
    "deep_k5": replace(BASE, synthesis=SynthesisConfig(widths=(8, 16, 8), num_residual=3, residual_kernel=5),
                       entropy=replace(BASE.entropy, widths=(16, 8, 8))),
    "no_residual_few_grids": replace(BASE, synthesis=SynthesisConfig(widths=(12,), num_residual=0),
                                     latents=replace(BASE.latents, num_grids=3)),
    "marm1": default_architecture(budget=True).with_marm(1),
    "marm4_deep_aru": replace(BASE, entropy=replace(BASE.entropy, aru_grids=4, aru_widths=(8, 6))),
    "marm7_all_aru": default_architecture(budget=True).with_marm(7),
    "marm3_prev_grid_drop": replace(BASE, latents=replace(BASE.latents, drop_finest=True),
                                    entropy=replace(BASE.entropy, use_prev_grid=True, aru_grids=3)),
    "per_grid": default_architecture(budget=True).with_per_grid(True),
    "per_grid_prev_grid_narrow": replace(BASE, entropy=replace(BASE.entropy, widths=(2, 2), per_grid=True,
                                                               use_prev_grid=True, prev_kernel=1)),
    "per_grid_marm2": replace(BASE, entropy=replace(BASE.entropy, widths=(8, 8), per_grid=True, aru_grids=2)),
}


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_architectures_decode_the_same(name):
    picture = synthetic(37, 29, seed=3)
    _check_same(quick_encode(picture, steps=25, arch=ARCHITECTURES[name]).data)


@pytest.mark.parametrize("size,channels,bit_depth", [((1, 1), 3, 8), ((1, 70), 1, 8), ((67, 2), 4, 8),
                                                      ((33, 17), 1, 16), ((19, 23), 3, 16),
                                                      ((130, 9), 3, 8)])
def test_sizes_and_formats_decode_the_same(size, channels, bit_depth):
    picture = synthetic(*size, channels=channels, bit_depth=bit_depth, seed=size[0])
    _check_same(quick_encode(picture, lmbda=3e-4, steps=20).data)


def test_tall_image_spans_several_bands():
    """Taller than a band: bands wait for the finest grid's rows (and the residual layers' halo
    below the band) while it is decoded. Races show only sometimes: decode many times."""
    data = quick_encode(synthetic(300, 20, seed=5), steps=15).data
    reference = decode(data, reference=True).pixels
    for k in range(24):
        assert np.array_equal(decode(data, threads=2 + k % 2).pixels, reference)


def test_corrupt_latent_stream_is_an_error_with_threads(small_encoding):
    """A broken grid stream must not leave the other thread waiting for its rows."""
    f = read(small_encoding.data)
    from c3codec.coding.bitstream import BitstreamError

    for n in (0, len(f.latents.streams) - 1):
        streams = list(f.latents.streams)
        streams[n] = bytes(len(streams[n]))  # all zero words
        f.latents.streams = streams
        for threads in (1, 2):
            try:
                decode_parsed(f, threads=threads)
            except BitstreamError:
                pass
        f = read(small_encoding.data)


def test_decode_is_the_encoders_reconstruction(small_encoding):
    assert np.array_equal(decode(small_encoding.data).pixels, small_encoding.reconstruction.pixels)
