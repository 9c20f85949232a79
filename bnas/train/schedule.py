"""What changes over a run with time: the learning rate per step, the two-step phase per epoch.

Both are pure functions of the step or epoch number, so a checkpoint holds no scheduler state
and a resumed run continues on exactly the curve the uninterrupted run follows. This module
imports no torch.
"""

from __future__ import annotations

import math

from bnas.train_config import TrainConfig

# The two phases of the two-step recipe, as a run's history records them ("step").
REAL_WEIGHTS_PHASE = "1"
BINARY_PHASE = "2"


def learning_rate(config: TrainConfig, global_step: int, steps_per_epoch: int) -> float:
    """LR of step ``global_step`` (0-based over the whole run): linear warm-up, then decay.

    With η = ``config.lr``, w warm-up steps (``warmup_epochs`` × steps per epoch, rounded), S
    steps in all and t = (step − w) / (S − w) ∈ [0, 1) the fraction of post-warm-up steps done:

    .. math::
        \\eta_{step} = \\begin{cases}
            \\eta\\,(step + 1) / w & step < w \\\\
            \\eta \\cdot \\tfrac12 (1 + \\cos \\pi t) & \\text{cosine (SGDR)} \\\\
            \\eta\\,(1 - t) & \\text{linear} \\\\
            \\eta & \\text{constant}
        \\end{cases}

    The decay is timm's: ``CosineLRScheduler`` and ``PolyLRScheduler`` (power 1) with
    ``t_initial = S − w``, ``warmup_prefix=True``, ``lr_min=0`` and ``t_in_epochs=False`` give
    the same numbers after warm-up (``tests/test_train.py`` checks it). Ours is kept because a
    search trial must not import timm (~2.3 s per worker process) and because the warm-up
    differs on purpose: timm's starts at ``warmup_lr_init`` (a first step at lr 0 by default);
    this one starts at η / w, so no step is wasted, and reaches η at the last warm-up step.
    """
    total = config.epochs * steps_per_epoch
    warmup = round(config.warmup_epochs * steps_per_epoch)
    if global_step < warmup:
        return config.lr * (global_step + 1) / warmup
    if config.schedule == "constant":
        return config.lr
    t = (global_step - warmup) / max(1, total - warmup)
    if config.schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * t))
    return config.lr * (1.0 - t)


def phase_of(config: TrainConfig, epoch: int) -> str | None:
    """The two-step phase of ``epoch`` (1-based): None without ``two_step``.

    Two-step recipe (Martinez et al. 2020; ReActNet): epochs 1..⌊E/2⌋ are
    :data:`REAL_WEIGHTS_PHASE` (real-valued weights, binary activations), the rest
    :data:`BINARY_PHASE` (both binary), starting from the first phase's weights.
    """
    if not config.two_step:
        return None
    return REAL_WEIGHTS_PHASE if epoch <= config.step1_epochs else BINARY_PHASE
