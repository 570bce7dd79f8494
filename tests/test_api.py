import numpy as np
import pytest
import torch

import c3codec
from c3codec.evaluation.speed import measure_speed
from conftest import synthetic


def test_python_api_roundtrip(tmp_path):
    pixels = synthetic(16, 20, seed=11).pixels.astype(np.uint8)
    data = c3codec.encode(pixels, 1e-3, steps=20)
    out = c3codec.decode(data)
    assert out.dtype == np.uint8 and out.shape == (16, 20, 3)
    result = c3codec.encode_image(pixels, 1e-3, steps=20)
    assert result.data == data
    assert np.array_equal(out, result.reconstruction.pixels)


def test_python_api_16_bit_and_path(tmp_path):
    from c3codec.io.images import save_png

    picture = synthetic(8, 8, channels=1, bit_depth=16, seed=12)
    save_png(tmp_path / "g16.png", picture)
    out = c3codec.decode(c3codec.encode(tmp_path / "g16.png", 1e-4, steps=10))
    assert out.dtype == np.uint16 and out.shape == (8, 8, 1)


@pytest.mark.parametrize("device,message", [("gpu0", "not a device"), ("meta", "only cpu and cuda")]
                         + ([] if torch.cuda.is_available() else [("cuda", "CUDA is not available")]))
def test_python_api_rejects_unusable_devices(device, message):
    pixels = synthetic(8, 8, seed=13).pixels.astype(np.uint8)
    with pytest.raises(ValueError, match=message):
        c3codec.encode(pixels, 1e-3, steps=5, device=device)


def test_sample_image_is_shipped():
    picture = c3codec.load_image(c3codec.sample_image_path())
    assert picture.pixels.shape == (128, 128, 3)


def test_speed_measurement_structure():
    result = measure_speed(synthetic(16, 16), steps=2, encode_steps=5)
    assert len(result["step_seconds"]) == 2 and result["step_seconds_median"] > 0
    assert len(result["decode_seconds"]) == 5 and result["decode_bpp"] > 0
    stages = result["decode_stages_median"]
    assert set(stages) == {"parse", "parameters", "tables", "latents", "synthesis", "png"}
    assert all(seconds >= 0 for seconds in stages.values())


def test_speed_measurement_of_another_width(tmp_path, capsys):
    from PIL import Image

    from c3codec.cli import main

    src = tmp_path / "in.png"
    Image.fromarray(synthetic(16, 16).pixels.astype("uint8")).save(src)
    assert main(["bench", "speed", str(src), "--steps", "2", "--encode-steps", "5",
                 "--width", "12"]) == 0
    out = capsys.readouterr().out
    assert "networks 12 wide" in out and "latents" in out and "synthesis" in out
