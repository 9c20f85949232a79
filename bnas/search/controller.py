"""The search controller: Ray Tune runs trials, Optuna samples them, ASHA stops bad ones.

Budget constraints (``max_ops``, ``max_size_mib``, …) are checked *before* training: the
define-by-run function costs each sampled Architecture, sets each relative excess
(:func:`bnas.costs.excess`) with Optuna's ``trial.set_constraint`` — which TPE and NSGA-II
read, so they learn that region is infeasible — and marks the trial infeasible; its trainable
then reports accuracy 0 without training. The cost is composed from parts measured while Ray
starts (:func:`warm_cost_model`), so Ray Tune's loop waits well under a millisecond for it.
"""

from __future__ import annotations

import functools
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from bnas.architecture import STATIC, Architecture, Threshold
from bnas.backbones import backbone_info
from bnas.costs import excess
from bnas.errors import BnasError
from bnas.files import OVERRIDES_FILE, SPACE_FILE, STUDY_FILE, SUMMARY_FILE
from bnas.reading import read_yaml
from bnas.run_record import RunRecord
from bnas.search.cluster import ray_session
from bnas.search.summary import summarize, write_summary
from bnas.search.trainable import COST_KEY, FEASIBLE_KEY, run_trial
from bnas.space.preflight import preflight


def make_sampler(space: Any) -> Any:
    import optuna

    search = space.search
    seed = search.seed
    if search.algorithm == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if search.algorithm == "grid":
        return optuna.samplers.GridSampler(space.grid_search_space(), seed=seed)
    if search.algorithm == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def define_by_run(trial: Any, *, space: Any) -> dict[str, Any]:
    """Sample one candidate and attach its cost and feasibility (see module docstring)."""
    from bnas.profile import profile_architecture

    constants = space.define_by_run(trial) or {}
    arch = space.architecture(trial.params)
    cost = profile_architecture(arch)
    over = excess(cost, space.search.constraints_dict())
    for name, value in over.items():
        trial.set_constraint(name, value)
    trial.set_user_attr("arch", arch.summary())
    feasible = all(value <= 0 for value in over.values())
    return {**constants, COST_KEY: cost.to_dict(), FEASIBLE_KEY: feasible,
            "optuna_number": trial.number}


class ProgressPrinter:
    """One line per reported epoch: trial, architecture, epoch, accuracy, OPs."""

    def __init__(self, epochs: int, num_samples: int) -> None:
        self.epochs = epochs
        self.num_samples = num_samples
        self.start = time.monotonic()
        self.names: dict[str, int] = {}

    def _number(self, trial: Any) -> int:
        return self.names.setdefault(trial.trial_id, len(self.names) + 1)

    def line(self, trial: Any, text: str) -> None:
        elapsed = time.monotonic() - self.start
        print(
            f"[{elapsed:6.1f}s] trial {self._number(trial):>3}/{self.num_samples} {text}",
            flush=True,
        )

    def result(self, trial: Any, result: dict[str, Any]) -> None:
        if not result.get(FEASIBLE_KEY, True):
            self.line(trial, f"{result.get('arch', '?')}  over budget, not trained")
            return
        if "val_top1" not in result:
            return
        self.line(
            trial,
            f"{result.get('arch', '?')}  epoch {result.get('epoch', '?')}/{self.epochs}  "
            f"val_top1 {result['val_top1']:.3f}  OPs {result.get('ops', float('nan')):.3g}",
        )


def _tune_callback(printer: ProgressPrinter) -> Any:
    from ray.tune import Callback

    class _Progress(Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):  # noqa: ANN001
            printer.result(trial, result)

        def on_trial_error(self, iteration, trials, trial, **info):  # noqa: ANN001
            printer.line(trial, "failed (reason in summary.json)")

        def on_trial_complete(self, iteration, trials, trial, **info):  # noqa: ANN001
            epochs = trial.last_result.get("training_iteration", 0)
            if trial.last_result.get(FEASIBLE_KEY, True) and epochs < printer.epochs:
                printer.line(trial, f"stopped early by ASHA after {epochs} epochs")

    return _Progress()


def cost_cover(space: Any) -> list[Architecture]:
    """A few architectures that hold, between them, every part a candidate of ``space`` is
    costed from: the static network per RPReLU kind, and every (block, site, dynamic
    threshold) the space can sample. Architecture k gives each block its k-th distinct dynamic
    threshold on every site that threshold may cover, so their number is the most distinct
    thresholds of one block, not the size of the space."""
    backbone_sites = backbone_info(space.backbone.name).sites
    per_block = []
    for block in space.blocks:
        sites_of: dict[Threshold, set[str]] = {}  # a dynamic threshold → the sites it may cover
        for option in block.options():
            for site, data in block.thresholds(option, backbone_sites).items():
                threshold = Threshold.model_validate(data)
                if threshold.is_dynamic:
                    sites_of.setdefault(threshold, set()).add(site)
        per_block.append(list(sites_of.items()))
    cover = []
    for rprelu in space.space.rprelu:
        for k in range(max([1, *map(len, per_block)])):
            blocks = []
            for settings in per_block:
                threshold, sites = settings[k] if k < len(settings) else (STATIC, set())
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


def _trial_name(trial: Any) -> str:
    return f"trial_{trial.trial_id}"


def load_run_space(run_dir: Path) -> Any:
    """The space a run was started with: its ``space.yaml`` plus the ``--set`` overrides."""
    from bnas.space import load_space

    overrides_file = run_dir / OVERRIDES_FILE
    overrides = read_yaml(overrides_file, "overrides file").data if overrides_file.is_file() else []
    return load_space(run_dir / SPACE_FILE, overrides=overrides)


def run_search(
    space: Any,
    *,
    name: str | None = None,
    storage: str | Path = "runs",
    address: str | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Run (or resume) a search; returns the summary also written to ``RUN_DIR/summary.json``.

    The run directory is ``storage/name`` (``name`` defaults to the space's name). A new run
    refuses an existing run directory; ``resume=True`` requires one.
    """
    name = name or space.name
    storage_path = Path(storage).expanduser().resolve()
    run_dir = storage_path / name
    has_run = (run_dir / SPACE_FILE).is_file()
    if resume and not has_run:
        raise BnasError(f"--resume: no run to resume at {run_dir}")
    if not resume and run_dir.exists() and any(run_dir.iterdir()):
        raise BnasError(
            f"{run_dir} already holds a run; use --resume to continue it or --name for a new one"
        )

    # What every trial would find out (data, teacher, device, budgets, this machine), found
    # before Ray starts and before anything is written.
    preflight(space, local=address is None)

    search = space.search
    resources = {"cpu": search.resources_per_trial.cpu, "gpu": search.resources_per_trial.gpu}
    threads = max(1, int(resources["cpu"]))
    epochs = space.epochs

    # Candidates are costed in this process: import torch and the models, and measure the
    # parts of every candidate's cost, while Ray starts its processes instead of after. A
    # space whose network cannot be built fails here, before anything is written.
    background = ThreadPoolExecutor(max_workers=1)
    warm_up = background.submit(warm_cost_model, space)
    background.shutdown(wait=False)  # the measurement runs on; result() waits for it
    with ray_session(address):
        warm_up.result()
        import optuna
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
        from ray.tune.search.optuna import OptunaSearch

        from bnas.profile import cost_parts

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        trainable = tune.with_resources(
            tune.with_parameters(
                run_trial, space=space, threads=threads, cost_parts=cost_parts()
            ),
            resources,
        )
        printer = ProgressPrinter(epochs, search.num_samples)
        run_config = tune.RunConfig(
            name=name,
            storage_path=str(storage_path),
            failure_config=tune.FailureConfig(max_failures=0),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            callbacks=[_tune_callback(printer)],
            verbose=0,
        )
        if resume:
            if not tune.Tuner.can_restore(str(run_dir)):
                raise BnasError(f"--resume: {run_dir} has no Ray Tune experiment state")
            print(f"resuming {run_dir}", flush=True)
            tuner = tune.Tuner.restore(
                str(run_dir), trainable, resume_unfinished=True, resume_errored=False
            )
        else:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / SPACE_FILE).write_text(space.source_text)
            if space.overrides:
                (run_dir / OVERRIDES_FILE).write_text(yaml.safe_dump(space.overrides))
            objectives = dict(search.objectives)
            metrics, modes = list(objectives), list(objectives.values())
            searcher = OptunaSearch(
                functools.partial(define_by_run, space=space),
                metric=metrics if len(metrics) > 1 else metrics[0],
                mode=modes if len(modes) > 1 else modes[0],
                sampler=make_sampler(space),
                storage=optuna.storages.RDBStorage(f"sqlite:///{run_dir / STUDY_FILE}"),
                study_name=name,
            )
            scheduler = FIFOScheduler()
            if search.scheduler.asha is not None:
                asha = search.scheduler.asha
                scheduler = ASHAScheduler(
                    time_attr="training_iteration",
                    metric=asha.metric,
                    mode=asha.mode,
                    max_t=epochs,
                    grace_period=asha.grace_period,
                    reduction_factor=asha.reduction_factor,
                )
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(
                    search_alg=searcher,
                    scheduler=scheduler,
                    num_samples=search.num_samples,
                    max_concurrent_trials=search.max_concurrent,
                    reuse_actors=True,
                    trial_name_creator=_trial_name,
                    trial_dirname_creator=_trial_name,
                ),
                run_config=run_config,
            )
        print(
            f"search {name}: {search.num_samples} trials, {search.max_concurrent} at a time, "
            f"run directory {run_dir}",
            flush=True,
        )
        results = tuner.fit()
        summary = summarize(results, space, run_dir, threads)
    write_summary(summary, run_dir)
    return summary


def print_outcome(summary: dict[str, Any], run_dir: Path, stream: Any = sys.stdout) -> None:
    """The end of a search as a person wants it: counts, the best trial, where its files are."""
    record = RunRecord.from_dict(summary, source=str(run_dir / SUMMARY_FILE))
    print(f"trials: {record.describe_counts()}", file=stream)
    best = record.best
    if best is None:
        print("no trial finished; see summary.json for the errors", file=stream)
        return
    metrics = best.metrics
    print(
        f"best: {best.arch_summary}  val_top1 {metrics['val_top1']:.4f}  "
        f"OPs {metrics['ops']:.4g}  size {metrics['size_mib']:.3f} MiB  (trial {best.trial_id})",
        file=stream,
    )
    print(best.architecture().to_yaml().rstrip(), file=stream)
    if best.checkpoint:
        print(f"weights: {run_dir / best.checkpoint}", file=stream)
    print(f"summary: {run_dir / SUMMARY_FILE}", file=stream)
    print(f"export it: bnas export {run_dir} --best --onnx", file=stream)
