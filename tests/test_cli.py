"""The c3 command: results, exit codes, one-line errors, no partial outputs."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from c3codec.cli import main
from c3codec.io.images import load_image
from conftest import synthetic


@pytest.fixture(scope="module")
def image_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "in.png"
    Image.fromarray(synthetic(24, 32, seed=9).pixels.astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def c3_file(image_file) -> Path:
    out = image_file.with_suffix(".c3")
    assert main(["encode", str(image_file), "-o", str(out), "--lmbda", "1e-3", "--steps", "30",
                 "--quiet", "--threads", "1"]) == 0
    return out


def test_encode_decode_info(c3_file, tmp_path, capsys):
    png = tmp_path / "out.png"
    assert main(["decode", str(c3_file), "-o", str(png), "--threads", "2"]) == 0
    assert load_image(png).pixels.shape == (24, 32, 3)
    capsys.readouterr()
    assert main(["info", str(c3_file), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    breakdown = info["bytes_breakdown"]
    assert info["bytes"] == c3_file.stat().st_size
    assert (breakdown["header"] + breakdown["synthesis"] + breakdown["entropy_model"]
            + breakdown["latents"]) == info["bytes"]
    assert len(breakdown["latents_per_grid"]) == 7
    assert info["macs_per_pixel"]["total"] > 1000
    assert main(["info", str(c3_file)]) == 0
    assert "MACs/pixel" in capsys.readouterr().out


def test_encode_with_the_previous_grid_context(image_file, tmp_path, capsys):
    """--prev-grid K reaches the file (``c3 info`` names the window) and decodes to the
    encoder's reconstruction."""
    out = tmp_path / "p.c3"
    assert main(["encode", str(image_file), "-o", str(out), "--lmbda", "1e-2", "--steps", "4", "--prev-grid", "1",
                 "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert main(["info", str(out)]) == 0
    assert "previous grid 1x1" in capsys.readouterr().out
    png = tmp_path / "p.png"
    assert main(["decode", str(out), "-o", str(png)]) == 0
    from c3codec.evaluation.metrics import psnr
    assert stats["psnr"] == psnr(load_image(png).pixels, load_image(image_file).pixels, 255)


def test_encode_with_one_arm_per_grid(image_file, tmp_path, capsys):
    """--per-grid-arm W: one (W, W) ARM per grid in the file, named by ``c3 info``, decoded to
    the encoder's reconstruction; classical codecs refuse it."""
    out = tmp_path / "g.c3"
    assert main(["encode", str(image_file), "-o", str(out), "--lmbda", "1e-2", "--steps", "4", "--per-grid-arm", "4",
                 "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert main(["info", str(out), "--json"]) == 0
    entropy = json.loads(capsys.readouterr().out)["architecture"]["entropy"]
    assert entropy["per_grid"] is True and entropy["widths"] == [4, 4]
    assert main(["info", str(out)]) == 0
    assert "one ARM per grid" in capsys.readouterr().out
    png = tmp_path / "g.png"
    assert main(["decode", str(out), "-o", str(png)]) == 0
    from c3codec.evaluation.metrics import psnr
    assert stats["psnr"] == psnr(load_image(png).pixels, load_image(image_file).pixels, 255)
    with pytest.raises(SystemExit) as exc:
        main(["encode", str(image_file), "-o", str(tmp_path / "h.c3"), "--lmbda", "1e-2", "--per-grid-arm", "3"])
    assert exc.value.code == 2 and not (tmp_path / "h.c3").exists()
    assert main(["eval", str(image_file), "--codec", "jpeg", "--per-grid-arm", "--out", str(tmp_path / "j")]) == 2
    assert "--per-grid-arm" in capsys.readouterr().err


def test_encode_json_reports_decoded_quality(image_file, tmp_path, capsys):
    out = tmp_path / "x.c3"
    assert main(["encode", str(image_file), "-o", str(out), "--lmbda", "1e-2", "--steps", "20",
                 "--json", "--width", "12", "--context", "5"]) == 0
    stats = json.loads(capsys.readouterr().out)
    png = tmp_path / "x.png"
    assert main(["decode", str(out), "-o", str(png)]) == 0
    from c3codec.evaluation.metrics import psnr
    original = load_image(image_file)
    assert stats["psnr"] == psnr(load_image(png).pixels, original.pixels, 255)
    assert stats["bytes"] == out.stat().st_size


@pytest.mark.parametrize("args,message", [
    (["encode", "{missing}", "-o", "{out}", "--lmbda", "1e-3"], "no such file"),
    (["encode", "{text}", "-o", "{out}", "--lmbda", "1e-3"], "not an image"),
    (["encode", "{image}", "-o", "{nodir}", "--lmbda", "1e-3"], "does not exist"),
    (["decode", "{text}", "-o", "{out}"], "magic"),
    (["decode", "{missing}", "-o", "{out}"], "no such file"),
    (["decode", "{truncated}", "-o", "{out}"], "truncated"),
    (["info", "{text}"], "magic"),
])
def test_errors_exit_2_with_one_line(args, message, tmp_path, image_file, c3_file, capsys):
    (tmp_path / "t.txt").write_text("not an image")
    (tmp_path / "cut.c3").write_bytes(c3_file.read_bytes()[:40])
    names = {"missing": tmp_path / "nope.png", "text": tmp_path / "t.txt", "out": tmp_path / "o.bin",
             "nodir": tmp_path / "no" / "o.c3", "image": image_file, "truncated": tmp_path / "cut.c3"}
    argv = [a.format(**{k: str(v) for k, v in names.items()}) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("c3: error:") and message in err[0]
    assert not (tmp_path / "o.bin").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("bad", [["--lmbda", "-1"], ["--lmbda", "abc"], ["--steps", "-3"],
                                 ["--threads", "0"], ["--preset", "nope"],
                                 ["--device", "gpu0"], ["--device", "meta"],
                                 ["--device", "cuda:99"]])
def test_bad_options_exit_2(bad, image_file, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["encode", str(image_file), "-o", str(tmp_path / "o.c3"), "--lmbda", "1e-3", *bad])
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "o.c3").exists()


def test_cuda_without_cuda_is_a_one_line_error(image_file, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(SystemExit) as exc:
        main(["encode", str(image_file), "-o", str(tmp_path / "o.c3"), "--lmbda", "1e-3",
              "--device", "cuda"])
    assert exc.value.code == 2
    assert "argument --device: cuda: CUDA is not available" in capsys.readouterr().err


def test_console_script_exit_codes(c3_file, tmp_path):
    script = Path(sys.executable).with_name("c3")
    if not script.exists():
        pytest.skip("c3 console script not installed in this environment")
    ok = subprocess.run([str(script), "info", str(c3_file)], capture_output=True, text=True)
    assert ok.returncode == 0 and "bpp" in ok.stdout
    bad = subprocess.run([str(script), "decode", str(tmp_path / "none.c3"), "-o",
                          str(tmp_path / "x.png")], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_png_level_changes_size_not_pixels(c3_file, tmp_path):
    fast, small = tmp_path / "fast.png", tmp_path / "small.png"
    assert main(["decode", str(c3_file), "-o", str(fast), "--png-level", "0"]) == 0
    assert main(["decode", str(c3_file), "-o", str(small), "--png-level", "9"]) == 0
    assert np.array_equal(load_image(fast).pixels, load_image(small).pixels)
    assert fast.stat().st_size > small.stat().st_size


def test_decode_and_info_do_not_import_torch(c3_file, tmp_path):
    """Importing PyTorch takes seconds: `c3 decode` and `c3 info` must not need it."""
    code = ("import sys\nfrom c3codec.cli import main\n"
            f"assert main(['decode', {str(c3_file)!r}, '-o', {str(tmp_path / 'x.png')!r}]) == 0\n"
            f"assert main(['info', {str(c3_file)!r}]) == 0\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
