"""Encode -> file -> decode: exactness, reported numbers, every input kind."""

import numpy as np
import pytest
import torch

from c3codec.coding.bitstream import read
from c3codec.config import ArchitectureConfig, EntropyConfig, LatentConfig, SynthesisConfig
from c3codec.decoder import decode, decode_parsed
from c3codec.evaluation.metrics import psnr
from conftest import kodak_crop, quick_encode, synthetic


def _check_roundtrip(picture, result):
    decoded = decode(result.data)
    assert decoded.bit_depth == picture.bit_depth
    assert decoded.pixels.shape == picture.pixels.shape
    assert np.array_equal(decoded.pixels, result.reconstruction.pixels)
    assert decoded.pixels.min() >= 0 and decoded.pixels.max() <= picture.max_value
    # numbers reported at encode time are those of the decoded file
    assert result.stats.psnr == psnr(decoded.pixels, picture.pixels, picture.max_value)
    assert result.stats.bytes == len(result.data)
    assert result.stats.bpp == 8 * len(result.data) / (picture.height * picture.width)
    return decoded


def test_roundtrip_is_exact(small_picture, small_encoding):
    decoded = _check_roundtrip(small_picture, small_encoding)
    assert psnr(decoded.pixels, small_picture.pixels, 255) > 20


def test_decoded_latents_equal_encoder_latents(small_encoding):
    _, latents = decode_parsed(read(small_encoding.data))
    assert len(latents) == len(small_encoding.latents)
    for a, b in zip(latents, small_encoding.latents):
        assert np.array_equal(a, b)


def test_decoding_ignores_threads_and_chunk_size(small_encoding):
    f = read(small_encoding.data)
    threads = torch.get_num_threads()
    outputs = []
    try:
        for n_threads, chunk in ((1, 1 << 16), (2, 1 << 16), (1, 7), (2, 333)):
            torch.set_num_threads(n_threads)
            outputs.append(decode_parsed(f, chunk=chunk)[0].pixels)
    finally:
        torch.set_num_threads(threads)
    for out in outputs[1:]:
        assert np.array_equal(out, outputs[0])


@pytest.mark.parametrize("arch", [
    ArchitectureConfig(entropy=EntropyConfig(use_prev_grid=True)),
    ArchitectureConfig(latents=LatentConfig(drop_finest=True, num_grids=5),
                       entropy=EntropyConfig(context=5)).with_widths(12),
    ArchitectureConfig(synthesis=SynthesisConfig(widths=(8,), num_residual=0),
                       entropy=EntropyConfig(widths=(6, 6, 6), context=3)),
], ids=["prev-grid", "drop-finest-5x5", "small"])
def test_architectures_roundtrip(arch):
    picture = synthetic(24, 36, seed=3)
    _check_roundtrip(picture, quick_encode(picture, steps=25, arch=arch))


@pytest.mark.parametrize("size", [(1, 1), (1, 7), (5, 3), (33, 17), (65, 2)])
def test_any_size(size):
    picture = synthetic(*size, seed=4)
    result = quick_encode(picture, steps=15)
    decoded = _check_roundtrip(picture, result)
    assert decoded.pixels.shape[:2] == size


@pytest.mark.parametrize("channels,bit_depth", [(1, 8), (4, 8), (3, 16), (1, 16)])
def test_channels_and_bit_depths(channels, bit_depth):
    picture = synthetic(20, 28, channels=channels, bit_depth=bit_depth, seed=5)
    result = quick_encode(picture, steps=30, lmbda=1e-4)
    decoded = _check_roundtrip(picture, result)
    assert decoded.channels == channels
    assert psnr(decoded.pixels, picture.pixels, picture.max_value) > 12


def test_cool_chic_approximations_roundtrip():
    picture = synthetic(16, 16, seed=6)
    for approximation in ("coolchic", "coolchic_v2"):
        _check_roundtrip(picture, quick_encode(picture, steps=20, approximation=approximation))


def test_encoding_is_reproducible(small_picture, small_encoding):
    again = quick_encode(small_picture, steps=100)
    assert again.data == small_encoding.data
    other_seed = quick_encode(small_picture, steps=100, seed=1)
    assert other_seed.data != small_encoding.data


def test_file_size_agrees_with_estimated_rate():
    picture = kodak_crop("kodim01.png", 96, 96)
    result = quick_encode(picture, steps=150, lmbda=1e-3)
    payload_bits = 8 * (result.stats.bytes - result.stats.header_bytes)
    # 4-byte word granularity of each range-coded stream is part of the container overhead
    overhead_bits = 8 * 4 * (len(result.stats.latent_bytes) + 2)
    assert abs(payload_bits - result.stats.estimated_bits) <= 0.01 * result.stats.estimated_bits + overhead_bits
    _check_roundtrip(picture, result)


def test_lower_lambda_spends_more_bits():
    picture = synthetic(32, 32, seed=7)
    low = quick_encode(picture, lmbda=1e-2, steps=80)
    high = quick_encode(picture, lmbda=1e-4, steps=80)
    assert high.stats.bpp > low.stats.bpp
    assert high.stats.psnr > low.stats.psnr
