"""The candidate search of a one-shot run: Optuna proposes, Ray actors score, Optuna learns.

Round after round, the driver asks Optuna's sampler (TPE, random, grid or NSGA-II: the one
:func:`bnas.search.sampler.make_sampler` builds for a multi-trial search) for
``max_concurrent × evaluate.batch`` candidates through its ask-and-tell interface, costs
each one and applies the budgets exactly as a multi-trial search does
(:func:`bnas.search.sampler.define_by_run`), sends the candidates within budget to the
``max_concurrent`` Ray actors (sorted block by block, one contiguous share per actor), and
tells the sampler every result in the order it asked. Over-budget candidates are never
scored: the sampler is told their constraint violation and the worst accuracy, as in a
multi-trial search. An architecture proposed again is told its earlier score without scoring
it twice (scoring is deterministic: every candidate is calibrated and scored on the same
batches). With ``supernet.seeds`` supernets, a candidate's score is their mean (what the
sampler is told, and what ranks and fronts are made of); each seed's is kept beside it.

Each actor (:class:`Evaluator`) loads the supernets and the scoring batches once
(:class:`bnas.supernet.scoring.CandidateScorer`), so a candidate costs only its forward
passes, fewer where it shares leading blocks with the others of its share: the start-up is
paid once per actor, not per candidate. Rounds are synchronous, so a search is a function of
its seed and the supernets, whatever the timing.

Persistence: after every round the told candidates are appended to the Optuna journal
``RUN_DIR/study.journal`` (an append-only file: one write per candidate; Optuna's SQLite
storage takes tens of milliseconds per write, longer than scoring a tiny candidate), which
is also what a resumed search rebuilds its sampler's history from. ``candidates.csv`` lists
every candidate when the search ends.

Resuming continues, never repeats: the sampler gets the history and a seed derived from the
search's seed and the number of candidates told (:func:`bnas.search.sampler.make_sampler`),
so it does not propose the interrupted search's first candidates again. The journal is read
line by line first (:mod:`bnas.study_journal`): damaged lines are dropped and said, and a
journal holding fewer candidates than the run recorded as told says how many were lost;
every candidate read back is checked (its status, costs and scores) before it counts.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from bnas.architecture import Architecture
from bnas.errors import BnasError
from bnas.files import CANDIDATES_FILE, STUDY_JOURNAL_FILE
from bnas.pareto import dominates
from bnas.run_paths import inside_run
from bnas.run_record import front_objectives, json_value, metric_problem, seed_metric
from bnas.search.sampler import define_by_run, make_sampler
from bnas.search.shutdown import StopSignals
from bnas.search.trainable import COST_KEY, FEASIBLE_KEY, never_trained
from bnas.search.tuner import trial_resources, trial_threads
from bnas.site_effects import seed_agreement, site_effects
from bnas.study_journal import check_journal
from bnas.writing import write_bytes_atomic, write_text_atomic

SCORED, REPEATED, OVER_BUDGET = "scored", "repeated", "over_budget"


class AskAndTellGrid(optuna.samplers.GridSampler):
    """Optuna's GridSampler, without stopping the study after its last point: that stop works
    only inside ``study.optimize`` and raises under ask-and-tell (optuna issue #5141). The
    search stops by itself after ``evaluate.candidates``, which is capped at the grid's size."""

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        """Nothing: see the class docstring."""


class Evaluator:
    """A Ray actor's state: every seed's supernet and the scoring batches, loaded once."""

    def __init__(self, space: Any, checkpoint_dirs: list[str], threads: int) -> None:
        import torch

        from bnas.supernet.scoring import CandidateScorer

        torch.set_num_threads(threads)
        self.space = space
        self.scorer = CandidateScorer.from_checkpoints(space, checkpoint_dirs)

    def scoring_images(self) -> tuple[int, int]:
        """(images one scoring runs forward, summed over the seeds' supernets; images of the
        training split)."""
        data = self.scorer.data
        return data.images_per_candidate * len(self.scorer.supernets), data.train_images

    def score(self, archs: Sequence[dict[str, Any]]) -> list[dict[str, float]]:
        """Scores of candidates (Architecture dicts), in order: scored together, so those
        sharing leading blocks share that computation."""
        return self.scorer.score_many([Architecture.from_dict(arch) for arch in archs])

    def work(self) -> tuple[int, float]:
        """(candidates this actor scored, CPU seconds it spent scoring them)."""
        return self.scorer.scored, self.scorer.cpu_seconds

    def extract(self, arch: dict[str, Any], path: str) -> dict[str, float]:
        """Save ``arch``'s inherited weights in the first seed's supernet (BatchNorm
        recalibrated) to ``path``."""
        return self.scorer.extract(Architecture.from_dict(arch), path)


@dataclass
class Candidate:
    """One candidate the search told Optuna about."""

    number: int  # the Optuna trial number: the order of proposal
    arch: Architecture
    params: dict[str, Any]  # as the sampler proposed them (space.architecture reads them)
    cost: dict[str, Any]
    status: str  # scored | repeated (told an earlier score) | over_budget (never scored)
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        return self.status != OVER_BUDGET

    @property
    def metrics(self) -> dict[str, Any]:
        """Costs and scores: what objectives and fronts are computed from."""
        params = self.cost["params_binary"] + self.cost["params_real"]
        return {**self.cost, "params": params, **self.scores}


def objective_values(metrics: dict[str, Any], objectives: dict[str, str]) -> list[float]:
    """What the sampler is told, in objective order; a metric an over-budget candidate lacks
    is the worst value, as a multi-trial search reports it (:func:`never_trained`)."""
    values = {**metrics, **never_trained(objectives, metrics)}
    return [float(values[name]) for name in objectives]


class FrontTracker:
    """The Pareto front of the scored candidates so far, kept incrementally (the whole
    history is not re-compared at every round)."""

    def __init__(self, objectives: dict[str, str]) -> None:
        self.objectives = dict(objectives)
        self.signs = [-1.0 if mode == "max" else 1.0 for mode in self.objectives.values()]
        self.front: list[tuple[tuple[float, ...], Candidate]] = []

    def add(self, candidate: Candidate) -> None:
        metrics = candidate.metrics
        vector = tuple(sign * float(metrics[key]) for sign, key in zip(self.signs,
                                                                       self.objectives))
        if any(dominates(other, vector) or other == vector for other, _ in self.front):
            return
        self.front = [(o, c) for o, c in self.front if not dominates(vector, o)]
        self.front.append((vector, candidate))

    def candidates(self) -> list[Candidate]:
        return sorted((c for _, c in self.front), key=lambda c: c.number)


class Standing:
    """The best scored candidate by the first objective, and the Pareto front, so far."""

    def __init__(self, objectives: dict[str, str]) -> None:
        self.metric, self.mode = next(iter(objectives.items()))
        self.front = FrontTracker(front_objectives(objectives))
        self.best: Candidate | None = None

    def add(self, candidate: Candidate) -> None:
        """Take ``candidate`` into account if it was scored (a repeat adds nothing)."""
        if candidate.status != SCORED:
            return
        self.front.add(candidate)
        value = candidate.metrics[self.metric]
        if self.best is None or (value > self.best.metrics[self.metric] if self.mode == "max"
                                 else value < self.best.metrics[self.metric]):
            self.best = candidate


@dataclass
class SearchOutcome:
    """What the candidate search found and what it cost."""

    candidates: list[Candidate]  # in proposal order
    front: list[Candidate]  # Pareto front of the distinct scored ones (pareto objectives)
    images_per_candidate: int  # forward images of one scoring
    train_images: int
    seconds: float  # wall time of this process's part of the search
    worker_scored: int = 0  # candidates the evaluation actors scored in this process's part
    worker_seconds: float = 0.0  # their CPU time spent scoring (summed over actors)

    @property
    def scored(self) -> list[Candidate]:
        return [c for c in self.candidates if c.status == SCORED]

    @property
    def over_budget(self) -> int:
        return sum(c.status == OVER_BUDGET for c in self.candidates)

    @property
    def candidate_epochs(self) -> float:
        """Scoring in candidate-epochs, forward images counted as forward-and-backward ones
        (an upper bound; see :class:`bnas.run_record.PhaseCost`)."""
        return len(self.scored) * self.images_per_candidate / max(self.train_images, 1)


class ProgressLine:
    """One line per round: candidates told, scored, best so far, front size, throughput."""

    def __init__(self, total: int, objectives: dict[str, str]) -> None:
        self.total = total
        self.metric, self.mode = next(iter(objectives.items()))
        self.started = time.monotonic()
        self.told_here = 0  # by this process (a resumed search counts anew)

    def round(self, candidates: list[Candidate], told: list[Candidate],
              best: Candidate | None, front_size: int) -> str:
        """The line after a round that told ``told``; ``candidates``: every one so far."""
        self.told_here += len(told)
        elapsed = time.monotonic() - self.started
        scored = sum(c.status == SCORED for c in candidates)
        over = sum(c.status == OVER_BUDGET for c in candidates)
        best_text = "none yet"
        if best is not None:
            best_text = f"{best.metrics[self.metric]:.4f} {best.arch.summary()}"
        return (f"[{elapsed:6.1f}s] candidates {len(candidates):>5}/{self.total}  scored "
                f"{scored}  over budget {over}  best {self.metric} {best_text}  front "
                f"{front_size}  {self.told_here / max(elapsed, 1e-9):.1f} candidates/s")


class _HeldByTheRunLock:
    """The journal's writer lock (what Optuna's ``JournalFileBackend`` calls ``acquire`` and
    ``release`` on): the run folder's lock (:mod:`bnas.run_lock`) already makes this process
    its only writer. (Optuna's default, a link beside the journal, would be left behind by a
    ``kill -9`` and make the resumed search wait 30 s for it to go stale.)"""

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        """Nothing to release."""


def _journal_study(path: Path, name: str, directions: list[str]) -> Any:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(path), lock_obj=_HeldByTheRunLock()))
    return optuna.create_study(storage=storage, study_name=name, directions=directions,
                               load_if_exists=True)


def _recover_journal(path: Path, told_before: int, log: Callable[[str], None]) -> None:
    """Drop a resumed journal's damaged lines (saying so) and say what the run recorded as
    told that it no longer holds (see the module docstring)."""
    if not path.is_file():
        if told_before:
            log(f"candidate search: {path.name} is missing: the {told_before} candidates told "
                "before are lost and proposed anew")
        return
    check = check_journal(path)
    if check.damaged:
        write_bytes_atomic(path, check.whole_text())
        log(f"candidate search: {path.name}: {check.describe_damage()} dropped, "
            f"{check.trials} candidates recovered")
    if check.trials < told_before:
        log(f"candidate search: {path.name} holds {check.trials} of the {told_before} "
            f"candidates told before: {told_before - check.trials} lost (the file was damaged "
            "or cut short) are proposed anew")


def _candidate(trial: Any, space: Any, source: str) -> Candidate:
    """A told trial from the journal as a Candidate, checked; a problem is one line naming
    the candidate and the field."""
    attrs = trial.user_attrs
    where = f"{source} candidate {trial.number}"
    status, cost, scores = attrs.get("status"), attrs.get(COST_KEY), attrs.get("scores") or {}
    if status not in (SCORED, REPEATED, OVER_BUDGET):
        raise BnasError(f"{where}: status {status!r}; valid: {SCORED}, {REPEATED}, "
                        f"{OVER_BUDGET}")
    for field_name, values in ((COST_KEY, cost), ("scores", scores)):
        if not isinstance(values, dict):
            raise BnasError(f"{where}: {field_name} is {values!r}, not a mapping")
        for key, value in values.items():
            problem = metric_problem(key, value)
            if problem is not None:
                raise BnasError(f"{where}: {field_name}.{problem}")
    if status != OVER_BUDGET and not scores:
        raise BnasError(f"{where}: status {status} but no scores")
    try:
        arch = space.architecture(trial.params)
    except BnasError as error:
        raise BnasError(f"{where}: {error}") from None
    return Candidate(number=trial.number, arch=arch, params=dict(trial.params), cost=cost,
                     status=status, scores=scores)


def prefix_order(arch: Architecture) -> tuple[str, ...]:
    """A sort key under which candidates with the same network-wide choices and the same
    first blocks are neighbours."""
    data = arch.to_dict()
    return (data.get("binarizer", ""), data.get("rprelu", ""),
            *(json.dumps(block, sort_keys=True) for block in data["blocks"]))


class EvaluationWorkers:
    """``max_concurrent`` Ray actors (:class:`Evaluator`), each with the resources of a trial
    and every supernet seed's checkpoint (``checkpoint_dirs``); fewer when the cluster holds
    fewer (:func:`bnas.space.preflight.workers_that_fit`; more would wait for resources
    forever). Started on first use (a resumed search that has nothing left to score starts
    none) and ended on leaving the ``with`` block."""

    def __init__(self, space: Any, checkpoint_dirs: list[Path]) -> None:
        self.space, self.checkpoint_dirs = space, checkpoint_dirs
        self._actors: list[Any] = []
        self._sizes = (0, 0)

    def __enter__(self) -> EvaluationWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        import ray

        for actor in self._actors:
            ray.kill(actor)
        self._actors = []

    def start(self) -> None:
        """Start the actors now (each loads the supernet and the data) and wait for them."""
        _ = self.actors

    @property
    def actors(self) -> list[Any]:
        if not self._actors:
            import ray

            from bnas.space.preflight import workers_that_fit

            started = time.monotonic()
            space = self.space
            resources = trial_resources(space)
            cluster = ray.cluster_resources()
            count = workers_that_fit(space, cluster.get("CPU", 0.0), cluster.get("GPU", 0.0))
            if count < space.search.max_concurrent:
                print(f"candidate search: {count} evaluation worker(s), not "
                      f"search.max_concurrent {space.search.max_concurrent}: the cluster has "
                      f"{cluster.get('CPU', 0.0):g} CPUs, {resources['cpu']:g} per worker",
                      flush=True)
            remote = ray.remote(Evaluator).options(num_cpus=resources["cpu"],
                                                   num_gpus=resources["gpu"])
            folders = [str(folder) for folder in self.checkpoint_dirs]
            self._actors = [remote.remote(space, folders, trial_threads(space))
                            for _ in range(count)]
            self._sizes = ray.get([actor.scoring_images.remote() for actor in self._actors])[0]
            print(f"candidate search: {len(self._actors)} evaluation worker(s) ready in "
                  f"{time.monotonic() - started:.1f} s", flush=True)
        return self._actors

    def scoring_images(self) -> tuple[int, int]:
        """(images one scoring runs forward, images of the training split)."""
        self.start()
        return self._sizes

    def score(self, archs: list[Architecture]) -> list[dict[str, float]]:
        """Scores of ``archs`` in order: sorted block by block and cut into one contiguous
        share per actor, one call each, so that the candidates an actor scores together
        share as many leading blocks as the round allows."""
        import ray

        if not archs:
            return []
        actors = self.actors
        order = sorted(range(len(archs)), key=lambda i: prefix_order(archs[i]))
        share = -(-len(archs) // len(actors))
        chunks = [order[i:i + share] for i in range(0, len(order), share)]
        futures = [actor.score.remote([archs[i].to_dict() for i in chunk])
                   for actor, chunk in zip(actors, chunks)]
        scores: list[dict[str, float]] = [{} for _ in archs]
        for chunk, chunk_scores in zip(chunks, ray.get(futures)):
            for index, score in zip(chunk, chunk_scores):
                scores[index] = score
        return scores

    def work(self) -> tuple[int, float]:
        """(candidates the actors scored, CPU seconds they spent scoring), summed over
        actors; (0, 0.0) when none was started."""
        import ray

        done = ray.get([actor.work.remote() for actor in self._actors])
        return sum(n for n, _ in done), sum(seconds for _, seconds in done)

    def extract(self, arch: Architecture, path: Path) -> dict[str, float]:
        """Save ``arch``'s weights from the supernet (see :meth:`Evaluator.extract`)."""
        import ray

        return ray.get(self.actors[0].extract.remote(arch.to_dict(), str(path)))


def search_candidates(space: Any, run_dir: Path, workers: EvaluationWorkers, *, name: str,
                      log: Callable[[str], None] = print,
                      signals: StopSignals | None = None, told_before: int = 0,
                      on_round: Callable[[int], None] | None = None) -> SearchOutcome:
    """Search the trained supernet that ``workers`` score on (see the module docstring);
    resumes from ``RUN_DIR/study.journal`` when it holds candidates (``told_before``: how many
    the run recorded as told, to tell a journal cut short). ``workers``: the
    :class:`EvaluationWorkers` (Ray actors), or anything with their methods. ``signals``: a
    SIGINT / SIGTERM waits until the round's candidates are in the journal, then stops the
    search (:class:`~bnas.search.shutdown.SearchInterrupted`). ``on_round(told)`` runs after
    each round is in the journal."""
    signals = signals or StopSignals()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    settings = space.search.evaluate
    objectives = dict(space.search.objectives)
    directions = ["maximize" if mode == "max" else "minimize" for mode in objectives.values()]
    path = inside_run(run_dir, STUDY_JOURNAL_FILE, "study journal")
    _recover_journal(path, told_before, log)
    journal = _journal_study(path, name, directions)
    done = journal.get_trials(deepcopy=False)
    candidates = [_candidate(trial, space, path.name) for trial in done]
    study = optuna.create_study(
        sampler=make_sampler(space, grid_class=AskAndTellGrid, resumed_after=len(done)),
        directions=directions)
    study.add_trials(done)  # the sampler's history: a resumed search goes on from it
    if candidates:
        log(f"candidate search: resuming after {len(candidates)} candidates")
    log(f"candidate search: {settings.candidates} candidates, {settings.batch} per batch and "
        f"worker, BatchNorm recalibrated on {settings.bn_batches} training batches")

    started = time.monotonic()
    known = {c.arch.arch_id: c.scores for c in candidates if c.status == SCORED}
    standing = Standing(objectives)
    for candidate in candidates:
        standing.add(candidate)
    if len(candidates) < settings.candidates:
        workers.start()  # before the clock: throughput is candidates per second of searching
    progress = ProgressLine(settings.candidates, objectives)
    per_round = space.search.max_concurrent * settings.batch
    while len(candidates) < settings.candidates:
        asked = [study.ask() for _ in range(min(per_round, settings.candidates - len(candidates)))]
        configs = [define_by_run(trial, space=space) for trial in asked]
        archs = [space.architecture(trial.params) for trial in asked]
        new: dict[str, Architecture] = {}  # distinct, within budget, never scored
        for arch, config in zip(archs, configs):
            if config[FEASIBLE_KEY] and arch.arch_id not in known:
                new.setdefault(arch.arch_id, arch)
        known.update(zip(new, workers.score(list(new.values()))))
        told, fresh = [], set(new)  # the first of each architecture scored in this round
        for trial, arch, config in zip(asked, archs, configs):
            if not config[FEASIBLE_KEY]:
                status = OVER_BUDGET
            elif arch.arch_id in fresh:
                status = SCORED
                fresh.discard(arch.arch_id)
            else:
                status = REPEATED
            candidate = Candidate(trial.number, arch, dict(trial.params), config[COST_KEY],
                                  status, dict(known[arch.arch_id]) if status != OVER_BUDGET
                                  else {})
            for key, value in (("arch_id", arch.arch_id), ("status", status),
                               ("scores", candidate.scores), (COST_KEY, candidate.cost)):
                trial.set_user_attr(key, value)
            study.tell(trial, objective_values(candidate.metrics, objectives))
            told.append(candidate)
            standing.add(candidate)
        with signals.held():  # a round is in the journal whole, or not at all
            journal.add_trials(study.get_trials(deepcopy=False)[len(candidates):])
        candidates += told
        if on_round is not None:
            on_round(len(candidates))
        log(progress.round(candidates, told, standing.best, len(standing.front.front)))
        signals.raise_if_received()
    write_candidates(candidates, inside_run(run_dir, CANDIDATES_FILE, "candidates file"))
    scored, seconds = workers.work()
    if scored:
        log(f"candidate search: the workers scored {scored} candidates in {seconds:.1f} CPU s: "
            f"{scored / max(seconds, 1e-9):.1f} candidates per CPU second")
    images, train_images = workers.scoring_images()
    return SearchOutcome(candidates, standing.front.candidates(), images, train_images,
                         time.monotonic() - started, scored, seconds)


def site_effect_records(scored: list[Candidate], seeds: int) -> dict[str, list[dict[str, Any]]]:
    """Per-site effects of the distinct scored candidates' val top-1 (the mean over the
    supernet seeds; :func:`bnas.site_effects.site_effects`), each seed's effect beside it,
    and the seeds' rank agreement: plain data for :class:`bnas.run_record.OneShotRecord`."""
    archs = [candidate.arch for candidate in scored]
    effects = site_effects(archs, [candidate.scores["val_top1"] for candidate in scored])
    per_seed = [[candidate.scores[seed_metric("val_top1", i)] for candidate in scored]
                for i in range(seeds)] if seeds > 1 else []
    agreement = seed_agreement(archs, per_seed) if per_seed else None
    records = []
    for effect in effects:
        record = {"block": effect.block, "site": effect.site, "effect": effect.effect,
                  "low": effect.low, "high": effect.high, "n_dynamic": effect.n_dynamic,
                  "n_static": effect.n_static}
        if agreement is not None and effect.key in agreement.sites:
            record["per_seed"] = agreement.sites[effect.key]["effects"]
            record["seeds_agree"] = agreement.sites[effect.key]["agree"]
        records.append(record)
    rank = [] if agreement is None else [
        {key: json_value(value) for key, value in pair.items()} for pair in agreement.rank]
    return {"site_effects": records, "seed_rank_agreement": rank}


def describe_effects(effects: dict[str, list[dict[str, Any]]]) -> str:
    """Lines for the console: every site's effect and interval, and a warning naming the
    sites where the supernet seeds disagree in sign."""
    if not effects["site_effects"]:
        return "site effects: no site varies among the scored candidates"
    lines = ["site effects (dynamic − static, val top-1 pt, 95 % interval over candidates):"]
    for e in effects["site_effects"]:
        interval = (f" [{100 * e['low']:+.2f}, {100 * e['high']:+.2f}]"
                    if e["low"] is not None else "")
        seeds = ("  seeds " + " ".join(f"{100 * v:+.2f}" for v in e["per_seed"])
                 if e.get("per_seed") else "")
        lines.append(f"  b{e['block']}.{e['site']:<16} {100 * e['effect']:+.2f}{interval}{seeds}")
    disagree = [f"b{e['block']}.{e['site']}" for e in effects["site_effects"]
                if e.get("seeds_agree") is False]
    for pair in effects["seed_rank_agreement"]:
        lines.append(f"  supernet seeds {pair['seeds'][0]} and {pair['seeds'][1]} rank the "
                     f"candidates with Kendall τ {pair['tau']:+.2f}" if pair["tau"] is not None
                     else "  supernet seeds: τ undefined (constant scores)")
    if disagree:
        lines.append(f"warning: the supernet seeds disagree in sign at {len(disagree)} of "
                     f"{len(effects['site_effects'])} sites ({', '.join(disagree)}): "
                     "their effects there are not established")
    return "\n".join(lines)


def write_candidates(candidates: list[Candidate], path: Path) -> Path:
    """Every candidate as one CSV row: number, one-line architecture, status, scores, costs,
    the sampled parameters and the Architecture (both as JSON)."""
    score_keys = sorted({key for c in candidates for key in c.scores})
    cost_keys = list(candidates[0].cost) if candidates else []
    columns = ["number", "arch", "arch_id", "status", *score_keys, *cost_keys, "params",
               "architecture"]
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    for c in candidates:
        writer.writerow({"number": c.number, "arch": c.arch.summary(), "arch_id": c.arch.arch_id,
                         "status": c.status,
                         **{k: json_value(v) for k, v in c.scores.items()},
                         **{k: json_value(v) for k, v in c.cost.items()},
                         "params": json.dumps(c.params, sort_keys=True),
                         "architecture": json.dumps(c.arch.to_dict())})
    return write_text_atomic(path, text.getvalue())


def select_for_retraining(outcome: SearchOutcome, space: Any) -> list[Candidate]:
    """The candidates to retrain stand-alone: the ``top_k`` distinct scored ones by the first
    objective (ties: fewer OPs, then proposal order), or the Pareto front."""
    settings = space.search.evaluate
    if settings.retrain == "pareto":
        return outcome.front
    metric, mode = next(iter(space.search.objectives.items()))
    sign = -1.0 if mode == "max" else 1.0
    ranked = sorted(outcome.scored, key=lambda c: (sign * c.metrics[metric], c.cost["ops"],
                                                   c.number))
    return ranked[:settings.top_k]
