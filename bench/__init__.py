"""codec-bench: rate-distortion benchmarks of traditional and learned image codecs."""

__version__ = "0.1.0"
