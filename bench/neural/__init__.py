"""Learned codecs: architectures, training, shipped model families and their bitstream format.

Everything here imports torch and compressai lazily from the modules that need them, so that the
traditional codecs run without loading them.
"""


def import_compressai():
    """``import compressai``, without the FutureWarning its ``torch.jit.script`` calls print."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
        import compressai
        import compressai.models  # noqa: F401

    return compressai
