"""Graph building, whole networks: the blocks and backbones of :mod:`bnas.models`.

Each converter mirrors its module's ``forward`` (evaluation mode: DropPath is the identity,
BatchNorm uses running statistics), op for op; the tests compare every backbone with PyTorch.
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from bnas.deploy import sites  # noqa: F401  (registers the binary units' converters)
from bnas.deploy.layers import converts, emit, int64, named, numpy
from bnas.errors import BnasError
from bnas.models import (
    BinaryBackbone,
    BinaryCCT,
    BinaryTransformerLayer,
    ReActBasicBlock,
    ReActBlock,
)
from bnas.models.binary_cct import ConvTokenizer


@converts(ReActBlock)
def reactnet_block(block: ReActBlock, x: ov.Output, name: str) -> ov.Output:
    """RPReLU(BN(BinConv3x3(sign(x))) + pool(x)), then RPReLU(BN(BinConv1x1(sign(y))) + [y…])."""
    residual = named(ops.add(emit(block.conv3x3, x, f"{name}.conv3x3"),
                             emit(block.shortcut, x, f"{name}.shortcut")), f"{name}.add3x3")
    y = emit(block.act3x3, residual, f"{name}.act3x3")
    shortcut = named(ops.concat([y] * block.expand, 1), f"{name}.expand") \
        if block.expand > 1 else y
    residual = named(ops.add(emit(block.conv1x1, y, f"{name}.conv1x1"), shortcut),
                     f"{name}.add1x1")
    return emit(block.act1x1, residual, f"{name}.act1x1")


@converts(ReActBasicBlock)
def react_resnet_block(block: ReActBasicBlock, x: ov.Output, name: str) -> ov.Output:
    """RPReLU(BN(BinConv(sign(x))) + D(x)), then RPReLU(BN(BinConv(sign(y))) + y)."""
    residual = named(ops.add(emit(block.conv1, x, f"{name}.conv1"),
                             emit(block.downsample, x, f"{name}.downsample")), f"{name}.add1")
    y = emit(block.act1, residual, f"{name}.act1")
    residual = named(ops.add(emit(block.conv2, y, f"{name}.conv2"), y), f"{name}.add2")
    return emit(block.act2, residual, f"{name}.act2")


@converts(BinaryTransformerLayer)
def transformer_layer(layer: BinaryTransformerLayer, x: ov.Output, name: str) -> ov.Output:
    """x + attention(LN(x)), then x + fc2(RPReLU(fc1(LN(x)))); DropPath is the identity."""
    attended = attention(layer, emit(layer.norm1, x, f"{name}.norm1"), name)
    x = named(ops.add(x, attended), f"{name}.add_attention")
    hidden = emit(layer.fc1, emit(layer.norm2, x, f"{name}.norm2"), f"{name}.fc1")
    mlp = emit(layer.fc2, emit(layer.act, hidden, f"{name}.act"), f"{name}.fc2")
    return named(ops.add(x, mlp), f"{name}.add_mlp")


def attention(layer: BinaryTransformerLayer, x: ov.Output, name: str) -> ov.Output:
    """softmax(q kᵀ · d^-½) v over heads, with the binary qkv and proj linears."""
    heads, head_dim = layer.num_heads, layer.head_dim
    qkv = emit(layer.qkv, x, f"{name}.qkv")
    qkv = ops.reshape(qkv, int64([0, 0, 3, heads, head_dim]), True)
    q, k, v = ops.split(ops.transpose(qkv, int64([2, 0, 3, 1, 4])), ops.constant(np.int64(0)),
                        3).outputs()
    q, k, v = (ops.squeeze(part, int64([0])).output(0) for part in (q, k, v))
    scores = ops.multiply(ops.matmul(q, k, False, True), ops.constant(np.float32(layer.scale)))
    weights = named(ops.softmax(scores, -1), f"{name}.softmax")
    mixed = ops.transpose(ops.matmul(weights, v, False, False), int64([0, 2, 1, 3]))
    tokens = ops.reshape(mixed, int64([0, 0, heads * head_dim]), True).output(0)
    return emit(layer.proj, tokens, f"{name}.proj")


@converts(ConvTokenizer)
def tokenizer(module: ConvTokenizer, x: ov.Output, name: str) -> ov.Output:
    return emit(module.convs, x, f"{name}.convs")


def features(model: BinaryBackbone, x: ov.Output) -> ov.Output:
    """``forward_features``: N×C×H×W for the CNNs, N×L×D tokens for binary CCT."""
    if isinstance(model, BinaryCCT):
        grid = emit(model.stem, x, "stem")
        tokens = ops.transpose(ops.reshape(grid, int64([0, model.num_features, -1]), True),
                               int64([0, 2, 1]))
        x = named(ops.add(tokens, ops.constant(numpy(model.pos_embed))), "pos_embed")
    else:
        x = emit(model.stem, x, "stem")
    for index, block in enumerate(model.blocks):
        x = emit(block, x, f"blocks.{index}")
    if isinstance(model, BinaryCCT):
        x = emit(model.norm, x, "norm")
    return x


def head(model: BinaryBackbone, x: ov.Output) -> ov.Output:
    """``forward_head``: global pool (average, or CCT's sequence pooling) → classifier; with
    no pooling, the features as ``forward`` returns them (CCT: N×H'×W'×D)."""
    if model.global_pool == "avg":
        x = named(ops.reduce_mean(x, int64([2, 3]), False), "global_pool")
    elif model.global_pool == "seq":
        scores = emit(model.attention_pool, x, "attention_pool")
        weights = named(ops.softmax(scores, 1), "attention_pool.softmax")
        x = named(ops.reduce_sum(ops.multiply(weights, x), int64([1]), False), "global_pool")
    elif model.global_pool != "":
        raise BnasError(f"to_openvino: global_pool {model.global_pool!r} is not converted")
    elif isinstance(model, BinaryCCT):
        side = model.stem.output_size(model.args["img_size"])
        x = ops.reshape(x, int64([0, side, side, model.num_features]), True).output(0)
    return emit(model.head, x, "head")


def network(model: BinaryBackbone, x: ov.Output) -> ov.Output:
    """``model.forward`` of a bnas backbone in evaluation mode, as OpenVINO ops."""
    return head(model, features(model, x))
