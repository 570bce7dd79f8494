#!/usr/bin/env bash
# MARM's trade-off (issue 24 item 4): the four issue images, 4 lambdas, M = 0..7, the same
# number of fitting steps per encoding (STEPS, default 300: about what a 1-minute budget gives on the
# 2-core machine with two encodings at a time; a step count, unlike a time budget, does not
# depend on what else the machine runs). Every coded file is kept for the decode-time table
# (benchmarks/marm/report.py). Resumable: rerun to continue. About 3 hours on the 2-core machine (M = 7 fits about 2.7x slower than M = 0).
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${STEPS:-300}
IMAGES=${IMAGES:-"kodim01 kodim05 kodim14 kodim23"}
for m in ${MS:-0 7 3 5 1 2 4 6}; do  # most telling first: a partial run is still a table
  .venv/bin/c3 eval $(for i in $IMAGES; do echo ../shared/data/kodak/$i.png; done) \
    --lmbda 1e-2 3e-3 1e-3 3e-4 --steps "$STEPS" --marm "$m" --jobs 2 --keep-files \
    --out "benchmarks/marm/steps$STEPS/M$m" --name "MARM M=$m"
done
