"""Learned codecs: architectures, training, shipped model families and their bitstream format.

Everything here imports torch and compressai lazily from the modules that need them, so that the
traditional codecs run without loading them.
"""

from bench.api.codec import CodecError

#: What ``--device`` accepts: the CPU, the GPU, or the GPU when torch sees one.
DEVICES = ("cpu", "cuda", "auto")


class DeviceError(CodecError):
    """A device torch cannot use on this machine (``cuda`` without a usable GPU)."""


def resolve_device(requested: str) -> str:
    """The torch device for ``requested``: ``auto`` is ``cuda`` when torch sees a usable GPU, else
    ``cpu``; ``cuda`` without one raises :class:`DeviceError`."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(f"device '{requested}' was asked for but torch sees no usable GPU")
    return requested


def device_name(device: str) -> str:
    """What ``device`` is: the GPU's name, or ``CPU: <model>``."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    from bench.store.provenance import cpu_model

    return f"CPU: {cpu_model()}"


def import_compressai():
    """``import compressai``, without the FutureWarning its ``torch.jit.script`` calls print."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
        import compressai
        import compressai.models  # noqa: F401

    return compressai
