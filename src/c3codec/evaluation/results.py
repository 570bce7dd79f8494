"""Result sets: one row per (image, setting) in a TSV, and a CompressAI-style summary.

Averaging convention (as in the C3 paper and CompressAI): for every setting (lambda or quality)
the dataset point is the mean over images of the per-image bpp and the mean of the per-image PSNR.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from pathlib import Path

from ..io.images import atomic_write


@dataclass
class ResultRow:
    codec: str
    image: str
    setting: float  # lambda for C3, quality for classical codecs
    bpp: float  # from the real file size
    psnr: float  # RGB PSNR of the decoded image
    ms_ssim: float  # NaN when the image is too small for 5 scales
    bytes: int
    width: int
    height: int
    encode_seconds: float
    decode_seconds: float
    macs_per_pixel: float  # NaN for classical codecs
    stage1_steps: float = math.nan  # fitting steps C3 took (a budget decides them); NaN otherwise
    # videos (NaN for images): bpp and psnr are then over all frames, psnr the mean of the
    # per-frame RGB PSNRs (C3's B.2); psnr_yuv the mean per-frame (6 Y + U + V) / 8 PSNR
    frames: float = math.nan
    fps: float = math.nan
    kbps: float = math.nan
    psnr_yuv: float = math.nan

    @property
    def key(self) -> tuple[str, str, float]:
        return self.codec, self.image, self.setting


COLUMNS = [f.name for f in fields(ResultRow)]
_TYPES = {f.name: f.type for f in fields(ResultRow)}
_OPTIONAL = {"stage1_steps", "frames", "fps", "kbps", "psnr_yuv"}  # added later: older files still read (NaN)


def _parse(row: dict[str, str]) -> ResultRow | None:
    try:
        values = {}
        for name in COLUMNS:
            if name in _OPTIONAL and row.get(name) is None:
                continue
            kind = _TYPES[name]
            text = row[name]
            values[name] = int(text) if kind == "int" else (text if kind == "str" else float(text))
        return ResultRow(**values)
    except (KeyError, TypeError, ValueError):
        return None  # a line cut short by an interruption: ignored, the task is redone


COOLCHIC_COLUMNS = {"lmbda", "seq_name", "psnr_db", "rate_bpp"}
"""Columns of Cool-chic's published per-image tables (e.g. results/v5.0/image-kodak.tsv)."""


def _parse_coolchic(row: dict[str, str], codec: str) -> ResultRow | None:
    """A row of a Cool-chic per-image table; what it does not publish (times, sizes) is NaN or 0."""
    try:
        return ResultRow(codec=codec, image=row["seq_name"], setting=float(row["lmbda"]),
                         bpp=float(row["rate_bpp"]), psnr=float(row["psnr_db"]), ms_ssim=math.nan,
                         bytes=0, width=0, height=0, encode_seconds=math.nan,
                         decode_seconds=math.nan, macs_per_pixel=math.nan)
    except (KeyError, TypeError, ValueError):
        return None


def _row_parser(columns: Iterable[str], stem: str) -> Callable[[dict[str, str]], ResultRow | None] | None:
    """How to read the per-image rows of a table with these columns: ``c3 eval``'s own layout or
    Cool-chic's (its codec named after the file, ``stem``); None for a table of curve points."""
    columns = set(columns)
    if COOLCHIC_COLUMNS <= columns:
        return lambda row: _parse_coolchic(row, stem)
    return _parse if "image" in columns else None


def read_rows(path: str | Path) -> list[ResultRow]:
    """Per-image rows of a ``c3 eval`` results.tsv, or of a Cool-chic per-image table (codec named
    after the file)."""
    path = Path(path)
    if not path.exists():
        return []
    with path.open(newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        parse = _row_parser(reader.fieldnames or (), path.stem) or _parse
        rows = [parse(r) for r in reader]
    return [r for r in rows if r is not None]


def append_row(path: str | Path, row: ResultRow) -> None:
    """Append one row (with the header if the file is new); one write call per line."""
    path = Path(path)
    new = not path.exists() or path.stat().st_size == 0
    prefix = "\t".join(COLUMNS) + "\n" if new else ""
    columns = COLUMNS
    if not new:
        with path.open("rb") as f:
            # a file written before a column was added keeps its own columns
            header = f.readline().decode("utf-8", "replace").rstrip("\r\n").split("\t")
            columns = [c for c in header if c in COLUMNS] or COLUMNS
            f.seek(-1, 2)
            if f.read(1) != b"\n":  # a line cut short by an interruption: end it first
                prefix = "\n"
    with path.open("a", newline="") as f:
        f.write(prefix + "\t".join(_format(getattr(row, c)) for c in columns) + "\n")
        f.flush()


def _format(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def summarize(rows: list[ResultRow], name: str, description: str) -> dict:
    """CompressAI results layout: ``{"name", "description", "results": {"bpp": [...], ...}}``."""
    settings = sorted({r.setting for r in rows})
    results: dict[str, list[float]] = {k: [] for k in (
        "setting", "bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time",
        "macs_per_pixel", "num_images", "psnr-yuv", "kbps")}
    for s in settings:
        group = [r for r in rows if r.setting == s]
        results["setting"].append(s)
        results["bpp"].append(statistics.mean(r.bpp for r in group))
        results["psnr-rgb"].append(statistics.mean(r.psnr for r in group))
        results["ms-ssim-rgb"].append(statistics.mean(r.ms_ssim for r in group))
        results["encoding_time"].append(statistics.mean(r.encode_seconds for r in group))
        results["decoding_time"].append(statistics.mean(r.decode_seconds for r in group))
        results["macs_per_pixel"].append(statistics.mean(r.macs_per_pixel for r in group))
        results["num_images"].append(len(group))
        results["psnr-yuv"].append(statistics.mean(r.psnr_yuv for r in group))
        results["kbps"].append(statistics.mean(r.kbps for r in group))
    order = sorted(range(len(settings)), key=lambda i: results["bpp"][i])
    results = {k: [_json_number(v[i]) for i in order] for k, v in results.items()}
    return {"name": name, "description": description, "results": results}


def _json_number(value: float) -> float | None:
    return None if isinstance(value, float) and math.isnan(value) else value


def write_summary(path: str | Path, summary: dict) -> None:
    atomic_write(path, (json.dumps(summary, indent=2) + "\n").encode())


@dataclass
class Curve:
    name: str
    bpp: list[float]
    psnr: list[float]


def load_curves(spec: str) -> list[Curve]:
    """RD curve(s) from ``summary.json``, ``results.tsv``, a Cool-chic per-image table (averaged
    per lambda) or ``FILE:NAME`` (rows of codec NAME in a TSV with a codec column, e.g.
    ``anchors/kodak_rd.tsv:C3``)."""
    path, name = spec, ""
    if not Path(spec).exists() and ":" in spec:
        path, _, name = spec.rpartition(":")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{path}: no such result file")
    if p.suffix == ".json":
        data = json.loads(p.read_text())
        res = data["results"]
        return [Curve(data.get("name", p.stem), list(res["bpp"]), list(res["psnr-rgb"]))]
    with p.open(newline="") as f:
        table = list(csv.DictReader(f, delimiter="\t"))
    if not table:
        raise ValueError(f"{path}: empty table")
    parse = _row_parser(table[0], p.stem)
    codecs = sorted({r.get("codec", p.stem) for r in table}) if not name else [name]
    curves = []
    for codec in codecs:
        group = [r for r in table if r.get("codec", p.stem) == codec]
        if not group:
            raise ValueError(f"{path}: no rows for codec {codec!r}")
        if parse is not None:  # per-image rows: average per setting
            rows = [x for x in (parse(r) for r in group) if x is not None]
            s = summarize(rows, codec, "")["results"]
            curves.append(Curve(codec, s["bpp"], s["psnr-rgb"]))
        else:
            pts = sorted((float(r["bpp"]), float(r["psnr"])) for r in group)
            curves.append(Curve(codec, [b for b, _ in pts], [d for _, d in pts]))
    return curves


def load_curve(spec: str) -> Curve:
    curves = load_curves(spec)
    if len(curves) != 1:
        raise ValueError(f"{spec} holds several codecs ({', '.join(c.name for c in curves)}): "
                         "pick one with FILE:NAME")
    return curves[0]


