"""CompressAI's pretrained models (its "zoo") as codecs: ``compressai:bmshj2018-hyperprior`` etc.

Each zoo architecture is one codec whose qualities are CompressAI's quality levels (1-8; 1-6 for
cheng2020), MSE-optimised. Weights are CompressAI's published checkpoints, read from torch's hub
cache (``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``) with
``torch.load(weights_only=True)``: nothing is downloaded while measuring. Without them ``bench codecs``
names each file to place there and where CompressAI publishes it. Coding uses the same bitstream and
padding as codec-bench's own learned codecs (:mod:`bench.neural.codec`); the model id in the
bitstream is the checkpoint's published hash prefix. Not in the default run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from bench.codec import Knob, register_codec
from bench.neural import import_compressai
from bench.neural.codec import CompressAICodec

#: architecture -> (stride, number of qualities)
ZOO = {
    "bmshj2018-factorized": (16, 8),
    "bmshj2018-hyperprior": (64, 8),
    "mbt2018-mean": (64, 8),
    "mbt2018": (64, 8),
    "cheng2020-anchor": (64, 6),
    "cheng2020-attn": (64, 6),
}
METRIC = "mse"


def hub_checkpoints() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


class CompressAIZooCodec(CompressAICodec):
    """One CompressAI zoo architecture; subclasses set ``arch``."""

    arch: ClassVar[str]
    in_default_run = False

    @classmethod
    def checkpoint(cls, quality: int) -> tuple[str, Path]:
        """(URL where CompressAI publishes the weights, the file they must be in here)."""
        url = import_compressai().zoo.image.model_urls[cls.arch][METRIC][quality]
        return url, hub_checkpoints() / url.rsplit("/", 1)[1]

    @classmethod
    def unavailable_reason(cls) -> str | None:
        problem = cls._import_problem()
        if problem:
            return problem
        missing = [cls.checkpoint(q) for q in range(int(cls.knob.low), int(cls.knob.high) + 1)]
        missing = [(url, path) for url, path in missing if not path.is_file()]
        if not missing:
            return None
        url, path = missing[0]
        return (
            f"{len(missing)} pretrained checkpoint(s) not in {path.parent} (nothing is downloaded while measuring): "
            f"place e.g. {path.name} from {url} there (with internet once: "
            f'python -c "from compressai.zoo import {cls.arch.replace("-", "_")} as m; [m(q, pretrained=True) for q in range(1, {int(cls.knob.high) + 1})]")'
        )

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self.stride = ZOO[self.arch][0]
        self._models: dict[int, Any] = {}

    def model(self, quality: int):
        if quality not in self._models:
            import torch

            zoo = import_compressai().zoo.image
            _, path = self.checkpoint(quality)
            state = zoo.load_pretrained(torch.load(path, map_location="cpu", weights_only=True))
            net = zoo.model_architectures[self.arch].from_state_dict(state)
            if net.entropy_bottleneck._quantized_cdf.numel() == 0:  # checkpoint without coding tables
                net.update(force=True)
            self._models[quality] = net.to(self.device).eval()
        return self._models[quality]

    def model_id(self, quality: int) -> bytes:
        name = self.checkpoint(quality)[1].name
        match = re.search(r"-([0-9a-f]{8})\.pth", name)
        return bytes.fromhex(match.group(1)) if match else name.encode()[:4].ljust(4, b"\0")

    def settings(self) -> dict[str, Any]:
        return {
            "architecture": self.arch,
            "metric": METRIC,
            "checkpoints": [self.checkpoint(q)[1].name for q in range(int(self.knob.low), int(self.knob.high) + 1)],
            **self._device_settings(),
        }


for _arch, (_stride, _count) in ZOO.items():
    _cls = type(
        "Zoo_" + re.sub(r"\W", "_", _arch),
        (CompressAIZooCodec,),
        {
            "name": f"compressai:{_arch}",
            "arch": _arch,
            "knob": Knob("quality", 1, _count, tuple(range(1, _count + 1)), description="CompressAI quality level"),
            "__module__": __name__,
        },
    )
    globals()[_cls.__name__] = register_codec(_cls)
