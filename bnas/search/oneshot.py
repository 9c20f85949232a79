"""A one-shot search (``search.strategy: oneshot``): one supernet instead of many trials.

Four phases, each resumable, all in one Ray session:

(a) **supernet**: the weight-sharing supernet of the space trains once on Ray Train
    (:func:`bnas.search.supernet_training.train_supernet_on_ray`), resumable from its last
    epoch; cost: ``supernet.epochs × supernet.candidates_per_step`` candidate-epochs.
(b) **search**: Optuna proposes candidates and Ray actors score them with inherited weights
    (:mod:`bnas.search.candidates`); resumable from the candidates told so far.
(c) **retrain**: the ``top_k`` candidates (or the Pareto front) train stand-alone on Ray
    Tune with the trainable and ASHA of a multi-trial search, from scratch or, with
    ``evaluate.warm_start``, from their weights in the supernet; resumable from Ray Tune's
    experiment state.
(d) **summary**: ``summary.json`` is a :class:`bnas.run_record.RunRecord` whose trials are
    the retrained candidates (so ``bnas export`` and ``bnas report`` read it as any run), each
    with ``metrics["supernet_val_top1"]``, plus a :class:`~bnas.run_record.OneShotRecord`:
    each phase's cost and the rank agreement (Kendall's τ) of supernet and stand-alone
    accuracy over the retrained candidates.

Which phases are done, and what they cost so far (summed over every process that worked on
them, :mod:`bnas.search.phases`), is kept in ``RUN_DIR/oneshot.json``; a resumed run skips
the done ones. SIGINT / SIGTERM end the run with
:class:`~bnas.search.shutdown.SearchInterrupted` (a candidate search after its round is
saved, the retraining as a multi-trial search stops); nothing is removed, every phase
resumes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ray.tune.search import Searcher

from bnas.files import CANDIDATES_FILE, WARM_START_DIR
from bnas.rank_agreement import kendall_tau
from bnas.run_record import ONESHOT_PHASES, SUPERNET_METRIC, is_trained, json_value
from bnas.search.candidates import (
    Candidate,
    describe_effects,
    search_candidates,
    select_for_retraining,
    site_effect_records,
)
from bnas.search.cluster import ray_session, wait_for_a_node
from bnas.search.phases import PhaseState
from bnas.search.run_dir import RunFolder, write_space
from bnas.search.sampler import start_cost_model
from bnas.search.shutdown import StopSignals
from bnas.search.summary import build_summary, trial_records, worker_failures, write_summary
from bnas.search.trainable import COST_KEY, FEASIBLE_KEY, INIT_WEIGHTS_KEY
from bnas.search.tuner import (
    fit_tuner,
    restore_tuner,
    scratch_folder,
    trial_resources,
    trial_threads,
    tune_config,
    tune_run_config,
    tune_trainable,
)


class CandidateList(Searcher):
    """A Ray Tune searcher that suggests the given configs, in order, once each: the
    candidates a one-shot search retrains. Its state (the configs, how many were suggested)
    is saved with the experiment, so a restored experiment does not suggest one twice."""

    def __init__(self, configs: list[dict[str, Any]]) -> None:
        super().__init__()
        self.configs = [dict(config) for config in configs]
        self.suggested = 0

    def suggest(self, trial_id: str) -> dict[str, Any] | str:
        if self.suggested >= len(self.configs):
            return Searcher.FINISHED
        self.suggested += 1
        return dict(self.configs[self.suggested - 1])

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        """Nothing to learn: the list is fixed."""

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_text(json.dumps(
            {"configs": self.configs, "suggested": self.suggested}, default=json_value))

    def restore(self, checkpoint_path: str) -> None:
        state = json.loads(Path(checkpoint_path).read_text())
        self.configs, self.suggested = state["configs"], state["suggested"]


def run_oneshot(space: Any, run: RunFolder, *, address: str | None = None) -> dict[str, Any]:
    """Run (or resume) a one-shot search in ``run`` (checked, the preflight passed:
    :func:`bnas.search.dispatch.run_search`); returns the summary written to
    ``RUN_DIR/summary.json``."""
    name, resume = run.path.name, run.resume
    storage_path, run_dir = run.storage, run.path
    state = PhaseState.load(run_dir) if resume else PhaseState(run_dir)
    # the files done phases left: whole, in the run
    trained = _check_done_phases(state, space.search.supernet.seeds)
    with run.writing():
        space = space.with_absolute_data_root()  # Ray's workers run in folders of their own
        # Candidates are costed in this process: measure their costs' parts while Ray starts.
        warm_up = start_cost_model(space)
        with StopSignals() as signals, scratch_folder() as scratch, ray_session(
            address, signals=signals
        ):
            if address is not None:
                wait_for_a_node(trial_resources(space), address)
            warm_up.result()
            if not resume:
                write_space(space, run_dir)
            print(f"one-shot search {name}: run directory {run_dir}", flush=True)
            checkpoint = trained or _train_supernet(space, run_dir, state, address, resume)
            signals.raise_if_received()
            selected = _search(space, run_dir, checkpoint, state, name, signals)
            signals.raise_if_received()
            trials = _retrain(space, run_dir, storage_path, name, state, selected, resume,
                              signals, scratch)
        summary = build_summary(space, trials, oneshot=oneshot_record(space, state, trials))
        write_summary(summary, run_dir)
    return summary


def _check_done_phases(state: PhaseState, seeds: int) -> Path | None:
    """The files a resumed run's done phases recorded, checked before Ray starts: inside the
    run folder, links followed, and whole (one line naming the file otherwise). Returns the
    trained supernet's checkpoint, or None when the supernet is not done."""
    from bnas.reading import check_safetensors
    from bnas.search.supernet_training import check_checkpoint

    for entry in state["search"].selected if state.done("search") else []:
        if entry.init_weights is not None:
            check_safetensors(state.path_of(entry.init_weights, "search.selected init_weights"),
                              "warm start")
    if not state.done("supernet"):
        return None
    checkpoint = state.path_of(state["supernet"].checkpoint, "supernet.checkpoint")
    check_checkpoint(checkpoint, "supernet", seeds)
    return checkpoint


def _train_supernet(space: Any, run_dir: Path, state: PhaseState, address: str | None,
                    resume: bool) -> Path:
    """Phase (a); returns the supernet's final checkpoint folder."""
    from bnas.search.supernet_training import seed_checkpoints, train_supernet_on_ray
    from bnas.train.checkpoint import read_checkpoint_state

    with state.working("supernet"):
        checkpoint = train_supernet_on_ray(space, run_dir, address_given=address is not None,
                                           resume=resume)
        history = read_checkpoint_state(seed_checkpoints(checkpoint, 1)[0],
                                        what="supernet")["history"]
        seeds = space.search.supernet.seeds
        state.update("supernet", done=True, checkpoint=os.path.relpath(checkpoint, run_dir),
                     candidate_epochs=float(history[-1]["candidate_epochs"]) * seeds)
    return Path(checkpoint)


def _search(space: Any, run_dir: Path, checkpoint: Path, state: PhaseState, name: str,
            signals: StopSignals) -> list[dict[str, Any]]:
    """Phase (b); returns the candidates to retrain as the state file keeps them."""
    if state.done("search"):
        return [entry.model_dump() for entry in state["search"].selected]
    from bnas.search.candidates import EvaluationWorkers
    from bnas.search.supernet_training import seed_checkpoints

    folders = seed_checkpoints(checkpoint, space.search.supernet.seeds)
    with state.working("search"), EvaluationWorkers(space, folders) as workers:
        outcome = search_candidates(space, run_dir, workers, name=name, signals=signals,
                                    told_before=state["search"].told,
                                    on_round=lambda told: state.update("search", told=told))
        chosen = select_for_retraining(outcome, space)
        selected = [_selection(candidate) for candidate in chosen]
        if space.search.evaluate.warm_start:
            for entry, candidate in zip(selected, chosen):
                path = run_dir / WARM_START_DIR / f"candidate_{candidate.number}.safetensors"
                workers.extract(candidate.arch, path)
                entry[INIT_WEIGHTS_KEY] = os.path.relpath(path, run_dir)
        effects = site_effect_records(outcome.scored, space.search.supernet.seeds)
        state.update("search", done=True, candidate_epochs=outcome.candidate_epochs,
                     scored=len(outcome.scored), over_budget=outcome.over_budget,
                     selected=selected, **effects)
    print(f"search done: {len(outcome.candidates)} candidates, {len(outcome.scored)} scored, "
          f"{outcome.over_budget} over budget; retraining {len(selected)} "
          f"({space.search.evaluate.retrain}"
          f"{', warm-started' if space.search.evaluate.warm_start else ''}): "
          + ", ".join(f"{entry['arch_summary']} ({entry[SUPERNET_METRIC]:.4f})"
                      for entry in selected), flush=True)
    print(describe_effects(effects), flush=True)
    return selected


def _selection(candidate: Candidate) -> dict[str, Any]:
    """What retraining needs of a candidate, as plain data for the state file."""
    return {"number": candidate.number, "params": candidate.params, COST_KEY: candidate.cost,
            "arch_summary": candidate.arch.summary(),
            SUPERNET_METRIC: candidate.scores["val_top1"], INIT_WEIGHTS_KEY: None}


def _retrain(space: Any, run_dir: Path, storage_path: Path, name: str, state: PhaseState,
             selected: list[dict[str, Any]], resume: bool, signals: StopSignals,
             scratch: str) -> list[dict[str, Any]]:
    """Phase (c): the selected candidates on Ray Tune (the multi-trial trainable, ASHA);
    returns their run-record trials with their supernet accuracy."""
    points = [{**entry["params"], COST_KEY: entry[COST_KEY], FEASIBLE_KEY: True,
               "optuna_number": entry["number"],
               INIT_WEIGHTS_KEY: str(state.path_of(entry[INIT_WEIGHTS_KEY],
                                                   "search.selected init_weights"))
               if entry[INIT_WEIGHTS_KEY] else None}
              for entry in selected]
    with state.working("retrain"):
        trials = _retrain_on_tune(space, run_dir, storage_path, name, points, resume, signals,
                                  scratch)
        by_number = {entry["number"]: entry for entry in selected}
        for trial in trials:
            trial["metrics"][SUPERNET_METRIC] = by_number[trial["number"]][SUPERNET_METRIC]
        state.update("retrain", done=True,
                     candidate_epochs=float(sum(trial["epochs_run"] for trial in trials)))
    return trials


def _retrain_on_tune(space: Any, run_dir: Path, storage_path: Path, name: str,
                     points: list[dict[str, Any]], resume: bool, signals: StopSignals,
                     scratch: str) -> list[dict[str, Any]]:
    """The retraining's Ray Tune experiment (new, or restored on ``--resume``); its trials."""
    from ray import tune

    trainable = tune_trainable(space, scratch)
    if resume and tune.Tuner.can_restore(str(run_dir)):
        print(f"retraining: resuming the Ray Tune experiment in {run_dir}", flush=True)
        tuner = restore_tuner(run_dir, trainable)
    else:
        import ray

        from bnas.space.preflight import workers_that_fit

        cluster = ray.cluster_resources()
        at_once = min(len(points), workers_that_fit(space, cluster.get("CPU", 0.0),
                                                    cluster.get("GPU", 0.0)))
        print(f"retraining {len(points)} candidate(s) stand-alone on Ray Tune, "
              f"{at_once} at a time", flush=True)
        tuner = tune.Tuner(
            trainable,
            tune_config=tune_config(space, CandidateList(points), len(points)),
            run_config=tune_run_config(space, name, storage_path, len(points)),
        )
    results = fit_tuner(tuner, signals)
    return trial_records(results, space, run_dir, trial_threads(space),
                         worker_failures(run_dir))


def oneshot_record(space: Any, state: PhaseState,
                   trials: list[dict[str, Any]]) -> dict[str, Any]:
    """The run record's one-shot part (:class:`bnas.run_record.OneShotRecord`) as plain data."""
    trained = [t for t in trials
               if is_trained(t["status"]) and t["metrics"].get("val_top1") is not None]
    agreement = kendall_tau([t["metrics"][SUPERNET_METRIC] for t in trained],
                            [t["metrics"]["val_top1"] for t in trained])
    return {
        "supernet_checkpoint": state["supernet"].checkpoint,
        "candidates_file": CANDIDATES_FILE,
        "candidates_scored": state["search"].scored,
        "candidates_over_budget": state["search"].over_budget,
        "retrain": space.search.evaluate.retrain,
        "warm_start": space.search.evaluate.warm_start,
        "standalone_epochs": space.epochs,
        "phases": {phase: {"candidate_epochs": state[phase].candidate_epochs,
                           "seconds": state[phase].seconds,
                           "processes": state[phase].processes} for phase in ONESHOT_PHASES},
        "kendall_tau": json_value(agreement["tau"]),
        "kendall_p": json_value(agreement["p"]),
        "seeds": space.search.supernet.seeds,
        "site_effects": [effect.model_dump() for effect in state["search"].site_effects],
        "seed_rank_agreement": [pair.model_dump() for pair in state["search"].seed_rank_agreement],
    }
