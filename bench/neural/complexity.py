"""Complexity of learned codecs: multiply-accumulates counted on the real tensors, parameters and time per part.

**Parts.** A model's parts are its top-level modules (``g_a``, ``h_a``, ``h_s``, ``g_s``, the context
model ``context_prediction`` and ``entropy_parameters``, the entropy models ``entropy_bottleneck`` and
``gaussian_conditional``; compressai's names). Its *network* parts are those that are not entropy
models (:class:`compressai.entropy_models.EntropyModel`). A network part is "called" when its
``forward`` runs, or one of the methods its class lists in ``network_methods`` (the integer
hyper-synthesis of codec-bench's portable models runs through ``exact``).

**MACs** (:func:`count_macs`) are counted at the operator level by PyTorch's
``torch.utils.flop_counter.FlopCounterMode`` while the real call runs on the real tensors: every ATen
convolution (transposed ones by their input size: ``C_in x H_in x W_in x C_out x k_h x k_w / groups``),
matrix product (``mm``, ``addmm``, ``bmm``, ``baddbmm``) and attention product, whatever module or
function issues it, as executed (a masked convolution counts its zeroed weights too). One MAC is two
of its FLOPs. **Not counted**: element-wise operations (GDN's square
root and division, activations, additions, biases), pooling, interpolation, rounding and clamping,
building the CDF indexes and the arithmetic (rANS) coder itself. MACs that no network part issues
(e.g. compressai's autoregressive loop computes its masked convolution with ``F.conv2d`` outside the
``context_prediction`` module) count in the total under the part ``other``.

**Time** (:class:`PartWatch`): the wall-clock time spent inside the network parts during a call (each
part's outermost calls; on a GPU each part call is bracketed by ``torch.cuda.synchronize`` so that
the time is the device's). The rest of the model's ``compress`` or ``decompress`` call is the
entropy-coding time: quantisation, CDF indexes, the rANS coder and the autoregressive loop's own
work. :mod:`bench.neural.codec` states what each recorded time includes.

**Parameters** (:func:`parameters_by_part`): the number of elements of each part's parameters
(buffers such as CDF tables and the portable models' stored integer weights are not parameters). A
call *uses* a part when it calls it or passes one of its parameters to a torch function (noted with a
``TorchFunctionMode``): the encoder's and decoder's parameters are those of the parts each uses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = [
    "MacCount",
    "PartWatch",
    "count_macs",
    "model_parts",
    "network_parts",
    "parameters_by_part",
    "OTHER_PART",
]

#: The part that MACs issued outside every network part are attributed to.
OTHER_PART = "other"


def model_parts(model) -> dict[str, Any]:
    """The top-level modules of ``model`` by attribute name, in definition order."""
    return dict(model.named_children())


def _is_entropy_model(module) -> bool:
    try:
        from compressai.entropy_models import EntropyModel
    except ImportError:  # pragma: no cover - compressai is there whenever a learned codec runs
        return False
    return isinstance(module, EntropyModel)


def network_parts(model) -> dict[str, Any]:
    """The parts of ``model`` that are transforms (every top-level module but the entropy models)."""
    return {name: part for name, part in model_parts(model).items() if not _is_entropy_model(part)}


def parameters_by_part(model) -> dict[str, int]:
    """Number of parameters (elements) of each top-level part of ``model``; parameters registered on the
    model itself, outside its parts, under ``other``."""
    counts = {name: sum(p.numel() for p in part.parameters()) for name, part in model_parts(model).items()}
    own = sum(p.numel() for p in model.parameters(recurse=False))
    if own:
        counts[OTHER_PART] = own
    return counts


@dataclass
class PartWatch:
    """Times ``model``'s network parts while it is entered (``with PartWatch(model) as watch: ...``).

    ``seconds``: seconds spent inside network parts, by part; ``called``: the parts called. With a
    ``flops`` reader (the running FLOP counter's total), ``flops`` holds the FLOPs issued inside each part.
    On a CUDA ``device`` every part call is synchronised before and after. The model's methods are
    wrapped on entering and restored on leaving: outside the block the model is untouched.
    """

    model: Any
    device: str = "cpu"
    read_flops: Callable[[], int] | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    flops: dict[str, int] = field(default_factory=dict)
    called: list[str] = field(default_factory=list)
    _depth: int = 0
    _restore: list[tuple[Any, str, Any]] = field(default_factory=list)

    def __enter__(self) -> PartWatch:
        try:
            for name, part in network_parts(self.model).items():
                for method in getattr(part, "network_methods", ("forward",)):
                    original = getattr(part, method)
                    had_own = method in vars(part)
                    setattr(part, method, self._wrapped(name, original))
                    self._restore.append((part, method, original if had_own else None))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for part, method, original in reversed(self._restore):
            if original is None:
                delattr(part, method)
            else:
                setattr(part, method, original)
        self._restore.clear()

    @property
    def network_s(self) -> float:
        """Seconds spent in all network parts."""
        return sum(self.seconds.values())

    def _sync(self) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize(self.device)

    def _wrapped(self, name: str, call: Callable) -> Callable:
        def timed(*args, **kwargs):
            if self._depth:  # a part called from inside another part belongs to the outer one
                return call(*args, **kwargs)
            self._sync()
            flops = self.read_flops() if self.read_flops else 0
            start = time.perf_counter()
            self._depth += 1
            try:
                return call(*args, **kwargs)
            finally:
                self._depth -= 1
                self._sync()
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
                if self.read_flops:
                    self.flops[name] = self.flops.get(name, 0) + self.read_flops() - flops
                if name not in self.called:
                    self.called.append(name)

        return timed


@dataclass(frozen=True)
class MacCount:
    """MACs of one call: ``total`` and ``by_part`` (network parts called, in call order, then ``other``
    when some MACs came from outside them); ``parts``: the parts the call used: those it called (in
    call order), then those whose parameters it only passed to torch functions (the autoregressive loop
    computes with ``context_prediction``'s weights without calling it; reading a parameter's shape,
    dtype or device does not count); ``result`` is what the call returned."""

    total: int
    by_part: dict[str, int]
    parts: tuple[str, ...] = ()
    result: Any = field(default=None, repr=False, compare=False)


#: Torch functions that only look at a tensor (properties are read through ``__get__``).
_METADATA = frozenset(
    {
        "__get__",
        "numel",
        "size",
        "dim",
        "element_size",
        "is_floating_point",
        "is_complex",
        "data_ptr",
        "stride",
        "storage_offset",
        "is_contiguous",
        "__len__",
        "__repr__",
        "__format__",
    }
)


def _parameter_reader(model):
    """A ``TorchFunctionMode`` noting the parts whose parameters any torch function receives."""
    from torch.overrides import TorchFunctionMode

    owner = {id(p): name for name, part in model_parts(model).items() for p in part.parameters()}

    class ParameterReads(TorchFunctionMode):
        def __init__(self) -> None:
            super().__init__()
            self.parts: list[str] = []

        def __torch_function__(self, func, types, args=(), kwargs=None):
            if getattr(func, "__name__", "") in _METADATA:  # looking at a parameter is not computing with it
                return func(*args, **(kwargs or {}))
            for value in (*args, *(kwargs or {}).values()):
                for item in value if isinstance(value, (list, tuple)) else (value,):
                    name = owner.get(id(item))
                    if name is not None and name not in self.parts:
                        self.parts.append(name)
            return func(*args, **(kwargs or {}))

    return ParameterReads()


def count_macs(model, call: Callable[[], Any], device: str = "cpu") -> MacCount:
    """Run ``call()`` (which uses ``model``) once, counting its MACs by part (the module docstring's
    convention) and noting the parts it uses. Runs under ``torch.no_grad`` (the counter's module
    tracking does not work under ``inference_mode``); the values computed are the same."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    reads = _parameter_reader(model)
    with torch.no_grad(), FlopCounterMode(display=False) as counter, reads:
        with PartWatch(model, device, read_flops=counter.get_total_flops) as watch:
            result = call()
    total = counter.get_total_flops()
    by_part = {name: watch.flops[name] // 2 for name in watch.called}
    outside = total // 2 - sum(by_part.values())
    if outside:
        by_part[OTHER_PART] = outside
    parts = tuple(dict.fromkeys([*watch.called, *reads.parts]))
    return MacCount(total // 2, by_part, parts, result)
