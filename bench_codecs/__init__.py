"""Built-in codecs of codec-bench (the ``bench_codecs`` package), one module per codec family.

Each module holds the codec's code and, at the bottom, its ``@register_codec`` class. The registry
(:mod:`bench.api.codec_registry`) imports the modules listed here.
"""

BUILTIN_MODULES = (
    "bench_codecs.jpeg",
    "bench_codecs.webp",
    "bench_codecs.jpeg2000",
    "bench_codecs.heif",
    "bench_codecs.avif",
    "bench_codecs.jpegxl",
    "bench_codecs.bpg",
    "bench_codecs.jpegxl_cli",
    "bench_codecs.vtm",
    "bench_codecs.vvc",
    "bench_codecs.neural",
    "bench_codecs.compressai_zoo",
    "bench_codecs.compressai_checkpoint",
)
