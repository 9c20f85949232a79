"""One search trial: sample → Architecture → (budget check) → :func:`bnas.train.train`.

Runs inside a Ray worker. Everything about *training* is bnas.train's; this module only turns
the sampled config into an Architecture and a TrainConfig, and each epoch's metrics into a
``ray.tune.report`` with the checkpoint bnas.train wrote.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bnas.profile import CostParts
    from bnas.space import SearchSpace

COST_KEY = "cost"
FEASIBLE_KEY = "feasible"
# A one-shot search's retraining: weights to start from (a supernet's candidate), or None.
INIT_WEIGHTS_KEY = "init_weights"


def run_trial(
    config: dict[str, Any], *, space: SearchSpace, threads: int, cost_parts: CostParts
) -> None:
    """The Ray Tune function trainable (``space``, ``threads`` and the cost model's measured
    ``cost_parts`` bound by with_parameters)."""
    import ray
    import torch
    from ray import tune

    from bnas.profile import add_cost_parts
    from bnas.train import TrainConfig, train

    add_cost_parts(cost_parts)  # train() costs the candidate without measuring it again

    torch.set_num_threads(max(1, threads))
    arch = space.architecture(config)
    settings = {**space.train_settings(config), "threads": max(1, threads)}
    train_config = TrainConfig.from_dict(settings, source="trial config")
    base = {
        "arch": arch.summary(),
        "arch_id": arch.arch_id,
        "node_ip": ray.util.get_node_ip_address(),
        **config[COST_KEY],
    }
    if not config[FEASIBLE_KEY]:
        # Over budget: told to the searcher as the worst accuracy without training (the
        # sampler's constraints_func also sees the violation, see bnas.search.controller).
        tune.report({**base, "val_top1": 0.0, FEASIBLE_KEY: False})
        return

    def on_epoch(metrics: dict[str, Any], checkpoint_dir: Any) -> None:
        checkpoint = tune.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        tune.report({**base, **metrics, FEASIBLE_KEY: True}, checkpoint=checkpoint)

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        train(arch, train_config, on_epoch=on_epoch, init_weights=config.get(INIT_WEIGHTS_KEY),
              progress=False)
        return
    with checkpoint.as_directory() as resume_dir:
        train(arch, train_config, on_epoch=on_epoch, resume_from=resume_dir, progress=False)
