"""Hyperparameter importance of a run's Optuna study with fANOVA (Hutter et al., ICML 2014).

fANOVA fits a random forest from the sampled parameters to the objective and splits the
variance of its prediction into parts due to each parameter; a parameter's importance is its
share. Read from ``sqlite:///RUN_DIR/study.db`` (the study the search's OptunaSearch wrote).

What enters: COMPLETE trials that met the budget constraints (Optuna constraints ≤ 0;
over-budget trials were told accuracy 0 without training; they would make "is it over
budget" look like the most important parameter). The value is what Optuna was told: the
trial's *last reported* val_top1, which for an ASHA-stopped trial is from its stopping epoch.
Parameters sampled only conditionally (a reduction ratio exists only where the threshold is
dynamic) are left out, since fANOVA needs each parameter in every trial (Optuna's
intersection search space).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bnas.report.study import load_run_study


@dataclass
class Importance:
    """fANOVA importances (``values``), or why there are none (``note``)."""

    values: dict[str, float] = field(default_factory=dict)
    note: str = ""
    trials: int = 0
    study_name: str | None = None
    objective: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.values)


def _feasible(trial: Any) -> bool:
    """Met every budget: Optuna constraints (``trial.set_constraint``) all ≤ 0."""
    return all(float(v) <= 0 for v in (getattr(trial, "constraints", None) or {}).values())


def param_importances(run_dir: str | Path, summary: dict[str, Any] | None = None,
                      *, seed: int = 0) -> Importance:
    """fANOVA importances of the run's study (see module docstring), or a note why not."""
    loaded = load_run_study(run_dir, summary)
    if loaded.study is None:
        return Importance(note=loaded.note)
    return fanova_importances(loaded.study, summary, seed=seed)


def fanova_importances(study: Any, summary: dict[str, Any] | None = None,
                       *, seed: int = 0) -> Importance:
    """fANOVA importances for the primary accuracy objective of ``study``."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    name = study.study_name
    objectives = list((summary or {}).get("objectives") or {"val_top1": "max"})
    index = objectives.index("val_top1") if "val_top1" in objectives else 0
    objective = objectives[index] if index < len(objectives) else "objective 0"
    multi = len(study.directions) > 1
    if index >= len(study.directions):
        index = 0
    done = [t for t in study.get_trials(deepcopy=False,
                                        states=(optuna.trial.TrialState.COMPLETE,))
            if t.values is not None]
    usable = [t for t in done if _feasible(t)]
    skipped = len(done) - len(usable)
    result = Importance(trials=len(usable), study_name=name, objective=objective)
    excluded = f" ({skipped} over-budget excluded)" if skipped else ""
    if len(usable) < 2:
        result.note = (f"skipped: {len(usable)} completed feasible trial(s){excluded}; "
                       "fANOVA needs at least 2")
        return result
    filtered = optuna.create_study(directions=study.directions)
    filtered.add_trials(usable)
    space = optuna.search_space.intersection_search_space(filtered.get_trials(deepcopy=False))
    varying = [p for p, d in space.items() if not d.single()]
    if len(varying) < 2:
        result.note = (f"skipped: {len(varying)} parameter(s) sampled in every trial "
                       f"({', '.join(varying) or 'none'}); importance needs at least 2")
        return result
    target = (lambda t: t.values[index]) if multi else None
    if len({t.values[index] for t in usable}) < 2:
        result.note = (f"skipped: the {len(usable)} completed feasible trials{excluded} all "
                       f"have {objective} {usable[0].values[index]:.4g}; fANOVA splits "
                       "variance, and there is none")
        return result
    try:
        result.values = get_param_importances(
            filtered, evaluator=FanovaImportanceEvaluator(seed=seed), params=varying,
            target=target)
    except RuntimeError as error:  # fANOVA's forest explains no variance at all
        result.note = f"skipped: fANOVA found nothing to split ({error})"
        return result
    told = ("with inherited supernet weights, the candidate search's score"
            if (summary or {}).get("oneshot") else "last reported value")
    result.note = (f"fANOVA over {len(usable)} completed feasible trials{excluded} of study "
                   f"{name!r}, target {objective} ({told})")
    return result
