"""The optional per-measurement columns: what a codec, the measuring process or a program reports beside
bpp, the metrics and the times, with its unit and meaning (one source: the CSV exports, the report's
complexity table and the documentation read them from here).

A column is written to ``records.csv`` and ``summary.csv`` (means over the images) when some record of
the run has it, empty for the records without it. The values come from a record's ``extra`` (the
codec's :meth:`~bench.api.codec.Codec.last_stats` and :meth:`~bench.api.codec.Codec.analyze`, and the
measuring process).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ExtraColumn", "EXTRA_COLUMNS", "extra_column_names", "markdown_table"]


@dataclass(frozen=True)
class ExtraColumn:
    """One optional column: ``name`` (in the CSV files and a record's ``extra``), ``label`` (a table's
    header), ``unit``, ``meaning`` (one sentence: what exactly is counted) and whether it ``varies`` from
    one run of the same measurement to the next (times and memory do; counts and estimates do not)."""

    name: str
    label: str
    unit: str
    meaning: str
    varies: bool = False


EXTRA_COLUMNS: tuple[ExtraColumn, ...] = (
    ExtraColumn("estimated_bpp", "estimated bpp", "bits per pixel",
                "a learned codec's own rate estimate: -sum(log2 likelihoods) of its quantised latents over the "
                "image's pixels (no header, no coder overhead)"),
    ExtraColumn("enc_kmac_px", "enc kMAC/px", "thousands of MACs per pixel",
                "multiply-accumulates of the learned codec's compress call (transforms, hyper-transforms, context "
                "model; not the arithmetic coder) over the image's pixels; bench/neural/complexity.py"),
    ExtraColumn("dec_kmac_px", "dec kMAC/px", "thousands of MACs per pixel",
                "the same for the decompress call"),
    ExtraColumn("params", "parameters", "count",
                "all parameters of the learned codec's model at this quality (entropy models included)"),
    ExtraColumn("enc_params", "enc parameters", "count",
                "parameters of the model's parts the compress call uses (calls, or reads the parameters of)"),
    ExtraColumn("dec_params", "dec parameters", "count",
                "the same for the decompress call"),
    ExtraColumn("encode_network_s", "enc network", "seconds",
                "time inside the learned codec's network parts during compress (on a GPU, synchronised)", varies=True),
    ExtraColumn("encode_coding_s", "enc coding", "seconds",
                "the rest of the compress call: quantisation, CDF indexes, rANS coding, autoregressive loop", varies=True),
    ExtraColumn("decode_network_s", "dec network", "seconds",
                "time inside the learned codec's network parts during decompress (on a GPU, synchronised)", varies=True),
    ExtraColumn("decode_coding_s", "dec coding", "seconds",
                "the rest of the decompress call: rANS decoding, CDF indexes, autoregressive loop", varies=True),
    ExtraColumn("encode_peak_rss_mb", "enc peak RSS", "MiB",
                "peak resident memory of the measuring process during the encode call (Linux VmHWM, reset "
                "before the call); bench/executors/peak_memory.py", varies=True),
    ExtraColumn("decode_peak_rss_mb", "dec peak RSS", "MiB",
                "the same during the decode call", varies=True),
    ExtraColumn("encode_rss_start_mb", "enc start RSS", "MiB",
                "resident memory of the measuring process when the encode call started (peak minus this: what "
                "the call added)", varies=True),
    ExtraColumn("decode_rss_start_mb", "dec start RSS", "MiB",
                "the same for the decode call", varies=True),
    ExtraColumn("encode_program_peak_rss_mb", "enc program peak", "MiB",
                "peak resident memory of a command-line codec's encoder program (wait4 ru_maxrss); "
                "bench/api/spawner.py", varies=True),
    ExtraColumn("decode_program_peak_rss_mb", "dec program peak", "MiB",
                "the same for its decoder program", varies=True),
    ExtraColumn("program_rss_floor_mb", "program floor", "MiB",
                "the most of a program's peak that can be the helper's that started it: a peak not above it "
                "means at most this much", varies=True),
    ExtraColumn("encode_peak_gpu_mb", "enc peak GPU", "MiB",
                "torch.cuda.max_memory_allocated during the encode call (GPU codecs)", varies=True),
    ExtraColumn("decode_peak_gpu_mb", "dec peak GPU", "MiB",
                "the same during the decode call", varies=True),
)  # fmt: skip


def extra_column_names(varies: bool | None = None) -> tuple[str, ...]:
    """The names of :data:`EXTRA_COLUMNS`, in order (only those that vary, or do not, when ``varies`` is given)."""
    return tuple(column.name for column in EXTRA_COLUMNS if varies is None or column.varies == varies)


def markdown_table() -> str:
    """The optional columns as a Markdown table (the documentation's 'What a run measures' page includes it)."""
    lines = ["| column | unit | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{c.name}` | {c.unit} | {c.meaning} |" for c in EXTRA_COLUMNS]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
