"""c3 eval: real encodes and decodes, consistent files, resume."""

import json

import numpy as np
import pytest
from PIL import Image

from c3codec.cli import main
from c3codec.evaluation.results import read_rows
from conftest import synthetic


@pytest.fixture()
def image_dir(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, (h, w) in enumerate([(20, 24), (16, 28)]):
        Image.fromarray(synthetic(h, w, seed=20 + i).pixels.astype(np.uint8)).save(folder / f"im{i}.png")
    return folder


def test_eval_writes_consistent_results_and_resumes(image_dir, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["eval", str(image_dir), "--lmbda", "1e-2", "1e-3", "--steps", "40", "--out", str(out)]
    assert main(argv) == 0
    rows = read_rows(out / "results.tsv")
    assert len(rows) == 4
    # image by image (one job: in order), so an interrupted run leaves whole curves
    assert [(r.image, r.setting) for r in rows] == [(f"im{i}", l) for i in (0, 1) for l in (1e-2, 1e-3)]
    for r in rows:
        assert r.codec == "c3" and r.bytes > 0
        assert r.bpp == pytest.approx(8 * r.bytes / (r.width * r.height))
        assert r.psnr > 10 and r.decode_seconds > 0 and r.macs_per_pixel > 1000
        assert r.stage1_steps == 40
    summary = json.loads((out / "summary.json").read_text())
    assert summary["name"] == "C3"
    res = summary["results"]
    assert len(res["bpp"]) == 2 and res["num_images"] == [2, 2]
    for lmbda in (1e-2, 1e-3):
        group = [r for r in rows if r.setting == lmbda]
        i = res["setting"].index(lmbda)
        assert res["bpp"][i] == pytest.approx(np.mean([r.bpp for r in group]))
        assert res["psnr-rgb"][i] == pytest.approx(np.mean([r.psnr for r in group]))
    assert (out / "rd.png").stat().st_size > 0

    # resume: nothing is redone; a lost row (interrupted run) is redone, others are kept
    capsys.readouterr()
    assert main(argv) == 0
    assert "4 of 4 results already" in capsys.readouterr().out
    lines = (out / "results.tsv").read_text().splitlines()
    (out / "results.tsv").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:10])
    assert main(argv) == 0
    again = read_rows(out / "results.tsv")
    assert len(again) == 4
    assert {r.key for r in again} == {r.key for r in rows}
    kept = {r.key: r for r in again}
    assert sum((kept[r.key].bytes, kept[r.key].psnr, kept[r.key].encode_seconds)
               == (r.bytes, r.psnr, r.encode_seconds) for r in rows) == 3


def test_eval_classical_and_parallel(image_dir, tmp_path):
    out = tmp_path / "jpeg"
    assert main(["eval", str(image_dir), "--codec", "jpeg", "--quality", "30", "90",
                 "--jobs", "2", "--out", str(out)]) == 0
    rows = read_rows(out / "results.tsv")
    assert len(rows) == 4 and all(r.codec == "jpeg" for r in rows)
    hi = np.mean([r.psnr for r in rows if r.setting == 90])
    lo = np.mean([r.psnr for r in rows if r.setting == 30])
    assert hi > lo
    assert all(np.isnan(r.stage1_steps) for r in rows)


def test_results_written_before_the_steps_column_still_read(tmp_path):
    old = tmp_path / "results.tsv"
    old.write_text("codec\timage\tsetting\tbpp\tpsnr\tms_ssim\tbytes\twidth\theight\t"
                   "encode_seconds\tdecode_seconds\tmacs_per_pixel\n"
                   "c3\tim0\t0.001\t1.5\t30.0\tnan\t90\t24\t20\t1.0\t0.1\t1770.0\n")
    (row,) = read_rows(old)
    assert row.bytes == 90 and np.isnan(row.stage1_steps)


def test_eval_errors(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "none"), "--lmbda", "1e-3", "--out", str(tmp_path)]) == 2
    assert main(["eval", str(tmp_path), "--lmbda", "1e-3", "--out", str(tmp_path / "o")]) == 2
    assert main(["eval", str(tmp_path), "--codec", "nope", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("c3: error:") for line in err)


def test_eval_low_complexity(image_dir, tmp_path, capsys):
    """--complexity low reaches every encoding of an eval run (its MACs/pixel are recorded)."""
    out = tmp_path / "low"
    assert main(["eval", str(image_dir / "im0.png"), "--lmbda", "1e-3", "--steps", "10",
                 "--complexity", "low", "--out", str(out)]) == 0
    (row,) = read_rows(out / "results.tsv")
    assert row.macs_per_pixel < 500
    assert "low complexity" in json.loads((out / "summary.json").read_text())["description"]
    assert main(["eval", str(image_dir / "im0.png"), "--codec", "jpeg", "--complexity", "low",
                 "--out", str(tmp_path / "j")]) == 2
    assert "--complexity" in capsys.readouterr().err


def test_eval_drop_finest(image_dir, tmp_path, capsys):
    """--drop-finest reaches every encoding of an eval run: no full-resolution grid, so about
    half the decoding MACs of the default; it contradicts --adaptive, which makes that choice."""
    runs = {}
    for flag in ([], ["--drop-finest"]):
        out = tmp_path / ("drop" if flag else "default")
        assert main(["eval", str(image_dir / "im0.png"), "--lmbda", "1e-3", "--steps", "5", *flag,
                     "--out", str(out)]) == 0
        (runs[bool(flag)],) = read_rows(out / "results.tsv")
    assert runs[True].macs_per_pixel < 0.7 * runs[False].macs_per_pixel
    out = tmp_path / "prev"  # --prev-grid K: the ARM's K x K window of the finer grid, K^2 more inputs
    assert main(["eval", str(image_dir / "im0.png"), "--lmbda", "1e-3", "--steps", "5", "--prev-grid", "1",
                 "--out", str(out)]) == 0
    (prev,) = read_rows(out / "results.tsv")
    assert runs[False].macs_per_pixel < prev.macs_per_pixel < 1.05 * runs[False].macs_per_pixel
    assert "previous-grid context 1x1" in json.loads((out / "summary.json").read_text())["description"]
    assert "finest grid off" in json.loads((tmp_path / "drop" / "summary.json").read_text())["description"]
    capsys.readouterr()
    assert main(["eval", str(image_dir / "im0.png"), "--lmbda", "1e-3", "--steps", "5", "--drop-finest",
                 "--adaptive", "--out", str(tmp_path / "both")]) == 2
    assert "--drop-finest" in capsys.readouterr().err
    assert main(["eval", str(image_dir / "im0.png"), "--codec", "jpeg", "--finest-grid", "on",
                 "--out", str(tmp_path / "j")]) == 2
    assert "--finest-grid" in capsys.readouterr().err
