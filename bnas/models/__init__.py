"""Backbones built from an Architecture: ReActNet-A, ReAct-ResNet18 and binary CCT.

One registry maps the catalog names of :mod:`bnas.backbones` to builders ``(arch) -> nn.Module``;
:func:`build_model` is the one way in. Importing this package also makes the backbones timm
models (``bnas_reactnet_a``, ``bnas_react_resnet18``, ``bnas_binary_cct``), registered as soon
as timm is imported, before or after; it does not import timm itself
(:mod:`bnas.models.timm_registry`).

Every model keeps ``model.arch`` and exposes ``model.blocks`` (one module per Architecture
block, in order); ``model.blocks[i].<site>.sign`` is the RSign / DySign of that site, next to
its binary conv / linear. Stem and classifier are full precision; the binary parts are only
:mod:`bnas.nn` layers, so :func:`bnas.nn.set_binarization` turns a model into its float twin.
The models follow timm's conventions (:class:`BinaryBackbone`): ``feature_info`` and
``forward_intermediates`` for ``features_only=True``, ``reset_classifier``, torch.fx tracing.

Backbone arguments (``arch.args``): ``preset`` (tiny | small | full, default full),
``num_classes`` (1000), ``in_chans`` (3), ``img_size`` (224), ``stem`` (auto | imagenet |
cifar; auto = imagenet from 128 px up), ``width`` (1.0), ``channel_multiple`` (CNNs: channels
after ``width`` round to a multiple of it, 8), ``drop_path_rate`` (CCT, 0).

Example::

    >>> import torch
    >>> from bnas import Architecture
    >>> from bnas.models import build_model
    >>> arch = Architecture.uniform("reactnet_a", "dynamic", preset="tiny", num_classes=10,
    ...                             in_chans=1, img_size=8)
    >>> build_model(arch)(torch.zeros(4, 1, 8, 8)).shape
    torch.Size([4, 10])
"""

from bnas.models._common import BinaryBackbone, BinaryConvBN, resolve_args, scale_channels
from bnas.models._registry import build_model, register_backbone, registered_backbones
from bnas.models.binary_cct import BinaryCCT, BinaryLinearNorm, BinaryTransformerLayer
from bnas.models.react_resnet18 import ReActBasicBlock, ReActResNet18
from bnas.models.reactnet_a import ReActBlock, ReActNetA
from bnas.models.timm_registry import as_architecture
from bnas.models.weights import load_model_weights

__all__ = [
    "BinaryBackbone",
    "BinaryCCT",
    "BinaryConvBN",
    "BinaryLinearNorm",
    "BinaryTransformerLayer",
    "ReActBasicBlock",
    "ReActBlock",
    "ReActNetA",
    "ReActResNet18",
    "as_architecture",
    "build_model",
    "load_model_weights",
    "register_backbone",
    "registered_backbones",
    "resolve_args",
    "scale_channels",
]
