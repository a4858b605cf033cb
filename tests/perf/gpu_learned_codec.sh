#!/usr/bin/env bash
# The GPU check of the learned-codec base (bench/neural/codec.py), run by hand on a machine with a GPU:
# bench verify (fresh-process and CPU<->GPU decoding) and bench run --device cuda vs --device cpu on a few
# Kodak images. Usage, from the repository root:
#     bash tests/perf/gpu_learned_codec.sh IMAGE_FOLDER OUT_FOLDER
# Needs torch with CUDA and compressai importable (e.g. PYTHONPATH with the checkout and wheels).
set -uo pipefail
images=${1:?image folder}; out=${2:?output folder}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python3 - <<'EOF' | tee "$out/versions.txt"
import compressai, numpy, PIL, torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.get_device_name(0))
print("compressai", compressai.__version__, "numpy", numpy.__version__, "Pillow", PIL.__version__)
EOF
python3 -m bench verify factorized-small --dataset "$images" --max-images 3 2>&1 | tee "$out/verify.txt"
echo "verify exit status: $?" | tee -a "$out/verify.txt"
for device in cuda cpu; do
    rm -rf "/tmp/gpu-check-$device"
    python3 -m bench run --dataset "$images" --codec factorized-small --device "$device" -j 1 --repeat 3 \
        --out "/tmp/gpu-check-$device" --no-report --no-progress 2>&1 | tail -4
    cp "/tmp/gpu-check-$device/records.csv" "$out/records_$device.csv"
    cp "/tmp/gpu-check-$device/run.json" "$out/run_$device.json"
done
python3 - "$out" <<'EOF'
import csv, json, sqlite3, sys
for device in ("cuda", "cpu"):
    db = sqlite3.connect(f"/tmp/gpu-check-{device}/store.sqlite")
    extra = [json.loads(row[0]) for row in db.execute("SELECT extra FROM records ORDER BY codec, quality, image")]
    keys = sorted({k for e in extra for k in e if "gpu" in k or "estimated" in k})
    print(device, "extra keys:", keys)
    if extra and "encode_peak_gpu_mb" in extra[0]:
        print(device, "peak GPU MB encode/decode (first image):", extra[0]["encode_peak_gpu_mb"], extra[0]["decode_peak_gpu_mb"])
rows = {d: list(csv.DictReader(open(f"{sys.argv[1]}/records_{d}.csv"))) for d in ("cuda", "cpu")}
for a, b in zip(rows["cuda"], rows["cpu"]):
    print(a["quality"], a["image"], "bytes gpu/cpu", a["bytes"], b["bytes"], "psnr gpu/cpu", a["psnr_rgb"][:7], b["psnr_rgb"][:7],
          "enc ms gpu/cpu %.1f/%.1f" % (1e3 * float(a["encode_s"]), 1e3 * float(b["encode_s"])),
          "dec ms gpu/cpu %.1f/%.1f" % (1e3 * float(a["decode_s"]), 1e3 * float(b["decode_s"])))
EOF
