"""The built-in metrics, one module per family (each registers its ``Metric`` classes):

* :mod:`bench.metrics.fidelity`: PSNR-RGB, Y-PSNR and MS-SSIM, the default metrics (CompressAI's conventions);
* :mod:`bench.metrics.colour`: PSNR-YUV (6:1:1) and CIEDE2000;
* :mod:`bench.metrics.structure`: SSIM, VIF (pixel domain) and GMSD;
* :mod:`bench.metrics.perceptual`: FSIMc, IW-SSIM and NLPD;
* :mod:`bench.metrics.learned`: LPIPS and DISTS, with their published weights;
* :mod:`bench.metrics.fid`: FID and KID over 256 x 256 patches (dataset metrics);
* :mod:`bench.metrics.jxl`: SSIMULACRA 2 and Butteraugli (libjxl's programs);
* :mod:`bench.metrics.vmaf`: VMAF (libvmaf) and PSNR-HVS / PSNR-HVS-M.

As in ``skimage.metrics``, each metric's function is a name of this package, imported when first
used: ``bench.metrics.ms_ssim(ref, dist)``, ``bench.metrics.ciede2000(ref, dist)``; and
``bench.metrics.compute(name, ref, dist)`` computes any registered per-image metric by name
(:func:`bench.api.metric_registry.compute`).
"""

from __future__ import annotations

import importlib
from typing import Any

from bench.api.metric_registry import BUILTIN_MODULES

_FAMILIES = tuple(module.rpartition(".")[2] for module in BUILTIN_MODULES if module.startswith(f"{__name__}."))


def __getattr__(name: str) -> Any:
    """A family module, ``compute``, or a public name of the first family module that exports it."""
    if name in _FAMILIES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "compute":
        from bench.api.metric_registry import compute

        return compute
    for family in _FAMILIES:
        module = importlib.import_module(f"{__name__}.{family}")
        if name in getattr(module, "__all__", ()):
            return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
