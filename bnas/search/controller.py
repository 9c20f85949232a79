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
import logging
import pickle
import shutil
import sys
import tempfile
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
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
from bnas.search.checkpoint_repair import repair_checkpoint_references
from bnas.search.cluster import ray_session, wait_for_a_node
from bnas.search.run_dir import check_resume_trust, check_run_name
from bnas.search.shutdown import SearchInterrupted, StopSignals
from bnas.search.summary import summarize, worker_failures, write_summary
from bnas.search.trainable import COST_KEY, FEASIBLE_KEY, run_trial
from bnas.space.preflight import preflight


def make_sampler(space: Any, grid_class: type | None = None) -> Any:
    """The Optuna sampler of ``search.algorithm``, seeded by ``search.seed``; a grid is a
    ``grid_class`` (default Optuna's GridSampler) over :meth:`SearchSpace.grid_search_space`."""
    import optuna

    search = space.search
    seed = search.seed
    if search.algorithm == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if search.algorithm == "grid":
        return (grid_class or optuna.samplers.GridSampler)(space.grid_search_space(), seed=seed)
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


def start_cost_model(space: Any) -> Future[None]:
    """:func:`warm_cost_model` in a background thread; ``result()`` waits for it (and raises
    its error: a space whose network cannot be built fails there)."""
    background = ThreadPoolExecutor(max_workers=1)
    warm_up = background.submit(warm_cost_model, space)
    background.shutdown(wait=False)  # the measurement runs on; result() waits for it
    return warm_up


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
    if space.search.strategy == "oneshot":
        from bnas.search.oneshot import run_oneshot

        return run_oneshot(space, name=name, storage=storage, address=address, resume=resume)
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
    storage_path, run_dir = run_directory(name, storage, resume)
    # What every trial would find out (data, teacher, device, budgets, this machine), found
    # before Ray starts and before anything is written.
    preflight(space, local=address is None)
    space = space.with_absolute_data_root()  # trials run in folders of their own

    search = space.search
    threads = trial_threads(space)
    # Candidates are costed in this process: import torch and the models, and measure the
    # parts of every candidate's cost, while Ray starts its processes instead of after. A
    # space whose network cannot be built fails here, before anything is written.
    warm_up = start_cost_model(space)
    with StopSignals() as signals, scratch_folder() as scratch, ray_session(
        address, signals=signals
    ):
        if address is not None:  # the preflight checked this machine; a cluster is checked here
            wait_for_a_node(trial_resources(space), address)
        warm_up.result()
        import optuna
        from ray import tune

        from bnas.search.searcher import FailureAwareOptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        trainable = tune_trainable(space, scratch)
        if resume:
            if not tune.Tuner.can_restore(str(run_dir)):
                raise BnasError(f"--resume: {run_dir} has no Ray Tune experiment state")
            print(f"resuming {run_dir}", flush=True)
            tuner = restore_tuner(run_dir, trainable)
        else:
            write_space(space, run_dir)
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
            tuner = tune.Tuner(
                trainable,
                tune_config=tune_config(space, searcher, search.num_samples),
                run_config=tune_run_config(space, name, storage_path, search.num_samples),
            )
        print(
            f"search {name}: {search.num_samples} trials, {search.max_concurrent} at a time, "
            f"run directory {run_dir}",
            flush=True,
        )
        results = fit_tuner(tuner, signals)
        summary = summarize(results, space, run_dir, threads, worker_failures(run_dir))
    write_summary(summary, run_dir)
    return summary


# -- pieces both strategies use (bnas.search.oneshot retrains its candidates with them) -------


def run_directory(name: str, storage: str | Path, resume: bool) -> tuple[Path, Path]:
    """``(storage path, run directory)``, both absolute. The name must be a run name; a new
    run refuses a run directory that holds anything; ``resume`` requires one that holds a
    run and that only the current user can have written (:mod:`bnas.search.run_dir`)."""
    check_run_name(name)
    storage_path = Path(storage).expanduser().resolve()
    run_dir = storage_path / name
    if resume and not (run_dir / SPACE_FILE).is_file():
        raise BnasError(f"--resume: no run to resume at {run_dir}")
    if resume:
        check_resume_trust(run_dir)
    if not resume and run_dir.exists() and any(run_dir.iterdir()):
        raise BnasError(
            f"{run_dir} already holds a run; use --resume to continue it or --name for a new one"
        )
    return storage_path, run_dir


def write_space(space: Any, run_dir: Path) -> None:
    """Keep the space as given (and its ``--set`` overrides) in a new run directory."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / SPACE_FILE).write_text(space.source_text)
    if space.overrides:
        (run_dir / OVERRIDES_FILE).write_text(yaml.safe_dump(space.overrides))


def trial_threads(space: Any) -> int:
    """Torch threads of a trial (or an evaluation worker): its CPUs, rounded down, ≥ 1."""
    return max(1, int(space.search.resources_per_trial.cpu))


def trial_resources(space: Any) -> dict[str, float]:
    """Ray resources of one trial (or one evaluation worker)."""
    resources = space.search.resources_per_trial
    return {"cpu": resources.cpu, "gpu": resources.gpu}


def tune_trainable(space: Any, scratch: str | None) -> Any:
    """:func:`run_trial` with the space, its thread count, the cost model's measured parts
    (call it after :func:`warm_cost_model`) and the trials' ``scratch`` folder bound, and the
    trial's resources."""
    from ray import tune

    from bnas.profile import cost_parts

    return tune.with_resources(
        tune.with_parameters(run_trial, space=space, threads=trial_threads(space),
                             cost_parts=cost_parts(), scratch_root=scratch),
        trial_resources(space),
    )


def make_scheduler(space: Any) -> Any:
    """ASHA over epochs (``search.scheduler.asha``), or FIFO: every trial runs to the end."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    asha = space.search.scheduler.asha
    if asha is None:
        return FIFOScheduler()
    return ASHAScheduler(
        time_attr="training_iteration",
        metric=asha.metric,
        mode=asha.mode,
        max_t=space.epochs,
        grace_period=asha.grace_period,
        reduction_factor=asha.reduction_factor,
    )


def tune_config(space: Any, search_alg: Any, num_samples: int) -> Any:
    """Ray Tune's settings for ``num_samples`` trials suggested by ``search_alg``: the
    space's scheduler and concurrency, workers reused between trials, trials named
    ``trial_<id>``."""
    from ray import tune

    return tune.TuneConfig(
        search_alg=search_alg,
        scheduler=make_scheduler(space),
        num_samples=num_samples,
        max_concurrent_trials=space.search.max_concurrent,
        reuse_actors=True,
        trial_name_creator=_trial_name,
        trial_dirname_creator=_trial_name,
    )


def tune_run_config(space: Any, name: str, storage_path: Path, trials: int) -> Any:
    """Tune's RunConfig: the experiment ``storage_path/name``, retries of lost workers, one
    checkpoint kept per trial, progress lines numbered out of ``trials``."""
    from ray import tune

    from bnas.search.progress import ProgressPrinter

    search = space.search
    return tune.RunConfig(
        name=name,
        storage_path=str(storage_path),
        failure_config=tune.FailureConfig(max_failures=search.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        callbacks=[ProgressPrinter(space.epochs, trials, search.max_failures)],
        verbose=0,
    )


def restore_tuner(run_dir: Path, trainable: Any) -> Any:
    """Tune's restore of the run (finished trials kept, unfinished ones continued from their
    last checkpoint); damaged or foreign state is one line, not a traceback."""
    from ray import tune

    for line in repair_checkpoint_references(run_dir):
        print(line, flush=True)
    try:
        return tune.Tuner.restore(
            str(run_dir), trainable, resume_unfinished=True, resume_errored=False
        )
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, AttributeError,
            ImportError) as error:
        first_line = (str(error).splitlines() or [""])[0]
        raise BnasError(f"--resume: cannot restore Ray Tune's state in {run_dir} "
                        f"({type(error).__name__}: {first_line})") from None


def fit_tuner(tuner: Any, signals: StopSignals) -> Any:
    """``tuner.fit()``, SIGINT / SIGTERM handled by ``signals``; raises SearchInterrupted
    after an interrupted fit (resumable, not summarised)."""
    with signals.tuning(), warnings.catch_warnings():
        # ASHA compares a failed trial's NaN (bnas.search.trainable) with nanpercentile,
        # which warns while a rung holds nothing else
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        # a failed trial's NaN and a never-trained one's inf go to TensorBoard as they are;
        # tensorboardX would warn about each
        logging.getLogger("tensorboardX.x2num").setLevel(logging.ERROR)
        results = tuner.fit()
    signals.raise_if_received()
    return results


def scratch_folder() -> tempfile.TemporaryDirectory:
    """The trials' temporary checkpoint folders on this machine, removed with the search
    (a trial removes its own; this catches those of a killed worker)."""
    return tempfile.TemporaryDirectory(prefix="bnas-search-", ignore_cleanup_errors=True)


def print_outcome(summary: dict[str, Any], run_dir: Path, stream: Any = sys.stdout) -> None:
    """The end of a search as a person wants it: counts, the best trial, where its files are."""
    record = RunRecord.from_dict(summary, source=str(run_dir / SUMMARY_FILE))
    print(f"trials: {record.describe_counts()}", file=stream)
    if record.oneshot is not None:
        for line in describe_oneshot(record):
            print(line, file=stream)
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


def describe_oneshot(record: RunRecord) -> list[str]:
    """What a one-shot search's phases cost, and how well the supernet ranked its picks."""
    oneshot = record.oneshot
    assert oneshot is not None
    phases, total = oneshot.phases, oneshot.total
    units = total.candidate_epochs / max(oneshot.standalone_epochs, 1)
    trained = [t for t in record.trained() if t.metrics.get("supernet_val_top1") is not None]
    lines = [
        "one-shot cost: " + ", ".join(
            f"{phase} {cost.candidate_epochs:.1f} candidate-epochs ({cost.seconds:.0f} s)"
            for phase, cost in phases.items())
        + f"; total {total.candidate_epochs:.1f} = {units:.2f} x one stand-alone training "
        f"({oneshot.standalone_epochs} epochs), {total.seconds:.0f} s",
        f"candidates: {oneshot.candidates_scored} scored, {oneshot.candidates_over_budget} over "
        f"budget (all listed in {oneshot.candidates_file})",
    ]
    if oneshot.kendall_tau is not None:
        lines.append(f"supernet vs stand-alone val top-1 of the {len(trained)} retrained: "
                     f"Kendall tau {oneshot.kendall_tau:+.2f} (p {oneshot.kendall_p:.2g})")
    return lines
