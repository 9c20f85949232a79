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
import pickle
import shutil
import sys
import tempfile
import warnings
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
from bnas.search.cluster import ray_session, wait_for_a_node
from bnas.search.run_dir import check_resume_trust, check_run_name
from bnas.search.shutdown import SearchInterrupted, StopSignals
from bnas.search.summary import summarize, worker_failures, write_summary
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
    refuses an existing run directory; ``resume=True`` requires one that only the current user
    can have written (:mod:`bnas.search.run_dir`). SIGINT / SIGTERM end the search with
    :class:`~bnas.search.shutdown.SearchInterrupted` and no summary; the run can be resumed
    once Tune has saved its state (an interrupted new run without one is removed).
    """
    try:
        return _run_search(space, name=name, storage=storage, address=address, resume=resume)
    except SearchInterrupted:
        if not resume:
            _forget_unstarted_run(Path(storage).expanduser().resolve() / (name or space.name))
        raise


def _forget_unstarted_run(run_dir: Path) -> None:
    """Remove a new run interrupted before Tune saved any state: it could be neither resumed
    nor started again under its name, and holds nothing a trial made."""
    from ray import tune

    if run_dir.is_dir() and not tune.Tuner.can_restore(str(run_dir)):
        shutil.rmtree(run_dir, ignore_errors=True)


def _run_search(
    space: Any, *, name: str | None, storage: str | Path, address: str | None, resume: bool
) -> dict[str, Any]:
    name = name or space.name
    check_run_name(name)
    storage_path = Path(storage).expanduser().resolve()
    run_dir = storage_path / name
    has_run = (run_dir / SPACE_FILE).is_file()
    if resume and not has_run:
        raise BnasError(f"--resume: no run to resume at {run_dir}")
    if resume:
        check_resume_trust(run_dir)
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
    with StopSignals() as signals, _scratch_folder() as scratch, ray_session(
        address, signals=signals
    ):
        if address is not None:  # the preflight checked this machine; a cluster is checked here
            wait_for_a_node(resources, address)
        warm_up.result()
        import optuna
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

        from bnas.profile import cost_parts
        from bnas.search.searcher import FailureAwareOptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        trainable = tune.with_resources(
            tune.with_parameters(
                run_trial, space=space, threads=threads, cost_parts=cost_parts(),
                scratch_root=scratch,
            ),
            resources,
        )
        run_config = _run_config(space, name, storage_path)
        if resume:
            if not tune.Tuner.can_restore(str(run_dir)):
                raise BnasError(f"--resume: {run_dir} has no Ray Tune experiment state")
            print(f"resuming {run_dir}", flush=True)
            tuner = _restore_tuner(run_dir, trainable)
        else:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / SPACE_FILE).write_text(space.source_text)
            if space.overrides:
                (run_dir / OVERRIDES_FILE).write_text(yaml.safe_dump(space.overrides))
            objectives = dict(search.objectives)
            metrics, modes = list(objectives), list(objectives.values())
            searcher = FailureAwareOptunaSearch(
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
        with signals.tuning(), warnings.catch_warnings():
            # ASHA compares a failed trial's NaN (bnas.search.trainable) with nanpercentile,
            # which warns while a rung holds nothing else
            warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
            results = tuner.fit()
        signals.raise_if_received()  # interrupted: resumable, not summarised
        summary = summarize(results, space, run_dir, threads, worker_failures(run_dir))
    write_summary(summary, run_dir)
    return summary


def _restore_tuner(run_dir: Path, trainable: Any) -> Any:
    """Tune's restore of the run; damaged or foreign state is one line, not a traceback."""
    from ray import tune

    try:
        return tune.Tuner.restore(
            str(run_dir), trainable, resume_unfinished=True, resume_errored=False
        )
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, AttributeError,
            ImportError) as error:
        first_line = (str(error).splitlines() or [""])[0]
        raise BnasError(f"--resume: cannot restore Ray Tune's state in {run_dir} "
                        f"({type(error).__name__}: {first_line})") from None


def _run_config(space: Any, name: str, storage_path: Path) -> Any:
    """Tune's RunConfig: storage, retries of lost workers, one checkpoint kept, progress lines."""
    from ray import tune

    from bnas.search.progress import ProgressPrinter

    search = space.search
    return tune.RunConfig(
        name=name,
        storage_path=str(storage_path),
        failure_config=tune.FailureConfig(max_failures=search.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        callbacks=[ProgressPrinter(space.epochs, search.num_samples, search.max_failures)],
        verbose=0,
    )


def _scratch_folder() -> tempfile.TemporaryDirectory:
    """The trials' temporary checkpoint folders on this machine, removed with the search
    (a trial removes its own; this catches those of a killed worker)."""
    return tempfile.TemporaryDirectory(prefix="bnas-search-", ignore_cleanup_errors=True)


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
