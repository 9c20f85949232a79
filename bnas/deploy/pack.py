"""Pack: the signs of a binary layer's weights as 1-bit ``u1`` constants.

A binary conv computes with sign(W) ∈ {−1, +1} (+1 for W ≥ 0, as :func:`bnas.nn.sign`); its
scale α_o goes to :mod:`bnas.deploy.fold`. OpenVINO's ``BinaryConvolution`` (``xnor-popcount``)
reads a ``u1`` weight as bit 1 = +1, bit 0 = −1, in the row-major order of its O×C×kh×kw shape.

**Bit order.** The CPU plugin reads element *i* from bit ``i % 8`` of byte ``i // 8`` (least
significant bit first), while OpenVINO's element-list constructor of a ``u1`` constant stores
element *i* in bit ``7 − i % 8``: a constant built from a list of 0/1 values is read with the
bits of every byte reversed. So the bytes are packed here (``numpy.packbits(...,
bitorder="little")``) and handed over as a raw ``u1`` tensor; :func:`unpack_signs` reads them
back the plugin's way, and the tests check both against an integer reference convolution.

**Memory.** ``openvino.Tensor(array, shape, u1)`` wraps the array's memory without a copy, and
a ``Constant`` made from it shares that memory by default: once the array is freed, the
compiled model reads garbage (measured: wrong outputs as soon as the packing function had
returned). The constant is therefore made with ``shared_memory=False``, which copies.

**Channels.** A standalone binarization (``FakeQuantize``) node writes the bits of pixel *p*
from byte ``p·C // 8`` while ``BinaryConvolution`` reads ``ceil(C / 8)`` bytes per pixel:
for C not a multiple of 8 the two disagree and the conv reads other pixels' bits (measured:
wrong outputs for 12 and 13 channels, exact for 8, 16, 24…). So a site with such C is padded
to a multiple of 8 (:func:`align_channels`): the extra input channels are constant +1 and their
weight signs come in pairs (+1, −1) whose products cancel at every tap; when the padding is
odd, the one unpaired channel adds +1 per valid tap, which :func:`valid_taps` gives to be
subtracted (exact integers).
"""

from __future__ import annotations

import numpy as np
import openvino as ov


def weight_signs(weight: np.ndarray) -> np.ndarray:
    """sign(W) as booleans: True (+1) for W ≥ 0, False (−1) otherwise — never 0."""
    return np.asarray(weight) >= 0


def pack_signs(weight: np.ndarray) -> np.ndarray:
    """The bytes of sign(``weight``) as the CPU plugin reads them: row-major, 8 per byte, the
    first element in the least significant bit (the last byte padded with 0 bits)."""
    return np.packbits(weight_signs(weight).reshape(-1), bitorder="little")


def unpack_signs(packed: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """±1 (int8) of ``shape`` from bytes packed as :func:`pack_signs` packs them."""
    count = int(np.prod(shape))
    bits = np.unpackbits(np.asarray(packed, np.uint8), count=count, bitorder="little")
    return (bits.astype(np.int8) * 2 - 1).reshape(shape)


def binary_weights(weight: np.ndarray, name: str | None = None) -> ov.Node:
    """A ``u1`` constant of sign(``weight``) (any shape, e.g. O×C×kh×kw), its own copy."""
    weight = np.asarray(weight)
    packed = pack_signs(weight)
    tensor = ov.Tensor(packed, ov.Shape(list(weight.shape)), ov.Type.u1)
    constant = ov.op.Constant(tensor, shared_memory=False)
    if name:
        constant.set_friendly_name(name)
    return constant


CHANNEL_ALIGNMENT = 8


def align_channels(weight: np.ndarray) -> tuple[np.ndarray, int, bool]:
    """``weight`` (O×C×kh×kw) with input channels added up to a multiple of 8 (see the module
    notes), how many were added, and whether one of them is unpaired (its +1 per valid tap
    stays in the result)."""
    out, channels = weight.shape[:2]
    extra = -channels % CHANNEL_ALIGNMENT
    if not extra:
        return weight, 0, False
    padding = np.ones((out, extra, *weight.shape[2:]), weight.dtype)
    padding[:, 1::2] = -1  # +1, −1, +1, … against a constant +1 input: pairs cancel
    return np.concatenate([weight, padding], axis=1), extra, extra % 2 == 1


def valid_taps(size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
               padding: tuple[int, int]) -> np.ndarray:
    """Per output position, how many kernel taps fall inside the input (zero padding
    excluded): Hout × Wout."""
    counts = []
    for length, k, s, p in zip(size, kernel, stride, padding):
        starts = np.arange(0, length + 2 * p - k + 1, s) - p
        counts.append(np.minimum(starts + k, length) - np.maximum(starts, 0))
    return np.outer(counts[0], counts[1]).astype(np.float32)
