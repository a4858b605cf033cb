#!/usr/bin/env bash
# What portability costs in rate: a portable mean-scale family (integer hyper-synthesis) and compressai's
# float mean-scale model trained the same way (same data, seed, lambdas, steps, widths), measured on Kodak,
# BD-rate of the portable family against the float one.
#
#   BENCH_DATA=../shared/datasets bash tests/perf/portable_rate_cost.sh [OUT] [STEPS] [N] [M] [DEVICE]
#
# Defaults: OUT=/tmp/portable-rate-cost, 2000 steps, N=64, M=96, cpu (two trainings side by side, one
# thread each). The BD-rates are in OUT/report/bd_rate.csv (anchor: the float family).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-/tmp/portable-rate-cost}
STEPS=${2:-2000}
N=${3:-64}
M=${4:-96}
DEVICE=${5:-cpu}
DATA=${BENCH_DATA:?set BENCH_DATA to the folder holding kodak/ and train/bsds500/}
BENCH=.venv/bin/bench
LAMBDAS=0.0035,0.0067,0.013
common=(--data "$DATA/train/bsds500" --lambdas "$LAMBDAS" --steps "$STEPS" --N "$N" --M "$M" --batch-size 8
        --crop 128 --val-every 500 --seed 0 --device "$DEVICE" --threads 1 --no-progress)
start=$(date +%s)
$BENCH train --out "$OUT/portable" --name portable --arch mean-scale "${common[@]}" &
$BENCH train --out "$OUT/float" --name float --arch mean-scale-float "${common[@]}" &
wait
echo "trained both families in $(( $(date +%s) - start )) s"
$BENCH run --dataset kodak --plugin "$OUT/portable/plugin.py" --plugin "$OUT/float/plugin.py" \
    --codec portable,float --out "$OUT/run" --anchor float --device "$DEVICE" --no-progress
cat "$OUT/run/report/bd_rate.csv"
