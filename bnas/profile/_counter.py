"""Count a network's MACs and parameters without running it on real data.

One forward pass of a single sample runs on the ``meta`` device, or under ``FakeTensorMode``
for a model with real weights (either way tensors carry shapes, no storage, no arithmetic), so
profiling an ImageNet ReActNet-A takes well under a second and allocates nothing. Around it,
``torch.utils.flop_counter.FlopCounterMode`` counts matrix products and convolutions per
module. Its FLOPs are 2 × MACs (one multiply and one add), so we halve them.

Each module's *own* MACs are its count minus its children's, then classified by module type:
``BinaryConv2d`` / ``BinaryLinear`` → binary (BOPs); anything inside a
:class:`~bnas.nn.ThresholdGenerator` → generator (real); everything else → real (stem,
classifier, downsample convs, attention products q·kᵀ and attn·v computed in a module's own
forward). Elementwise ops (sign, BN, additions, pooling, activations) have no FLOP formula in
``FlopCounterMode`` and are not counted, as in the literature.

Parameters: the ``weight`` of a binary layer is 1 bit; every other parameter is 32 bit
(binary-layer biases, BN affine, RSign α, RPReLU, generators, stem, classifier). Buffers (BN
running statistics, which fold into the BN affine at inference) are not counted.

This is the measurement: :func:`measure_architecture` runs it over a whole network (the
per-layer table of ``bnas profile``), and :mod:`bnas.profile._composed` runs it over the parts
a search composes its candidates from.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.nn.modules.module import register_module_forward_pre_hook
from torch.utils.flop_counter import FlopCounterMode

from bnas.costs import Cost, LayerCost, LayerKind
from bnas.errors import BnasError
from bnas.nn import BinaryConv2d, BinaryLinear, ThresholdGenerator

if TYPE_CHECKING:
    from bnas.architecture import Architecture

BINARY_LAYERS = (BinaryConv2d, BinaryLinear)


def _first_tensor(model: nn.Module) -> torch.Tensor | None:
    for tensor in model.parameters():
        return tensor
    for tensor in model.buffers():
        return tensor
    return None


def _shapes_only(model: nn.Module) -> contextlib.AbstractContextManager:
    """Where nothing is computed: a model wholly on the meta device already is so (and meta
    kernels are ~2× faster than FakeTensorMode's dispatch); any other runs fake tensors."""
    tensors = [*model.parameters(), *model.buffers()]
    if tensors and all(tensor.is_meta for tensor in tensors):
        return contextlib.nullcontext()
    return FakeTensorMode(allow_non_fake_inputs=True)


def _flop_counts(
    model: nn.Module, input_shape: tuple[int, ...], for_real: bool
) -> tuple[dict[str, int], dict[nn.Module, int]]:
    """FlopCounterMode's FLOPs of one forward pass of one sample, per module name, and the
    order in which the modules were first called (the table lists layers in that order).

    ``for_real`` runs a sample of zeros on the model's device: the same counts, faster still
    for modules small enough to run (a generator: ~0.5 ms instead of ~10–20 ms)."""
    like = _first_tensor(model)
    device = like.device if like is not None else torch.device("cpu")
    dtype = like.dtype if like is not None and like.is_floating_point() else torch.float32
    training = {module: module.training for module in model.modules()}
    model.eval()  # BN must not update its running statistics (and must accept batch 1)
    call_order: dict[nn.Module, int] = {}

    def record(module: nn.Module, _inputs: object) -> None:  # returning None keeps the inputs
        call_order.setdefault(module, len(call_order))

    hook = register_module_forward_pre_hook(record)
    try:
        with contextlib.nullcontext() if for_real else _shapes_only(model):
            sample = torch.zeros((1, *input_shape), device=device, dtype=dtype)
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                model(sample)
    except (RuntimeError, ValueError, IndexError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise BnasError(
            f"cannot run {type(model).__name__} on an input of shape {(1, *input_shape)}: "
            f"{type(error).__name__}: {first_line}"
        ) from None
    finally:
        hook.remove()
        for module, mode in training.items():
            module.training = mode
    flops = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}
    return flops, call_order


def _generator_modules(model: nn.Module) -> set[nn.Module]:
    """Every module that is, or sits inside, a dynamic-threshold generator."""
    inside: set[nn.Module] = set()
    for module in model.modules():
        if isinstance(module, ThresholdGenerator):
            inside.update(module.modules())
    return inside


def _kind(module: nn.Module, generators: set[nn.Module]) -> LayerKind:
    if module in generators:
        return "generator"
    return "binary" if isinstance(module, BINARY_LAYERS) else "real"


def profile_model(model: nn.Module, input_shape: tuple[int, ...]) -> Cost:
    """BOPs, FLOPs, OPs, parameters and size of ``model`` for one sample of ``input_shape``.

    Args:
        model: any module; binary layers are recognised by type (BinaryConv2d, BinaryLinear),
            generators by :class:`~bnas.nn.ThresholdGenerator`. Its weights may be real, on the
            ``meta`` device, or anywhere else: nothing is computed, only shapes propagate.
            Train/eval flags are restored afterwards; parameters are not touched.
        input_shape: the shape of ONE sample, without the batch dimension, e.g. (3, 224, 224).

    Returns:
        Per-sample :class:`Cost`. ``flops`` counts every real-valued MAC *including* the
        generators' (``generator_flops`` is that share again, on its own); ``params_real``
        likewise includes ``generator_params``.

    Example::

        >>> from torch import nn
        >>> from bnas.nn import BinaryConv2d
        >>> net = nn.Sequential(nn.Conv2d(1, 8, 3), BinaryConv2d(8, 8, 1, bias=False))
        >>> cost = profile_model(net, (1, 5, 5))
        >>> cost.flops, cost.bops  # 9·8 MACs × 3·3 outputs; 8·8 MACs × 3·3 outputs
        (648, 576)
    """
    shape = tuple(int(size) for size in input_shape)
    if not shape or min(shape) < 1:
        raise BnasError(f"input shape must be positive sizes without the batch, got {shape}")
    return count_model(model, shape)


def count_model(model: nn.Module, shape: tuple[int, ...], for_real: bool = False) -> Cost:
    """:func:`profile_model` of a checked ``shape``; ``for_real`` runs the sample (see
    :func:`_flop_counts`)."""
    flops, call_order = _flop_counts(model, shape, for_real)
    generators = _generator_modules(model)

    # FlopCounterMode names the root by its class and children by their path below it.
    root = type(model).__name__
    names = {module: name for name, module in model.named_modules()}
    # Forward order; modules never called (containers such as ModuleList) keep their place
    # in named_modules after them.
    ordered = sorted(names, key=lambda module: call_order.get(module, len(names)))

    def total(module: nn.Module) -> int:
        """FLOPs inside ``module``; a container never called (ModuleList) sums its children."""
        path = names[module]
        key = f"{root}.{path}" if path else root
        if key in flops:
            return flops[key]
        return sum(total(child) for child in module.children())

    layers = []
    params_binary = params_real = generator_params = 0
    seen: set[int] = set()
    for module in ordered:
        name = names[module]
        own_macs = (total(module) - sum(total(child) for child in module.children())) // 2
        own_params = 0
        for param_name, param in module.named_parameters(recurse=False):
            if id(param) in seen:  # shared (tied) parameters count once
                continue
            seen.add(id(param))
            own_params += param.numel()
            if isinstance(module, BINARY_LAYERS) and param_name == "weight":
                params_binary += param.numel()
            else:
                params_real += param.numel()
                if module in generators:
                    generator_params += param.numel()
        if own_macs or own_params:
            layers.append(LayerCost(name or "(root)", _kind(module, generators), own_macs,
                                    own_params))
    return Cost.from_layers(tuple(layers), params_binary, params_real, generator_params)


def input_shape(arch: Architecture, img_size: int | None = None) -> tuple[int, int, int]:
    """One sample's shape for ``arch``: (in_chans, img_size, img_size).

    ``img_size`` defaults to the architecture's, and both fall back to the backbone defaults
    of :func:`bnas.models.resolve_args` (3 channels, 224 px).
    """
    from bnas.models import resolve_args

    args = resolve_args(arch)
    size = img_size if img_size is not None else args["img_size"]
    return args["in_chans"], size, size


def checked_img_size(img_size: int) -> int:
    if isinstance(img_size, bool) or not isinstance(img_size, int) or img_size < 1:
        raise BnasError(f"img_size must be a positive integer, got {img_size!r}")
    return img_size


def measure_architecture(arch: Architecture, img_size: int | None = None) -> Cost:
    """Cost of ``arch`` counted over the whole network, built on the ``meta`` device.

    The input is one sample of :func:`input_shape` (``img_size`` defaults to the
    architecture's ``args.img_size``, else 224). This is what ``bnas profile`` prints and what
    the composed :func:`~bnas.profile.profile_architecture` is tested against; a search uses
    the latter (milliseconds per candidate instead of ~0.2–1 s).
    """
    from bnas.models import build_model

    if img_size is not None and arch.args.get("img_size") != checked_img_size(img_size):
        arch = arch.with_args(img_size=img_size)  # the backbone must see it too (CCT, stem)
    with torch.device("meta"):
        model = build_model(arch)
    return count_model(model, input_shape(arch))
