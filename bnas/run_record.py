"""The run record: ``summary.json``, the one file every room reads after a search.

A search (multi-trial or one-shot) ends by writing a :class:`RunRecord`; export, report,
retraining and the experiments read it back through :meth:`RunRecord.load`, which validates
it, so a damaged or foreign file is one located line, never a traceback deep inside a room.
Its trials are :class:`TrialRecord` s (optuna's ``FrozenTrial`` plays this part for a
study): plain data with the status vocabulary declared once here. A one-shot search adds
:class:`OneShotRecord`: its trials are the candidates it retrained stand-alone (each with
``metrics["supernet_val_top1"]``, its accuracy with inherited weights), and the record says
what each phase cost.

=============  ===========================================================================
status         meaning
=============  ===========================================================================
completed      trained for every epoch of the space
stopped        trained, then stopped early by ASHA (its weights are real: it counts as trained)
failed         raised, or lost its worker more often than ``search.max_failures`` allows
               (``error`` holds the reason)
infeasible     over a budget of ``search.constraints``: profiled, never trained
=============  ===========================================================================
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from bnas.costs import COST_KEYS
from bnas.errors import BnasError, describe_location, explain, validate_as
from bnas.files import SUMMARY_FILE
from bnas.pareto import pareto_front
from bnas.reading import read_json
from bnas.train_config import MAX_EPOCHS
from bnas.writing import write_text_atomic

TrialStatus = Literal["completed", "stopped", "failed", "infeasible"]
TRAINED_STATUSES: tuple[str, ...] = ("completed", "stopped")
Mode = Literal["max", "min"]
# The front a single-objective run reports: what a user trades accuracy against.
DEFAULT_PARETO_OBJECTIVES: dict[str, str] = {"val_top1": "max", "ops": "min"}


def front_objectives(objectives: dict[str, str]) -> dict[str, str]:
    """The objectives a run's Pareto front is over: its own when there are several, else
    accuracy vs OPs (what a user trades accuracy against)."""
    return dict(objectives) if len(objectives) > 1 else dict(DEFAULT_PARETO_OBJECTIVES)


def is_trained(status: str | None) -> bool:
    """Whether a trial with this status has weights (completed, or stopped early by ASHA)."""
    return status in TRAINED_STATUSES


def status_counts(statuses: Iterable[str | None]) -> dict[str, int]:
    """``{status: count}``, statuses in alphabetical order."""
    return dict(sorted(Counter(str(status) for status in statuses).items()))


def json_value(value: Any) -> Any:
    """JSON-safe plain values: numpy scalars become Python numbers, NaN/inf become None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# -- values a record may hold: finite and in range, so a damaged file is one line naming the
# field instead of a plot that silently drops a point or a total of -5 OPs

def _metric_kind(key: str) -> str | None:
    """What a metric named ``key`` measures: ``accuracy`` (0..1), ``epoch`` (1..MAX_EPOCHS),
    ``amount`` (>= 0: costs, losses, times, rates), or None (any finite number)."""
    if key.endswith(("top1", "top5")):
        return "accuracy"
    if key == "epoch":
        return "epoch"
    if key in COST_KEYS or key in ("params", "lr", "images_per_second", "candidate_epochs") or (
            key.endswith(("loss", "seconds"))):
        return "amount"
    return None


def metric_problem(key: str, value: Any) -> str | None:
    """Why ``value`` cannot be the metric ``key``, or None. None (not measured) and text are
    fine; a number must be finite and in the range of its kind (:func:`_metric_kind`), and so
    must every number of a list or a mapping."""
    kind = _metric_kind(key)
    if value is None or (kind is None and isinstance(value, (str, bool))):
        return None
    if kind is None and isinstance(value, list):  # per block, e.g. a supernet's dynamic_share
        return next((f"{key}[{index}] {problem.split(' ', 1)[1]}"
                     for index, item in enumerate(value)
                     if (problem := metric_problem(key, item)) is not None), None)
    if kind is None and isinstance(value, dict):
        return next((f"{key}.{problem}" for name, item in value.items()
                     if (problem := metric_problem(str(name), item)) is not None), None)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{key} is {value!r}, not a number"
    if not math.isfinite(value):
        return f"{key} is {value!r}, not a finite number"
    if kind == "accuracy" and not 0.0 <= value <= 1.0:
        return f"{key} is {value!r}, not an accuracy (0 to 1)"
    if kind == "epoch" and not (value == int(value) and 1 <= value <= MAX_EPOCHS):
        return f"{key} is {value!r}, not an epoch number (1 to {MAX_EPOCHS:,})"
    if kind == "amount" and value < 0:
        return f"{key} is {value!r}; it cannot be negative"
    return None


def _checked_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    for key, value in metrics.items():
        problem = metric_problem(key, value)
        if problem is not None:
            raise ValueError(problem)
    return metrics


def _checked_run_path(path: str) -> str:
    """A path a run's file names: relative to the run folder and inside it, as written (links
    are resolved where it is used: :func:`bnas.run_paths.inside_run`)."""
    normal = os.path.normpath(path)
    if os.path.isabs(normal) or normal == ".." or normal.startswith(".." + os.sep):
        raise ValueError(f"{path!r} lies outside the run folder (paths in a run's files are "
                         "relative to it, and stay inside it)")
    return path


Metrics = Annotated[dict[str, Any], AfterValidator(_checked_metrics)]
Accuracy = Annotated[float, Field(ge=0.0, le=1.0)]
Amount = Annotated[float, Field(ge=0.0)]
Count = Annotated[int, Field(ge=0)]
EpochCount = Annotated[int, Field(ge=0, le=MAX_EPOCHS)]
RunPath = Annotated[str, AfterValidator(_checked_run_path)]
AccuracyChange = Annotated[float, Field(ge=-1.0, le=1.0)]  # a difference of two accuracies
Tau = Annotated[float, Field(ge=-1.0, le=1.0)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class TrialConfig(_Record):
    """What a trial was given: the sampled parameters and its full training settings."""

    params: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, Any] = Field(default_factory=dict)


class TrialRecord(_Record):
    """One candidate of a run: its Architecture, settings, metrics, history and status.

    ``metrics`` holds the epoch with the best ``val_top1`` (the weights export ships),
    ``final_val_top1`` and the cost keys (:mod:`bnas.costs`). ``checkpoint`` and ``path`` are
    relative to the run directory.
    """

    trial_id: str
    number: Count | None = None
    arch: dict[str, Any]  # Architecture.to_dict(); validated where it is built (architecture())
    arch_summary: str
    arch_id: str | None = None
    config: TrialConfig = Field(default_factory=TrialConfig)
    metrics: Metrics = Field(default_factory=dict)
    history: list[Metrics] = Field(default_factory=list)
    epochs_run: EpochCount = 0
    status: TrialStatus
    error: str | None = None
    node_ip: str | None = None
    checkpoint: RunPath | None = None
    path: RunPath | None = None
    retries: Count = 0  # restarts after a lost worker or node (search.max_failures)

    @property
    def trained(self) -> bool:
        return is_trained(self.status)

    def architecture(self) -> Any:
        """The trial's :class:`~bnas.architecture.Architecture`."""
        from bnas.architecture import Architecture

        return Architecture.from_dict(self.arch, source=f"trial {self.trial_id} arch")


ONESHOT_PHASES: tuple[str, ...] = ("supernet", "search", "retrain")
# The metric a one-shot trial carries beside its stand-alone ones: the candidate's val_top1
# with inherited supernet weights (after BatchNorm recalibration; the mean over the supernet
# seeds).
SUPERNET_METRIC = "supernet_val_top1"


def seed_metric(metric: str, seed: int) -> str:
    """The name of supernet seed ``seed``'s score ``metric`` (``val_top1_seed1``) beside the
    mean over seeds (``val_top1``), in a candidate's scores and ``candidates.csv``."""
    return f"{metric}_seed{seed}"


class PhaseCost(_Record):
    """What one phase of a one-shot search cost.

    ``candidate_epochs``: one candidate-epoch is one candidate's forward and backward pass
    over the training data (a supernet step that trains 4 candidates costs 4). Scoring
    candidates only runs forward passes; it is counted as if each were a forward and
    backward pass over as many images (an upper bound). ``seconds``: wall time, summed over
    every process that ran the phase (a resumed run adds up).
    """

    candidate_epochs: Amount = 0.0
    seconds: Amount = 0.0
    processes: Count = 0  # how many processes (the first run and each --resume) worked on it


class SiteEffectRecord(_Record):
    """Where DySign pays by the supernets: dynamic − static val top-1 at one site (or at sites
    that only ever change together, ``site`` "conv3x3+conv1x1"), fitted over the distinct
    scored candidates (:func:`bnas.site_effects.site_effects`) on the mean score over seeds,
    with its 95 % interval over the candidates (None without degrees of freedom).
    ``per_seed``: the effect on each supernet seed's scores; ``seeds_agree``: they share a
    sign (None with one seed)."""

    block: Count
    site: str
    effect: AccuracyChange
    low: float | None = None
    high: float | None = None
    n_dynamic: Count
    n_static: Count
    per_seed: list[AccuracyChange] = Field(default_factory=list)
    seeds_agree: bool | None = None


class SeedRankRecord(_Record):
    """Kendall's τ between two supernet seeds' scores of the same candidates."""

    seeds: list[Count]
    n: Count
    tau: Tau | None = None
    p: Probability | None = None


class OneShotRecord(_Record):
    """The one-shot part of a run: supernet, candidate search and retraining.

    Paths are relative to the run directory (``supernet_checkpoint``: the folder holding
    ``seed_I/`` per supernet seed). ``kendall_tau`` / ``kendall_p``: rank agreement between
    the retrained candidates' supernet and stand-alone val top-1
    (:func:`bnas.rank_agreement.kendall_tau`; None with fewer than two). ``seeds``: supernets
    trained; ``site_effects``: per-site effects (:class:`SiteEffectRecord`);
    ``seed_rank_agreement``: per pair of seeds, how alike they rank the candidates.
    """

    supernet_checkpoint: RunPath
    candidates_file: RunPath
    candidates_scored: Count
    candidates_over_budget: Count
    retrain: Literal["top_k", "pareto"]
    warm_start: bool
    # one stand-alone training (train.epochs): what the total compares to
    standalone_epochs: Annotated[int, Field(ge=1, le=MAX_EPOCHS)]
    phases: dict[Literal[ONESHOT_PHASES], PhaseCost]  # type: ignore[valid-type]
    kendall_tau: Tau | None = None
    kendall_p: Probability | None = None
    seeds: Annotated[int, Field(ge=1)] = 1
    site_effects: list[SiteEffectRecord] = Field(default_factory=list)
    seed_rank_agreement: list[SeedRankRecord] = Field(default_factory=list)

    @property
    def disagreeing_sites(self) -> list[SiteEffectRecord]:
        """The sites whose effect changes sign from one supernet seed to another."""
        return [effect for effect in self.site_effects if effect.seeds_agree is False]

    @property
    def total(self) -> PhaseCost:
        """Every phase together."""
        return PhaseCost(
            candidate_epochs=sum(cost.candidate_epochs for cost in self.phases.values()),
            seconds=sum(cost.seconds for cost in self.phases.values()),
        )


# -- oneshot.json: a one-shot run's phases as they go ----------------------------------------


class PhaseProgress(_Record):
    """One phase of a one-shot run in ``oneshot.json``: whether it is done, and its cost so far,
    summed over every process that worked on it (the first run and each ``--resume``; the
    seconds are added as they pass, so a killed process's time counts too)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_assignment=True)

    done: bool = False
    seconds: Amount = 0.0
    candidate_epochs: Amount = 0.0
    processes: Count = 0


class SupernetProgress(PhaseProgress):
    checkpoint: RunPath | None = None  # the final checkpoint folder, once done


class RetrainCandidate(_Record):
    """A candidate the candidate search chose for retraining, as the retraining needs it."""

    number: Count  # its Optuna trial number
    params: dict[str, Any]
    cost: Metrics
    arch_summary: str
    supernet_val_top1: Accuracy
    init_weights: RunPath | None = None  # its weights extracted from the supernet (warm start)


class SearchProgress(PhaseProgress):
    told: Count = 0  # candidates in the journal after the last round (fewer there: damaged)
    scored: Count = 0
    over_budget: Count = 0
    selected: list[RetrainCandidate] = Field(default_factory=list)
    site_effects: list[SiteEffectRecord] = Field(default_factory=list)
    seed_rank_agreement: list[SeedRankRecord] = Field(default_factory=list)


class OneShotPhases(_Record):
    supernet: SupernetProgress = Field(default_factory=SupernetProgress)
    search: SearchProgress = Field(default_factory=SearchProgress)
    retrain: PhaseProgress = Field(default_factory=PhaseProgress)

    @model_validator(mode="after")
    def _done_means_recorded(self) -> OneShotPhases:
        if self.supernet.done and self.supernet.checkpoint is None:
            raise ValueError("supernet: done, but no checkpoint recorded")
        if self.search.done and not self.search.selected:
            raise ValueError("search: done, but no candidate selected for retraining")
        return self


class OneShotState(_Record):
    """``RUN_DIR/oneshot.json``: which phases of a one-shot run are done, what each cost so
    far, and what the next phases need of them (the supernet's checkpoint, the candidates to
    retrain). Paths are relative to the run folder."""

    phases: OneShotPhases = Field(default_factory=OneShotPhases)

    @classmethod
    def load(cls, path: str | Path) -> OneShotState:
        """Read and validate ``path``; any problem is one ``BnasError`` line naming the field."""
        return validate_as(cls, read_json(path, "one-shot phase record"), str(path),
                           "a mapping with 'phases'")

    def save(self, path: str | Path) -> Path:
        return write_text_atomic(path, json.dumps(self.model_dump(mode="json"), indent=1) + "\n")


# -- trainer_state.json: the JSON half of every checkpoint (a trial's, a supernet's) ----------


class TrainerState(BaseModel):
    """What readers of a checkpoint rely on (:func:`bnas.train.checkpoint.write_checkpoint`
    writes it; the optimizer's scalars, the RNG scheme and a supernet's identity ride along)."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    format: int
    epoch: Annotated[int, Field(ge=1, le=MAX_EPOCHS)]
    phase: str | None = None
    global_step: Count = 0
    best_val_top1: Accuracy | None = None
    best_epoch: Annotated[int, Field(ge=1, le=MAX_EPOCHS)] | None = None
    seconds: Amount = 0.0
    history: list[Metrics] = Field(default_factory=list)
    arch: dict[str, Any] | None = None
    config: dict[str, Any] | None = None


def read_trainer_state(path: str | Path) -> dict[str, Any]:
    """``trainer_state.json`` as written, validated (:class:`TrainerState`); any problem is one
    ``BnasError`` line naming the file and the field."""
    data = read_json(path, "trainer state")
    validate_as(TrainerState, data, str(path), "a trainer state (a mapping)")
    return data


class RunRecord(_Record):
    """A finished run: every trial, the best one per objective and overall, the Pareto set;
    for a one-shot search also its :class:`OneShotRecord`."""

    name: str
    objectives: dict[str, Mode]
    pareto_objectives: dict[str, Mode] = Field(
        default_factory=lambda: dict(DEFAULT_PARETO_OBJECTIVES)
    )
    trials: list[TrialRecord]
    best: TrialRecord | None = None
    best_per_objective: dict[str, str] = Field(default_factory=dict)
    pareto: list[str] = Field(default_factory=list)
    oneshot: OneShotRecord | None = None

    @classmethod
    def from_trials(
        cls, name: str, objectives: dict[str, str], trials: Iterable[TrialRecord | dict[str, Any]],
        oneshot: OneShotRecord | dict[str, Any] | None = None,
    ) -> RunRecord:
        """The record of ``trials``: best trial per objective, overall best (the first
        objective's) and the Pareto set of trained trials (over the objectives, or accuracy vs
        OPs when there is one objective); ``oneshot`` for a one-shot search."""
        records = [t if isinstance(t, TrialRecord) else TrialRecord.model_validate(t)
                   for t in trials]
        trained = [t for t in records if t.trained]
        best_per_objective = {}
        for metric, mode in objectives.items():
            candidates = [t for t in trained if t.metrics.get(metric) is not None]
            if candidates:
                pick = max if mode == "max" else min
                best_per_objective[metric] = pick(
                    candidates, key=lambda t: t.metrics[metric]
                ).trial_id
        best_id = best_per_objective.get(next(iter(objectives)))
        pareto_objectives = front_objectives(objectives)
        front = pareto_front([t.metrics for t in trained], pareto_objectives)
        return cls(
            name=name,
            objectives=dict(objectives),
            pareto_objectives=pareto_objectives,
            trials=records,
            best=next((t for t in records if t.trial_id == best_id), None),
            best_per_objective=best_per_objective,
            pareto=[trained[i].trial_id for i in front],
            oneshot=oneshot,
        )

    # -- views --------------------------------------------------------------------------------

    def trained(self) -> list[TrialRecord]:
        """Trials with weights: completed, or stopped early by ASHA."""
        return [trial for trial in self.trials if trial.trained]

    def status_counts(self) -> dict[str, int]:
        return status_counts(trial.status for trial in self.trials)

    def describe_counts(self) -> str:
        """``"3 completed, 1 failed"`` (``"no trials"`` when empty)."""
        counts = self.status_counts()
        return ", ".join(f"{n} {status}" for status, n in counts.items()) or "no trials"

    def trial(self, trial_id: str) -> TrialRecord:
        for trial in self.trials:
            if trial.trial_id == trial_id:
                return trial
        raise BnasError(f"run {self.name}: no trial {trial_id!r}")

    # -- files --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def save(self, run_dir: str | Path) -> Path:
        """Write ``run_dir/summary.json`` atomically: a reader never sees half a record."""
        path = Path(run_dir) / SUMMARY_FILE
        return write_text_atomic(
            path, json.dumps(self.to_dict(), indent=2, default=json_value) + "\n")

    @classmethod
    def from_dict(cls, data: Any, source: str) -> RunRecord:
        """Validate plain data; a problem is one ``BnasError`` line naming its path."""
        if not isinstance(data, dict) or not isinstance(data.get("trials"), list):
            raise BnasError(f"{source}: expected a mapping with a 'trials' list")
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            loc, message = explain(error, cls)
            raise BnasError(f"{source}: {describe_location(loc)}: {message}") from None

    @classmethod
    def load(cls, run_dir: str | Path) -> RunRecord:
        """Read and validate ``run_dir/summary.json``; any problem is one ``BnasError`` line."""
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise BnasError(f"{run_dir}: no such run directory")
        path = run_dir / SUMMARY_FILE
        if not path.is_file():
            raise BnasError(f"{run_dir}: no {SUMMARY_FILE} (is it a finished bnas search run?)")
        return cls.from_dict(read_json(path, "run record"), source=str(path))
