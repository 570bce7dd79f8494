#!/usr/bin/env bash
# MARM's trade-off (issue 24 item 4): the four issue images, 4 lambdas, M = 0..7, the same budget
# per encoding; every coded file is kept for the decode-time table (benchmarks/marm/report.py).
# Resumable: rerun to continue. About 2 hours on the 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUDGET=${BUDGET:-2m}
IMAGES=${IMAGES:-"kodim01 kodim05 kodim14 kodim23"}
for m in ${MS:-0 1 2 3 4 5 6 7}; do
  .venv/bin/c3 eval $(for i in $IMAGES; do echo ../shared/data/kodak/$i.png; done) \
    --lmbda 1e-2 3e-3 1e-3 3e-4 --budget "$BUDGET" --marm "$m" --jobs 2 --keep-files \
    --out "benchmarks/marm/budget$BUDGET/M$m" --name "MARM M=$m"
done
