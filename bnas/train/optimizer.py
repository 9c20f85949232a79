"""The optimizer of a run and its parameter groups: weight decay on real-valued kernels only.

Decay pulls a latent binary weight toward 0, where its sign flips at every step (ReActNet uses
no decay on them in step 2), and per-channel parameters (BN, RSign α, RPReLU) and biases are
not kernels; so only the real-valued kernels and matrices (stem, classifier, downsample
convolutions, threshold generators) are decayed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from bnas.nn import BinaryConv2d, BinaryLinear
from bnas.train_config import TrainConfig


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """``[no-decay group, decay group]`` (the second only when non-empty), in model order.

    Decayed: trainable parameters with ≥ 2 dimensions that are no BinaryConv2d /
    BinaryLinear latent weight. timm's ``param_groups_weight_decay(model, weight_decay,
    no_weight_decay_list=<names of those latent weights>)`` returns the same groups
    (``tests/test_train.py`` checks it on every backbone); ours is kept because a search trial
    must not import timm (~2.3 s per worker process) and because it finds binary weights by
    layer type, where timm needs their names.
    """
    binary = {
        id(module.weight)
        for module in model.modules()
        if isinstance(module, (BinaryConv2d, BinaryLinear))
    }
    decay, no_decay = [], []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        if param.ndim >= 2 and id(param) not in binary:
            decay.append(param)
        else:
            no_decay.append(param)
    groups = [{"params": no_decay, "weight_decay": 0.0}]
    if decay:
        groups.append({"params": decay, "weight_decay": weight_decay})
    return groups


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """``config.optimizer`` over :func:`parameter_groups`; the LR is set per step by the loop."""
    groups = parameter_groups(model, config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
    if config.optimizer == "adam":  # Adam's L2 (coupled) decay, on the same groups
        return torch.optim.Adam(groups, lr=config.lr)
    return torch.optim.AdamW(groups, lr=config.lr)
