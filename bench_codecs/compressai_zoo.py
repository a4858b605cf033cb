"""CompressAI's pretrained models (its "zoo") as codecs: ``compressai:bmshj2018-hyperprior`` etc.

Each zoo architecture is one codec whose qualities are CompressAI's quality levels (1-8; 1-6 for
cheng2020), MSE-optimised; ``compressai:<arch>-msssim`` is the same architecture with CompressAI's
MS-SSIM-optimised weights. Weights are CompressAI's published checkpoints (the URLs of
``compressai.zoo.image.model_urls``), kept under CompressAI's file names in torch's hub cache
(``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``) and read with
``torch.load(weights_only=True)``.

Missing checkpoints are downloaded on first use by ``bench run`` and ``bench verify``
(:meth:`CompressAIZooCodec.fetch`, in the main process, before anything is measured), each checked
against the sha256 prefix its file name carries and stored only when whole and correct
(:func:`bench.data.download.download_file`). Nothing is downloaded while measuring, by ``bench codecs``
or with ``--offline``; the codec is then unavailable, and its reason names the files, the folder and
the URLs. ``$BENCH_COMPRESSAI_URL`` replaces the base URL (everything before the file name) of every
checkpoint URL: a mirror (``https://mirror.example/compressai``) or a folder
(``file:///data/compressai``) holding the files under the same names. Coding uses the same bitstream as
codec-bench's own learned codecs (:mod:`bench.neural.codec`) and CompressAI's ``eval_model`` padding
(zeros, centred, to a multiple of 64); the model id in the bitstream is the checkpoint's published hash
prefix. Not in the default run.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import sys
from pathlib import Path
from typing import Any, ClassVar

from bench.api.codec import Knob, register_codec
from bench.data.download import DownloadError, download_file, hub_checkpoints
from bench.neural import import_compressai, installed_source
from bench.neural.codec import CompressAICodec

#: architecture -> number of qualities (the codecs pad every architecture to 64, as eval_model)
ZOO = {
    "bmshj2018-factorized": 8,
    "bmshj2018-hyperprior": 8,
    "mbt2018-mean": 8,
    "mbt2018": 8,
    "cheng2020-anchor": 6,
    "cheng2020-attn": 6,
}
#: CompressAI's training metric -> suffix of the codec's name
METRICS = {"mse": "", "ms-ssim": "-msssim"}
#: About how many MB all the checkpoints of an architecture take (for one metric; their float32 weights)
DOWNLOAD_MB = {
    "bmshj2018-factorized": 140,
    "bmshj2018-hyperprior": 240,
    "mbt2018-mean": 390,
    "mbt2018": 750,
    "cheng2020-anchor": 490,
    "cheng2020-attn": 550,
}
#: Replaces the base URL (everything before the file name) of every checkpoint URL when set.
URL_ENV = "BENCH_COMPRESSAI_URL"


def model_urls() -> dict[str, dict[str, dict[int, str]]]:
    """``compressai.zoo.image.model_urls`` (architecture -> metric -> quality -> URL): the module's own dict where
    compressai is imported, else read from the source of the installed ``compressai/zoo/image.py`` without
    importing compressai (which takes seconds: ``bench codecs`` checks every zoo codec's checkpoints), else
    imported."""
    imported = sys.modules.get("compressai.zoo.image")
    return imported.model_urls if imported is not None else _source_model_urls()


@functools.lru_cache(maxsize=1)
def _source_model_urls() -> dict[str, dict[str, dict[int, str]]]:
    try:
        source = installed_source("compressai", "zoo", "image.py")
        if source is not None:
            return _literal_urls(ast.parse(source))
    except (OSError, SyntaxError, ValueError, KeyError):
        pass
    return import_compressai().zoo.image.model_urls


def _literal_urls(tree: ast.Module) -> dict:
    """The ``model_urls = {...}`` of a module's syntax tree, whose f-strings may name its string constants."""
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                names[node.targets[0].id] = node.value.value
            elif node.targets[0].id == "model_urls":
                return _evaluate(node.value, names)
    raise KeyError("model_urls")


def _evaluate(node: ast.AST, names: dict[str, str]) -> Any:
    """A literal of dicts, numbers and strings, f-strings of ``names`` included (ValueError for anything else)."""
    if isinstance(node, ast.Dict):
        return {_evaluate(k, names): _evaluate(v, names) for k, v in zip(node.keys, node.values, strict=True)}
    if isinstance(node, ast.JoinedStr):
        return "".join(_evaluate(part, names) for part in node.values)
    if isinstance(node, ast.FormattedValue) and isinstance(node.value, ast.Name) and node.format_spec is None:
        return names[node.value.id]
    if isinstance(node, ast.Constant):
        return node.value
    raise ValueError(f"not a literal: {ast.dump(node)[:80]}")


class CompressAIZooCodec(CompressAICodec):
    """One CompressAI zoo architecture and training metric; subclasses set ``arch`` and ``metric``."""

    arch: ClassVar[str]
    #: CompressAI's training metric of the weights: "mse" or "ms-ssim"
    metric: ClassVar[str] = "mse"
    in_default_run = False
    padding = "compressai"  # as CompressAI's eval_model, which produced the published curves: centred zeros,
    stride = 64  # to a multiple of 64 for every architecture

    @classmethod
    def checkpoint(cls, quality: int) -> tuple[str, Path]:
        """(URL of the weights: CompressAI's, or under ``$BENCH_COMPRESSAI_URL``; the file they must be in here)."""
        url = model_urls()[cls.arch][cls.metric][quality]
        name = url.rsplit("/", 1)[1]
        base = os.environ.get(URL_ENV, "").strip()
        if base:
            url = f"{base.rstrip('/')}/{name}"
        return url, hub_checkpoints() / name

    @classmethod
    def _missing(cls) -> list[tuple[str, Path]]:
        """(URL, file) of each checkpoint not in the hub cache yet, once per file."""
        wanted = dict.fromkeys(cls.checkpoint(q) for q in range(int(cls.knob.low), int(cls.knob.high) + 1))
        return [(url, path) for url, path in wanted if not path.is_file()]

    @classmethod
    def fetch(cls, offline: bool) -> None:
        """Download the checkpoints missing from the hub cache (unless ``offline``), hash-checked."""
        if offline or cls._import_problem():
            return
        missing = cls._missing()
        if missing:
            print(f"{cls.name}: downloading {len(missing)} pretrained checkpoint(s) into {missing[0][1].parent}",
                  file=sys.stderr)  # fmt: skip
        for index, (url, path) in enumerate(missing):
            try:
                download_file(url, path, desc=f"{cls.name} {path.name}")
            except DownloadError as exc:
                left = len(missing) - index
                raise DownloadError(
                    f"{exc}; {left} checkpoint(s) still missing in {path.parent}: place them there by hand "
                    f"(e.g. {path.name} from {url}) or set ${URL_ENV} to a mirror"
                ) from None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        problem = cls._import_problem()
        if problem:
            return problem
        missing = cls._missing()
        if not missing:
            return None
        url, path = missing[0]
        return (
            f"{len(missing)} pretrained checkpoint(s) not in {path.parent}: downloaded on first use by bench run/verify "
            f"(about {DOWNLOAD_MB[cls.arch]} MB; not with --offline), or place e.g. {path.name} from {url} there"
        )

    def __init__(self, device: str = "cpu", half: bool = False) -> None:
        super().__init__(device, half)
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
            "metric": self.metric,
            "checkpoints": [self.checkpoint(q)[1].name for q in range(int(self.knob.low), int(self.knob.high) + 1)],
            **self._device_settings(),
        }


for _metric, _suffix in METRICS.items():
    for _arch, _count in ZOO.items():
        _cls = type(
            "Zoo_" + re.sub(r"\W", "_", _arch + _suffix),
            (CompressAIZooCodec,),
            {
                "name": f"compressai:{_arch}{_suffix}",
                "arch": _arch,
                "metric": _metric,
                "knob": Knob("quality", 1, _count, tuple(range(1, _count + 1)), description="CompressAI quality level"),
                "__module__": __name__,
            },
        )
        globals()[_cls.__name__] = register_codec(_cls)
