"""Decode and encode-overhead cost against image size (issue 24 item 5): time and peak memory at
0.4, 3 and 12 megapixels, each in a fresh process (Linux: peak RSS from ru_maxrss).

Images: kodim01 (768x512), and mosaics of Kodak images cropped to 2048x1536 and 4032x3024
(written to a temporary folder, never to the repository). For each: a 3-step encode (its time
outside fitting: parameter search, exact ARM pass, range coding, reconstruction) and decodes of
the file to pixels and to a PNG. Peak RSS is the child process's maximum resident set size.

    .venv/bin/python benchmarks/decode/scaling.py --out benchmarks/decode/scaling.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
KODAK = ROOT.parent / "shared" / "data" / "kodak"
SIZES = {"0.4MP": (512, 768), "3MP": (1536, 2048), "12MP": (3024, 4032)}

ENCODE = """
import json, sys, time
from c3codec import runtime
from c3codec.config import preset_fit_config, default_architecture
from c3codec.encoder import encode
from c3codec.io.images import load_image
runtime.configure(int(sys.argv[3]))
picture = load_image(sys.argv[1])
start = time.perf_counter()
result = encode(picture, 1e-3, arch=default_architecture(budget=True).with_marm(int(sys.argv[4])),
                fit_config=preset_fit_config("fast", steps=3))
total = time.perf_counter() - start
open(sys.argv[2], "wb").write(result.data)
import resource
print(json.dumps({"encode_seconds": total, "fit_seconds": result.stats.fit_seconds,
                  "overhead_seconds": total - result.stats.fit_seconds, "bytes": len(result.data),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""

DECODE = """
import json, sys, time
t0 = time.perf_counter()
from c3codec import runtime
from c3codec.decoder import DecodeTimes, decode
from c3codec.io.images import encode_png
runtime.configure(int(sys.argv[2]))
imported = time.perf_counter() - t0
data = open(sys.argv[1], "rb").read()
times = DecodeTimes()
start = time.perf_counter()
picture = decode(data, times=times)
decoded = time.perf_counter() - start
encode_png(picture)
png = time.perf_counter() - start - decoded
import resource
print(json.dumps({"import_seconds": imported, "decode_seconds": decoded, "png_seconds": png,
                  "latents_seconds": times.latents, "synthesis_seconds": times.synthesis,
                  "tables_seconds": times.tables, "parameters_seconds": times.parameters,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


def mosaic(height: int, width: int) -> np.ndarray:
    tiles = []
    for k in range(1, 25):
        tile = np.asarray(Image.open(KODAK / f"kodim{k:02d}.png").convert("RGB"))
        tiles.append(tile if tile.shape[0] == 512 else tile.transpose(1, 0, 2)[:512, :768])
    rows, k = [], 0
    for _ in range(-(-height // 512)):
        rows.append(np.concatenate([tiles[(k := k + 1) % 24] for _ in range(-(-width // 768))], axis=1))
    return np.concatenate(rows, axis=0)[:height, :width]


def child(code: str, *args: str) -> tuple[dict, int]:
    """Run ``code`` in a fresh interpreter; its JSON line and its peak RSS in MB (which the child
    reports itself: Linux's ru_maxrss, kilobytes)."""
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result, result.pop("peak_mb")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="decodes per size (medians)")
    parser.add_argument("--marm", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from c3codec.compiled import cpu_name

    results = {"cpu": cpu_name(), "threads": args.threads, "marm": args.marm, "sizes": {}}
    with tempfile.TemporaryDirectory() as folder:
        for name in args.sizes:
            h, w = SIZES[name]
            image = Path(folder) / f"{name}.png"
            pixels = (np.asarray(Image.open(KODAK / "kodim01.png").convert("RGB")) if name == "0.4MP"
                      else mosaic(h, w))
            Image.fromarray(pixels).save(image)
            coded = Path(folder) / f"{name}.c3"
            encoded, encode_peak = child(ENCODE, str(image), str(coded), str(args.threads), str(args.marm))
            runs, decode_peak = [], 0
            for _ in range(args.repeats):
                run, peak = child(DECODE, str(coded), str(args.threads))
                runs.append(run)
                decode_peak = max(decode_peak, peak)
            medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            results["sizes"][name] = {"pixels": h * w, "encode": encoded, "encode_peak_mb": encode_peak,
                                      "decode": medians, "decode_peak_mb": decode_peak}
            print(f"{name}: encode overhead {encoded['overhead_seconds']:.1f} s (peak {encode_peak} MB), "
                  f"decode {medians['decode_seconds']:.3f} s + PNG {medians['png_seconds']:.2f} s "
                  f"(peak {decode_peak} MB)", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
