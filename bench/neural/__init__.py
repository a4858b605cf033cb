"""Learned codecs: architectures, training, shipped model families and their bitstream format.

Everything here imports torch and compressai lazily from the modules that need them, so that the
traditional codecs run without loading them.
"""

import re
import sys
from pathlib import Path

from bench.api.codec import CodecError

#: What ``--device`` accepts: the CPU, the GPU, or the GPU when torch sees one.
DEVICES = ("cpu", "cuda", "auto")


class DeviceError(CodecError):
    """A device torch cannot use on this machine (``cuda`` without a usable GPU)."""


def resolve_device(requested: str) -> str:
    """The torch device for ``requested``: ``auto`` is ``cuda`` when torch sees a usable GPU, else
    ``cpu``; ``cuda`` without one raises :class:`DeviceError`. ``cpu`` needs no torch (not imported)."""
    if requested == "cpu":
        return requested
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


def installed_source(package: str, *parts: str) -> str | None:
    """The text of the file ``parts`` (``"zoo", "image.py"``) of the installed ``package``, found without importing
    it (importing torch and compressai takes seconds, which ``bench codecs`` need not spend); None when there is
    no such file."""
    from importlib.util import find_spec

    spec = find_spec(package)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder, *parts)
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return None


def module_version(name: str) -> str:
    """``<name>.__version__`` (``torch``, ``compressai``): from the imported module, else read from the package's
    ``version.py`` (:func:`installed_source`), else by importing it."""
    if name in sys.modules:
        return sys.modules[name].__version__
    found = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", installed_source(name, "version.py") or "", re.M)
    if found:
        return found.group(1)
    return (import_compressai() if name == "compressai" else __import__(name)).__version__
