"""How much memory training a candidate takes, estimated from shapes before anything runs.

A search must not start a trial that cannot fit (a ``min_hidden`` of 10⁹ asks for a
generator of terabytes). Training holds, per parameter, the weight, its gradient and Adam's
two moments (latent binary weights are 32-bit floats while training), and the activations
autograd saves for the backward pass. We count the latter exactly as autograd sees them (a
``saved_tensors_hooks`` pair records every tensor a forward saves, parameters aside), on the
``meta`` device, so nothing is allocated:

.. math::
    M \\approx 4 \\cdot 4 \\cdot P + B \\cdot A_1

with P parameters, B the batch size and A₁ the bytes one sample's forward saves (forwards of
one and two samples tell A₁ from what a forward saves once whatever the batch, such as the
binarized weights, F: M ≈ 16 P + F + B·A₁). The allocator's overhead and the transient
tensors of a step are not counted, so callers refuse only what is beyond the machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from bnas.profile._counter import input_shape

if TYPE_CHECKING:
    from bnas.architecture import Architecture

FLOAT_BYTES = 4
COPIES_PER_PARAMETER = 4  # weight, gradient, Adam's first and second moment


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes to train one candidate at ``batch_size`` (see the module docstring)."""

    parameters: int
    activations_per_sample: int
    activations_per_batch: int  # saved once per forward whatever the batch (e.g. sign(W))
    batch_size: int

    @property
    def parameter_bytes(self) -> int:
        return self.parameters * FLOAT_BYTES * COPIES_PER_PARAMETER

    @property
    def total_bytes(self) -> int:
        return (self.parameter_bytes + self.activations_per_batch
                + self.batch_size * self.activations_per_sample)


class _SavedBytes:
    """``saved_tensors_hooks`` that add up the bytes autograd keeps for the backward pass;
    parameters (counted with the optimizer state) and repeats of one tensor count once."""

    def __init__(self, parameters: set[int]) -> None:
        self.seen = set(parameters)
        self.bytes = 0

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        if id(tensor) not in self.seen:
            self.seen.add(id(tensor))
            self.bytes += tensor.numel() * tensor.element_size()
        return tensor

    @staticmethod
    def unpack(tensor: torch.Tensor) -> torch.Tensor:
        return tensor


def training_memory(arch: Architecture, batch_size: int) -> MemoryEstimate:
    """The memory estimate of training ``arch`` at ``batch_size`` (built on ``meta``)."""
    from bnas.models import build_model

    with torch.device("meta"):
        model = build_model(arch)
    model.train()
    parameters = {id(param) for param in model.parameters()}
    saved = []
    # two batches of 2 and 3 images (BatchNorm refuses one image per channel in training,
    # as a network that pools 8x8 digits down to 1x1 has: a batch of 1 raised there)
    for samples in (2, 3):
        counter = _SavedBytes(parameters)
        with torch.device("meta"), torch.autograd.graph.saved_tensors_hooks(
                counter.pack, counter.unpack):
            model(torch.empty((samples, *input_shape(arch))))
        saved.append(counter.bytes)
    per_sample = saved[1] - saved[0]
    count = sum(param.numel() for param in model.parameters())
    return MemoryEstimate(count, per_sample, saved[0] - 2 * per_sample, batch_size)
