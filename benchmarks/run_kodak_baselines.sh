#!/usr/bin/env bash
# Classical codecs on Kodak (issue: evaluation suite). Resumable: re-run to continue.
# IMAGES defaults to all 24 Kodak images; e.g. IMAGES="kodim01.png kodim02.png" for a subset.
set -euo pipefail
cd "$(dirname "$0")/.."
KODAK=../shared/data/kodak
if [ -n "${IMAGES:-}" ]; then inputs=(); for i in $IMAGES; do inputs+=("$KODAK/$i"); done; else inputs=("$KODAK"); fi
for codec in jpeg webp jxl jp2 avif heic; do
  .venv/bin/c3 eval "${inputs[@]}" --codec "$codec" --jobs "${JOBS:-1}" --out "benchmarks/kodak/$codec"
done
