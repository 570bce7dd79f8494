import json
import math

import numpy as np
import pytest

from c3codec.cli import main
from c3codec.evaluation.bdrate import bd
from c3codec.evaluation.results import load_curve, read_rows
from conftest import SHARED

ANCHORS = SHARED / "anchors" / "kodak_rd.tsv"


def test_scaled_rate_gives_exact_bd_rate():
    rate = [0.1, 0.25, 0.5, 1.0, 1.6]
    psnr = [27.0, 30.0, 33.0, 36.5, 39.0]
    assert math.isclose(bd(rate, psnr, rate, psnr).rate_cubic, 0.0, abs_tol=1e-9)
    half = bd(rate, psnr, [r / 2 for r in rate], psnr)
    assert math.isclose(half.rate_cubic, -50.0, rel_tol=1e-9)
    assert math.isclose(half.rate_pchip, -50.0, rel_tol=1e-9)
    assert half.psnr > 0
    shifted = bd(rate, psnr, rate, [p + 1.0 for p in psnr])
    assert shifted.rate_cubic < 0 and shifted.warning is None


def test_small_overlap_warns():
    r = bd([0.1, 0.2, 0.4, 0.8], [25, 28, 31, 34], [0.5, 1.0, 2.0, 4.0], [33, 36, 39, 42])
    assert r.warning and "overlap" in r.warning


def test_bad_curves_are_rejected():
    with pytest.raises(ValueError):
        bd([0.1, 0.2], [30, 31], [0.1, 0.2], [30, 31])
    with pytest.raises(ValueError):
        bd([0.1, 0.2, 0.3, 0.4], [20, 21, 22, 23], [0.1, 0.2, 0.3, 0.4], [40, 41, 42, 43])


@pytest.mark.skipif(not ANCHORS.exists(), reason="../shared/data/anchors not available")
def test_published_c3_values(capsys):
    c3 = load_curve(f"{ANCHORS}:C3")
    vtm = load_curve(f"{ANCHORS}:VTM")
    bpg = load_curve(f"{ANCHORS}:BPG")
    assert round(bd(vtm.bpp, vtm.psnr, c3.bpp, c3.psnr).rate_cubic, 1) == 5.0
    assert round(bd(bpg.bpp, bpg.psnr, c3.bpp, c3.psnr).rate_cubic, 1) == -16.4
    assert main(["bdrate", f"{ANCHORS}:C3", f"{ANCHORS}:VTM"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "BD-rate (cubic): +5.01 %"
    assert out[1].startswith("BD-rate (PCHIP): ") and out[2].startswith("BD-PSNR: ")
    assert main(["bdrate", f"{ANCHORS}:C3", f"{ANCHORS}:BPG", "--json"]) == 0
    assert round(json.loads(capsys.readouterr().out)["bd_rate_cubic"], 1) == -16.4


def test_coolchic_per_image_table(tmp_path, capsys):
    """Cool-chic's published per-image tables read as result rows and average per lambda."""
    table = tmp_path / "coolchic.tsv"
    lines = ["lmbda\tseq_name\tn_pixels\tloss\tpsnr_db\trate_bpp"]
    for lmbda, bpp, psnr in [(1e-2, 0.1, 27.0), (3e-3, 0.25, 30.0), (1e-3, 0.5, 33.0), (3e-4, 1.0, 36.5)]:
        lines += [f"{lmbda}\timgA\t393216\t0\t{psnr + 1}\t{bpp}",
                  f"{lmbda}\timgB\t393216\t0\t{psnr - 1}\t{3 * bpp}"]
    table.write_text("\n".join(lines) + "\n")
    rows = read_rows(table)
    assert len(rows) == 8 and {r.image for r in rows} == {"imgA", "imgB"}
    assert all(r.codec == "coolchic" and math.isnan(r.encode_seconds) for r in rows)
    curve = load_curve(str(table))
    assert curve.bpp == pytest.approx([0.2, 0.5, 1.0, 2.0]) and curve.psnr == pytest.approx([27, 30, 33, 36.5])
    summary = tmp_path / "half.json"
    summary.write_text(json.dumps({"name": "half", "results": {"bpp": [b / 2 for b in curve.bpp],
                                                                "psnr-rgb": curve.psnr}}))
    assert main(["bdrate", str(summary), str(table)]) == 0
    assert capsys.readouterr().out.startswith("BD-rate (cubic): -50.00 %")


def test_bdrate_cli_errors(tmp_path, capsys):
    assert main(["bdrate", str(tmp_path / "none.json"), str(tmp_path / "x.json")]) == 2
    assert "no such" in capsys.readouterr().err


def test_plot_cli(tmp_path):
    summary = {"name": "A", "description": "", "results": {
        "bpp": list(np.linspace(0.1, 1.5, 5)), "psnr-rgb": [28, 31, 34, 36, 38]}}
    (tmp_path / "a.json").write_text(json.dumps(summary))
    out = tmp_path / "rd.png"
    specs = [str(tmp_path / "a.json")] + ([f"{ANCHORS}:VTM"] if ANCHORS.exists() else [])
    assert main(["plot", *specs, "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
