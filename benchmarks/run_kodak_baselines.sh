#!/usr/bin/env bash
# Classical codecs on all 24 Kodak images (issue: evaluation suite). Resumable: re-run to continue.
set -euo pipefail
cd "$(dirname "$0")/.."
KODAK=../shared/data/kodak
for codec in jpeg webp avif heic jxl jp2; do
  .venv/bin/c3 eval "$KODAK" --codec "$codec" --jobs "${JOBS:-1}" --out "benchmarks/kodak/$codec"
done
