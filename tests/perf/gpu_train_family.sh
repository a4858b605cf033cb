#!/usr/bin/env bash
# The GPU training of a learned family (issue 10) as one device command, so the device time goes to
# training: bench train's speed against CompressAI's own trainer (tests/perf/train_speed.py), then a
# time-limited `bench train --minutes` of the family, then `bench verify` of it on the GPU, everything
# written to OUT (at most 8 files come back from a device: logs, family.json, MODEL_CARD.md and at
# most 4 weight files).
#
# Prepare here (ignored folders; the working tree and the carried paths together must stay under
# 64 MiB: BSDS500's train/ and val/ are 22 MB, its test/ is left behind):
#   mkdir -p .gpudata/bsds500 && cp -r ../shared/datasets/train/bsds500/{train,val} .gpudata/bsds500/
#   pip download --no-deps --no-binary :all: compressai==1.2.8 -d /tmp/sdist && tar xzf /tmp/sdist/*.tar.gz -C /tmp/sdist
#   cp /tmp/sdist/compressai-1.2.8/examples/train.py .gpudata/compressai_train.py
#   .whl/ holds compressai 1.2.8 for Python 3.12 (the device README says how to download it)
# Then one device call (carry .whl and .gpudata; timeout 600 s):
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/compressai-*.whl \
#     && export PYTHONPATH=/tmp/site && bash tests/perf/gpu_train_family.sh "$OUT"
# Settings (environment): DEVICE (cuda), NAME, ARCH, N, M, LAMBDAS, MINUTES (per model; the models of
# LAMBDAS train at once, in processes), BATCH, CROP, LR, SCHEDULE, SPEED_STEPS (0: skip the speed
# comparison). Try the command on the CPU first with tiny settings, e.g.
#   DEVICE=cpu N=8 M=8 BATCH=2 SPEED_STEPS=3 MINUTES=0.1 LAMBDAS=0.01,0.05 bash tests/perf/gpu_train_family.sh /tmp/out
# The weights (the repository holds at most 40 MB; today factorized-small 6.4 MB + mean-scale-small
# 19.8 MB): a portable mean-scale model's file holds its transforms in float16, h_s in int16/int32 and
# 0.8 MB of coding tables; per model N=96/M=128 8.8 MB (4 models 35.2 MB: replaces both families),
# N=64/M=128 6.5 MB (26.0 MB: keeps factorized-small), N=96/M=160 11.0 MB (44 MB: too much),
# N=128/M=192 16.9 MB. M bounds the top quality: the best linear code of M values per 16x16 block gives
# 29.7 dB on Kodak for M=64, 33.9 dB for 128, 36.0 dB for 160 (tests/perf/latent_ceiling.py). The
# default lambdas are log-spaced over 0.1-1 bpp and beyond (CompressAI's models: 0.0018 ~ 0.13 bpp,
# 0.0932 ~ 1.3 bpp on Kodak).
set -uo pipefail
out=${1:?output folder}
DEVICE=${DEVICE:-cuda} NAME=${NAME:-mean-scale-gpu} ARCH=${ARCH:-mean-scale} N=${N:-96} M=${M:-128}
LAMBDAS=${LAMBDAS:-0.0009,0.0042,0.0198,0.0932} MINUTES=${MINUTES:-6} BATCH=${BATCH:-16} CROP=${CROP:-256}
LR=${LR:-1e-4} SCHEDULE=${SCHEDULE:-step} SPEED_STEPS=${SPEED_STEPS:-300} DATA=${DATA:-.gpudata/bsds500}
CAI_TRAIN=${CAI_TRAIN:-.gpudata/compressai_train.py}
models=$(tr ',' '\n' <<< "$LAMBDAS" | wc -l)
if (( models > 4 )); then echo "at most 4 lambdas: 8 files come back from the device" >&2; exit 2; fi
mkdir -p "$out"
export PYTHONUNBUFFERED=1
log="$out/log.txt"
family="${FAMILY_DIR:-/tmp/$NAME}"
rm -rf "$family"
{
    date -u
    python3 -c "import compressai, numpy, torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
        torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'); print('compressai',
        compressai.__version__, 'numpy', numpy.__version__)"
    if (( SPEED_STEPS > 0 )); then
        python3 tests/perf/train_speed.py --data "$DATA" --compressai-train "$CAI_TRAIN" --device "$DEVICE" \
            --steps "$SPEED_STEPS" --batch-size "$BATCH" --crop "$CROP" --N "$N" --M "$M" --json "$out/train_speed.json"
    fi
    date -u
    python3 -m bench train --data "$DATA" --out "$family" --name "$NAME" --arch "$ARCH" --N "$N" --M "$M" \
        --lambdas "$LAMBDAS" --steps 100000000 --minutes "$MINUTES" --batch-size "$BATCH" --crop "$CROP" \
        --lr "$LR" --lr-schedule "$SCHEDULE" --val-every 500 -j "$models" --device "$DEVICE" \
        --weights-dtype float16 --no-progress
    echo "bench train exit status: $?"
    date -u
    cp "$family"/family.json "$family"/MODEL_CARD.md "$family"/*.safetensors "$out"/
    # decoded identically in fresh processes, on the CPU and the GPU (the first two validation images)
    python3 -m bench verify "$NAME" --plugin "$family/plugin.py" --dataset "$DATA/val" --max-images 2
    echo "bench verify exit status: $?"
    date -u
} 2>&1 | grep --line-buffered -v "FutureWarning\|warnings.warn" | tee "$log"
