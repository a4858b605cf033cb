"""Wall time of the default `bench run --dataset kodak` (every available codec, default sweeps and -j)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import machine, records, timed_bench


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "kodak"
        seconds, proc = timed_bench("run", "--dataset", "kodak", "--out", str(out))
        rows = records(out)
    print(f"machine: {machine()}")
    print(proc.stdout)
    print(f"default run: {len(rows)} measurements in {seconds:.1f} s ({seconds / 60:.1f} min)")
    per_codec: dict[str, list[float]] = {}
    for r in rows:
        per_codec.setdefault(r["codec"], []).append(r["encode_s"] + r["decode_s"] + r["metrics_s"])
    for codec, costs in per_codec.items():
        print(f"  {codec:<10} {len(costs):4d} measurements, {sum(costs):7.1f} s of codec + metric time")


if __name__ == "__main__":
    main()
