"""Where the time of a JPEG Kodak run goes: encode, decode, metrics, and the harness around them.

Runs `bench run --dataset kodak --codec jpeg -j 1` (the default sweep, quality 5..95: 19 x 24 = 456
measurements) into a fresh folder, three times, and reports the run with the median overhead. The
codec and metric times are the sums of what the worker measured per image; the harness overhead is
the rest of the command's wall time: interpreter start-up and imports, dataset verification and
image loading, worker start-up, warm-up calls, inter-process traffic, the store, CSV/JSON export.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from _common import invocation_phases, machine, records, timed_bench

RUNS = 3


def one_run(folder: Path) -> dict:
    out = folder / "jpeg"
    command_s, _ = timed_bench("run", "--dataset", "kodak", "--codec", "jpeg", "-j", "1", "--out", str(out))
    setup_s, measure_s = invocation_phases(out)
    rows = records(out)
    parts = {key: sum(r[key] for r in rows) for key in ("encode_s", "decode_s", "metrics_s")}
    work = sum(parts.values())
    return {"n": len(rows), **parts, "work": work, "command": command_s, "setup": setup_s, "measure": measure_s,
            "overhead": command_s - work}  # fmt: skip


def main() -> None:
    runs = []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(one_run(Path(tmp)))
    runs.sort(key=lambda r: r["overhead"] / r["work"])
    r = runs[len(runs) // 2]
    n = r["n"]
    print(f"machine: {machine()}")
    print(f"measurements: {n} (jpeg, 19 qualities x 24 Kodak images), -j 1; median of {RUNS} runs by overhead")
    print(f"  encode   {r['encode_s']:7.2f} s  ({1e3 * r['encode_s'] / n:.2f} ms each)")
    print(f"  decode   {r['decode_s']:7.2f} s  ({1e3 * r['decode_s'] / n:.2f} ms each)")
    print(f"  metrics  {r['metrics_s']:7.2f} s  ({1e3 * r['metrics_s'] / n:.2f} ms each: PSNR, Y-PSNR, MS-SSIM)")
    print(f"  codec + metrics  {r['work']:7.2f} s")
    print(f"whole command       {r['command']:7.2f} s  -> harness overhead {r['overhead']:.2f} s = "
          f"{100 * r['overhead'] / r['work']:.1f}% of codec + metric time")  # fmt: skip
    print(f"  of which: interpreter, imports and export {r['command'] - r['setup'] - r['measure']:.2f} s, set-up "
          f"(dataset check, image loading, run folder) {r['setup']:.2f} s, in the measuring loop "
          f"{r['measure'] - r['work']:.2f} s (worker start, warm-up, inter-process traffic, store)")  # fmt: skip
    print("all runs, overhead %: " + ", ".join(f"{100 * x['overhead'] / x['work']:.1f}" for x in runs))
    print(f"median share per measurement: {1e3 * statistics.median(x['overhead'] for x in runs) / n:.2f} ms")


if __name__ == "__main__":
    main()
