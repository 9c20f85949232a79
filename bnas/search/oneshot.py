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

Which phases are done, and what they cost so far, is kept in ``RUN_DIR/oneshot.json``; a
resumed run skips the done ones. SIGINT / SIGTERM end the run with
:class:`~bnas.search.shutdown.SearchInterrupted` (a candidate search after its round is
saved, the retraining as a multi-trial search stops); nothing is removed, every phase
resumes.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ray.tune.search import Searcher

from bnas.errors import BnasError
from bnas.files import (
    CANDIDATES_FILE,
    ONESHOT_STATE_FILE,
    WARM_START_DIR,
)
from bnas.rank_agreement import kendall_tau
from bnas.reading import read_json
from bnas.run_record import ONESHOT_PHASES, SUPERNET_METRIC, is_trained, json_value
from bnas.search.candidates import (
    Candidate,
    describe_effects,
    search_candidates,
    select_for_retraining,
    site_effect_records,
)
from bnas.search.cluster import ray_session, wait_for_a_node
from bnas.search.run_dir import run_directory, write_space
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
from bnas.space.preflight import preflight
from bnas.writing import write_text_atomic


class PhaseState:
    """``RUN_DIR/oneshot.json``: per phase whether it is done, its cost so far and what the
    next phases need from it (the supernet's checkpoint, the candidates to retrain)."""

    def __init__(self, run_dir: Path, phases: dict[str, dict[str, Any]] | None = None) -> None:
        self.path = run_dir / ONESHOT_STATE_FILE
        self.phases = phases or {name: {"done": False, "seconds": 0.0, "candidate_epochs": 0.0}
                                 for name in ONESHOT_PHASES}

    @classmethod
    def load(cls, run_dir: Path) -> PhaseState:
        path = run_dir / ONESHOT_STATE_FILE
        if not path.is_file():
            return cls(run_dir)
        data = read_json(path, "one-shot phase record")
        phases = data.get("phases") if isinstance(data, dict) else None
        if not isinstance(phases, dict) or set(phases) != set(ONESHOT_PHASES):
            raise BnasError(f"{path}: not a one-shot phase record (expected phases "
                            f"{', '.join(ONESHOT_PHASES)})")
        return cls(run_dir, phases)

    def done(self, phase: str) -> bool:
        return bool(self.phases[phase]["done"])

    def __getitem__(self, phase: str) -> dict[str, Any]:
        return self.phases[phase]

    def update(self, phase: str, *, seconds: float = 0.0, **facts: Any) -> None:
        """Add ``seconds`` to the phase's time, set ``facts``, write the file atomically."""
        entry = self.phases[phase]
        entry["seconds"] = entry["seconds"] + seconds
        entry.update(facts)
        write_text_atomic(self.path, json.dumps({"phases": self.phases}, indent=1,
                                                default=json_value) + "\n")


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


def run_oneshot(
    space: Any,
    *,
    name: str | None = None,
    storage: str | Path = "runs",
    address: str | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Run (or resume) a one-shot search; returns the summary written to
    ``RUN_DIR/summary.json``. Same run directory rules as a multi-trial search."""
    name = name or space.name
    storage_path, run_dir = run_directory(name, storage, resume)
    state = PhaseState.load(run_dir) if resume else PhaseState(run_dir)
    preflight(space, local=address is None)  # before Ray starts and anything is written
    space = space.with_absolute_data_root()  # Ray's workers run in folders of their own
    # Candidates are costed in this process: measure the parts of their costs while Ray starts.
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
        checkpoint = _train_supernet(space, run_dir, state, address, resume)
        signals.raise_if_received()
        selected = _search(space, run_dir, checkpoint, state, name, signals)
        signals.raise_if_received()
        trials = _retrain(space, run_dir, storage_path, name, state, selected, resume,
                          signals, scratch)
    summary = build_summary(space, trials, oneshot=oneshot_record(space, state, trials))
    write_summary(summary, run_dir)
    return summary


def _train_supernet(space: Any, run_dir: Path, state: PhaseState, address: str | None,
                    resume: bool) -> Path:
    """Phase (a); returns the supernet's final checkpoint folder."""
    if state.done("supernet"):
        return run_dir / state["supernet"]["checkpoint"]
    from bnas.search.supernet_training import seed_checkpoints, train_supernet_on_ray
    from bnas.train.checkpoint import read_checkpoint_state

    started = time.monotonic()
    checkpoint = train_supernet_on_ray(space, run_dir, address_given=address is not None,
                                       resume=resume)
    seeds = space.search.supernet.seeds
    history = read_checkpoint_state(seed_checkpoints(checkpoint, 1)[0],
                                    what="supernet")["history"]
    state.update("supernet", seconds=time.monotonic() - started, done=True,
                 checkpoint=os.path.relpath(checkpoint, run_dir),
                 candidate_epochs=float(history[-1]["candidate_epochs"]) * seeds)
    return Path(checkpoint)


def _search(space: Any, run_dir: Path, checkpoint: Path, state: PhaseState, name: str,
            signals: StopSignals) -> list[dict[str, Any]]:
    """Phase (b); returns the candidates to retrain as the state file keeps them."""
    if state.done("search"):
        return state["search"]["selected"]
    from bnas.search.candidates import EvaluationWorkers

    started = time.monotonic()
    from bnas.search.supernet_training import seed_checkpoints

    folders = seed_checkpoints(checkpoint, space.search.supernet.seeds)
    with EvaluationWorkers(space, folders) as workers:
        outcome = search_candidates(space, run_dir, workers, name=name, signals=signals)
        chosen = select_for_retraining(outcome, space)
        selected = [_selection(candidate) for candidate in chosen]
        if space.search.evaluate.warm_start:
            for entry, candidate in zip(selected, chosen):
                path = run_dir / WARM_START_DIR / f"candidate_{candidate.number}.safetensors"
                workers.extract(candidate.arch, path)
                entry[INIT_WEIGHTS_KEY] = os.path.relpath(path, run_dir)
    effects = site_effect_records(outcome.scored, space.search.supernet.seeds)
    state.update("search", seconds=time.monotonic() - started, done=True,
                 candidate_epochs=outcome.candidate_epochs, scored=len(outcome.scored),
                 over_budget=outcome.over_budget, selected=selected, **effects)
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
    from ray import tune

    points = [{**entry["params"], COST_KEY: entry[COST_KEY], FEASIBLE_KEY: True,
               "optuna_number": entry["number"],
               INIT_WEIGHTS_KEY: str(run_dir / entry[INIT_WEIGHTS_KEY])
               if entry[INIT_WEIGHTS_KEY] else None}
              for entry in selected]
    trainable = tune_trainable(space, scratch)
    started = time.monotonic()
    if resume and tune.Tuner.can_restore(str(run_dir)):
        print(f"retraining: resuming the Ray Tune experiment in {run_dir}", flush=True)
        tuner = restore_tuner(run_dir, trainable)
    else:
        print(f"retraining {len(points)} candidate(s) stand-alone on Ray Tune, "
              f"{space.search.max_concurrent} at a time", flush=True)
        tuner = tune.Tuner(
            trainable,
            tune_config=tune_config(space, CandidateList(points), len(points)),
            run_config=tune_run_config(space, name, storage_path, len(points)),
        )
    results = fit_tuner(tuner, signals)
    trials = trial_records(results, space, run_dir, trial_threads(space),
                           worker_failures(run_dir))
    by_number = {entry["number"]: entry for entry in selected}
    for trial in trials:
        trial["metrics"][SUPERNET_METRIC] = by_number[trial["number"]][SUPERNET_METRIC]
    state.update("retrain", seconds=time.monotonic() - started, done=True,
                 candidate_epochs=float(sum(trial["epochs_run"] for trial in trials)))
    return trials


def oneshot_record(space: Any, state: PhaseState,
                   trials: list[dict[str, Any]]) -> dict[str, Any]:
    """The run record's one-shot part (:class:`bnas.run_record.OneShotRecord`) as plain data."""
    trained = [t for t in trials
               if is_trained(t["status"]) and t["metrics"].get("val_top1") is not None]
    agreement = kendall_tau([t["metrics"][SUPERNET_METRIC] for t in trained],
                            [t["metrics"]["val_top1"] for t in trained])
    return {
        "supernet_checkpoint": state["supernet"]["checkpoint"],
        "candidates_file": CANDIDATES_FILE,
        "candidates_scored": state["search"]["scored"],
        "candidates_over_budget": state["search"]["over_budget"],
        "retrain": space.search.evaluate.retrain,
        "warm_start": space.search.evaluate.warm_start,
        "standalone_epochs": space.epochs,
        "phases": {phase: {"candidate_epochs": state[phase]["candidate_epochs"],
                           "seconds": state[phase]["seconds"]} for phase in ONESHOT_PHASES},
        "kendall_tau": json_value(agreement["tau"]),
        "kendall_p": json_value(agreement["p"]),
        "seeds": space.search.supernet.seeds,
        "site_effects": state["search"].get("site_effects", []),
        "seed_rank_agreement": state["search"].get("seed_rank_agreement", []),
    }
