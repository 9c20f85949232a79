"""How candidates are proposed and costed, for both strategies: the Optuna sampler of
``search.algorithm`` and the define-by-run function that costs each sampled Architecture.

Budget constraints (``max_ops``, ``max_size_mib``, …) are checked *before* training: the
define-by-run function costs each sampled Architecture, sets each relative excess
(:func:`bnas.costs.excess`) with Optuna's ``trial.set_constraint`` — which TPE and NSGA-II
read, so they learn that region is infeasible — and marks the trial infeasible; its trainable
then reports accuracy 0 without training. The cost is composed from parts measured while Ray
starts (:func:`warm_cost_model`), so Ray Tune's loop waits well under a millisecond for it.
A space that uses latency (``latency_ms``, ``max_latency_ms``) also gets each candidate's
predicted milliseconds, from the latency table the preflight built or loaded
(:meth:`SearchSpace.latency_table`): a sum over a dictionary, no measurement.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from bnas.architecture import STATIC, Architecture
from bnas.backbones import backbone_info
from bnas.costs import excess
from bnas.search.trainable import COST_KEY, FEASIBLE_KEY


def make_sampler(space: Any, grid_class: type | None = None, resumed_after: int = 0) -> Any:
    """The Optuna sampler of ``search.algorithm``, seeded by ``search.seed``; a grid is a
    ``grid_class`` (default Optuna's GridSampler) over :meth:`SearchSpace.grid_search_space`.

    ``resumed_after``: the candidates a resumed search was told before. A sampler rebuilt
    from its seed would draw the first run's random numbers again (Optuna's random and
    NSGA-II samplers, TPE's first ten trials: the interrupted search's candidates, proposed a
    second time); its seed is then one derived from the search's seed and that count, so a
    resumed search continues, and is still a function of its seed and where it stopped."""
    import optuna

    search = space.search
    seed = search.seed if not resumed_after else resumed_seed(search.seed, resumed_after)
    if search.algorithm == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if search.algorithm == "grid":
        return (grid_class or optuna.samplers.GridSampler)(space.grid_search_space(), seed=seed)
    if search.algorithm == "nsga2":
        sampler = optuna.samplers.NSGAIISampler(seed=seed)
        if hasattr(sampler, "_thread_lock"):
            sampler._thread_lock = PicklableLock()
        return sampler
    return optuna.samplers.TPESampler(seed=seed)


class PicklableLock:
    """A ``threading.Lock`` that pickles as a fresh lock. Optuna 5.1's genetic samplers
    (NSGA-II) hold a lock and define no ``__getstate__``, so Ray Tune could not pickle a
    multi-trial ``nsga2`` searcher (``TypeError: cannot pickle '_thread.lock' object`` before
    the first trial)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> bool:
        return self._lock.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._lock.__exit__(*exc)

    def __reduce__(self) -> tuple[type, tuple]:
        return PicklableLock, ()


def resumed_seed(seed: int, told: int) -> int:
    """A sampler seed (0 .. 2**32 - 1) mixed from ``seed`` and the ``told`` count."""
    digest = hashlib.sha256(f"bnas-sampler:{seed}:{told}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def define_by_run(trial: Any, *, space: Any) -> dict[str, Any]:
    """Sample one candidate and attach its cost and feasibility (see module docstring)."""
    from bnas.profile import profile_architecture

    constants = space.define_by_run(trial) or {}
    arch = space.architecture(trial.params)
    cost = profile_architecture(arch)
    table = space.latency_table()
    if table is not None:
        cost = replace(cost, latency_ms=table.predict(arch))
    over = excess(cost, space.search.constraints_dict())
    for name, value in over.items():
        trial.set_constraint(name, value)
    trial.set_user_attr("arch", arch.summary())
    feasible = all(value <= 0 for value in over.values())
    return {**constants, COST_KEY: cost.to_dict(), FEASIBLE_KEY: feasible,
            "optuna_number": trial.number}


def cost_cover(space: Any) -> list[Architecture]:
    """A few architectures that hold, between them, every part a candidate of ``space`` is
    costed from: the static network per RPReLU kind, and every (block, site, dynamic
    threshold) the space can sample. Architecture k gives each block its k-th distinct dynamic
    threshold on every site that threshold may cover, so their number is the most distinct
    thresholds of one block, not the size of the space."""
    backbone_sites = backbone_info(space.backbone.name).sites
    per_block = [list(covers.items()) for covers in space.dynamic_settings()]
    cover = []
    for rprelu in space.space.rprelu:
        for k in range(max([1, *map(len, per_block)])):
            blocks = []
            for settings in per_block:
                threshold, sites = settings[k] if k < len(settings) else (STATIC, [])
                blocks.append({site: threshold if site in sites else STATIC
                               for site in backbone_sites})
            cover.append(Architecture.from_dict(
                {"backbone": space.backbone.name, "args": space.backbone.args,
                 "rprelu": rprelu, "blocks": blocks}
            ))
    return cover


def warm_cost_model(space: Any) -> None:
    """Measure every part :func:`define_by_run` composes costs from (:func:`cost_cover`), so
    that sampling never waits for a measurement. Run while Ray starts its processes; the
    trials get the parts too, and their training costs its candidate without measuring."""
    from bnas.profile import profile_architecture

    for arch in cost_cover(space):
        profile_architecture(arch)
    space.latency_table()  # built by the preflight: loaded, not measured


def start_cost_model(space: Any) -> Future[None]:
    """:func:`warm_cost_model` in a background thread; ``result()`` waits for it (and raises
    its error: a space whose network cannot be built fails there)."""
    background = ThreadPoolExecutor(max_workers=1)
    warm_up = background.submit(warm_cost_model, space)
    background.shutdown(wait=False)  # the measurement runs on; result() waits for it
    return warm_up
