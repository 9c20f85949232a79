"""Training a supernet with bnas.train's recipe: :func:`train_supernet`; :func:`load_supernet`.

One optimizer step trains the candidates :class:`~bnas.supernet.CandidateSampler` draws for
it, on one batch, with the summed loss of those K candidates (``candidates_per_step``)

.. math::
    L_{step} = \\sum_{k=1}^{K} \\Big[ \\mathrm{CE}_{\\varepsilon}(z_k, y)
        + w_{kd}\\, T^2\\, \\mathrm{KL}\\big(\\mathrm{softmax}(t_k / T) \\,\\|\\,
          \\mathrm{softmax}(z_k / T)\\big) \\Big],

z_k the logits of candidate k. The teacher logits t_k:

- ``sandwich`` with ``inplace_distillation`` (BigNAS, Yu et al., ECCV 2020; NAS-BNN, Lin et
  al., 2024): the step's first candidate is the largest, and every other candidate distils
  from its logits of the same batch, detached (t_k = sg(z_1)), so the small candidates learn
  the largest's soft labels at no extra forward pass;
- otherwise (``uniform``, the largest itself, or no in-place distillation): ``train.teacher``
  when one is set (:mod:`bnas.train.distillation`), else no KD term.

**Uniform is the default** (:data:`bnas.space.sections.DEFAULT_SAMPLING`). Its cost is
``candidates_per_step`` candidate-epochs per epoch (one candidate-epoch = one candidate's
forward and backward pass over the training data), so at the default of one candidate per
step the supernet costs what one stand-alone training of a candidate costs, which is what
makes a one-shot search cheap. ``experiments.supernet_fidelity`` measured the fair and the
sandwich rules, twice as long too, against it on two datasets: none said where DySign pays
more reliably (README "The supernet recipe"), so the cheapest stays the default. The sandwich
rule needs at least 2 candidates per step (largest and smallest); it pays when the extremes of
the space must be trained well (BigNAS).

Everything else is :func:`bnas.train.train`'s, by the same pieces (:mod:`bnas.train.loop`):
AdamW over the same parameter groups, the learning rate per step, the two-step recipe (real
weights first, optimizer reset at the switch), label smoothing, clipping, a checkpoint after
every epoch, and every epoch reseeded from (seed, epoch). Candidates are a function of
(seed, global step) alone, so a resumed run repeats the uninterrupted one exactly (CPU).
Training hyperparameters a space samples are not searched by a one-shot search: the supernet
takes each at its central value (:meth:`bnas.space.distributions.Distribution.central`).

After every epoch the largest and the smallest candidate are scored on the validation split
with inherited weights, after re-estimating BatchNorm on ``evaluate.bn_batches`` training
batches (:func:`~bnas.supernet.evaluate_candidates`): the two ends of the space, so a
collapsing end shows at once.

**Data parallel** (Ray Train sets up ``torch.distributed``; this module knows nothing of Ray).
When a process group is initialized, the supernet is wrapped in
``DistributedDataParallel(find_unused_parameters=True)`` (a static candidate leaves its
generators without gradient) and each of the W processes trains on its
``DistributedSampler`` share, ``batch_size / W`` images of each step. Every process draws the
same candidates (seeded by the step), accumulates the gradients of all but the last candidate
locally (``no_sync``) and averages them over processes at the last one, so the step equals a
single-process step over the whole batch, except that BatchNorm normalizes each process's
share by its own statistics. Every process scores the two ends on the same calibration and
validation images, so all report the same numbers; process 0 writes the checkpoints.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Subset

from bnas.architecture import Architecture
from bnas.errors import BnasError
from bnas.files import LAST_DIR, MODEL_FILE
from bnas.models import load_model_weights
from bnas.space import SearchSpace
from bnas.space.sections import EvaluateSettings, SupernetSettings
from bnas.supernet.evaluation import Batch, calibration_batches, evaluate_candidates
from bnas.supernet.network import Supernet
from bnas.supernet.sampling import CandidateSampler
from bnas.train.checkpoint import (
    check_resumable,
    epoch_seed,
    read_checkpoint_state,
)
from bnas.train.distillation import load_teacher
from bnas.train.evaluation import topk_correct
from bnas.train.loop import (
    BatchResult,
    EpochStats,
    Logits,
    OnEpoch,
    Shard,
    TrainingProgress,
    batch_loss,
    batches_per_epoch,
    begin_epoch,
    checkpoint_epoch,
    enter_phase,
    epoch_loader,
    eval_loader,
    local_batch_size,
    resume_optimizer,
    train_epoch,
)
from bnas.train.monitor import ProgressBar
from bnas.train.prepare import PreparedData, prepare_data
from bnas.train.run_folder import refuse_existing_run
from bnas.train.runtime import resolve_device, seed_everything, torch_runtime
from bnas.train.schedule import phase_of
from bnas.train_config import TrainConfig

# The two ends of the space, scored after every epoch.
ENDS = ("largest", "smallest")
# What a checkpoint must match to be resumed: the network and how its candidates are drawn.
_IDENTITY_KEYS = ("backbone", "space", "sampling", "candidates_per_step", "inplace_distillation")
_STRUCTURE_KEYS = ("backbone", "space")


# -- settings -----------------------------------------------------------------------------------


def supernet_settings(space: SearchSpace) -> SupernetSettings:
    """``search.supernet`` (filled for a one-shot space; its defaults for any other)."""
    return (space.search.supernet or SupernetSettings()).filled(space.train.epochs)


def supernet_config(
    space: SearchSpace, *, device: str | None = None, threads: int | None = None,
    seed_index: int = 0,
) -> TrainConfig:
    """The TrainConfig the supernet trains with: ``train:``'s fixed settings, each sampled one
    at its central value, ``supernet.epochs`` epochs; ``device`` / ``threads`` when given.

    ``seed_index`` i of ``supernet.seeds``: the seed is ``train.seed + i`` (mod 2³²), which
    draws the initialisation, the data order, augmentation and the candidates of every step
    anew. The data split is the space's (:func:`supernet_data`), the same for every seed."""
    settings = space.train_settings(space.train.central_params())
    settings["epochs"] = supernet_settings(space).epochs
    if seed_index:
        base = int(settings.get("seed", TrainConfig.model_fields["seed"].default))
        settings["seed"] = (base + seed_index) % 2**32
    if device is not None:
        settings["device"] = device
    if threads is not None:
        settings["threads"] = threads
    return TrainConfig.from_dict(settings, source=f"{space.source} supernet training")


def supernet_data(space: SearchSpace) -> PreparedData:
    """The splits every supernet of the space trains and is scored on: held out by
    ``train.seed`` whatever the supernet's seed, so that no seed trains on another's
    validation images, and the largest candidate fitted to them."""
    return prepare_data(space.extremes()[1], supernet_config(space))


def scoring_batches(space: SearchSpace, prepared: PreparedData
                    ) -> tuple[list[Batch], list[Batch]]:
    """What every candidate of the space is scored on, in memory: ``evaluate.bn_batches``
    training batches for BatchNorm recalibration, and the ranking batches, the validation
    split or ``evaluate.ranking_images`` of it (the same number per class, as far as the
    classes go), both drawn by ``train.seed`` alone (:func:`supernet_data`)."""
    evaluate = space.search.evaluate or EvaluateSettings()
    config = supernet_config(space)
    calibration = calibration_batches(prepared.splits.train, batch_size=config.batch_size,
                                      count=evaluate.bn_batches,
                                      seed=epoch_seed(config.seed, "calibration"))
    validation = prepared.splits.val
    if evaluate.ranking_images is not None and evaluate.ranking_images < len(validation):
        validation = Subset(validation, balanced_subset(
            validation.targets, evaluate.ranking_images, epoch_seed(config.seed, "ranking")))
    return calibration, list(eval_loader(validation, config))


def balanced_subset(targets: torch.Tensor, count: int, seed: int) -> list[int]:
    """``count`` indices of ``targets``, as evenly spread over the classes as they allow,
    each class's drawn by ``seed``; sorted."""
    generator = torch.Generator().manual_seed(seed)
    per_class = [(targets == c).nonzero().flatten() for c in targets.unique().tolist()]
    per_class = [idx[torch.randperm(len(idx), generator=generator)].tolist() for idx in per_class]
    chosen: list[int] = []
    depth = 0
    while len(chosen) < count:
        chosen += [idx[depth] for idx in per_class if depth < len(idx)][:count - len(chosen)]
        depth += 1
    return sorted(chosen)


def candidate_sampler(space: SearchSpace, seed: int) -> CandidateSampler:
    """The sampler of ``search.supernet``: ``candidates_per_step`` candidates a step, the
    largest and smallest among them under the sandwich rule."""
    settings = supernet_settings(space)
    ends = 2 if settings.sampling == "sandwich" else 0
    return CandidateSampler(space, rule=settings.sampling,
                            num_random=settings.candidates_per_step - ends, seed=seed)


def supernet_identity(space: SearchSpace) -> dict[str, Any]:
    """What a checkpoint records of the space it was trained on (plain JSON data)."""
    data = space.to_data()
    settings = supernet_settings(space)
    identity = {"backbone": data["backbone"], "space": data.get("space", {}),
                "sampling": settings.sampling,
                "candidates_per_step": settings.candidates_per_step,
                "inplace_distillation": settings.inplace_distillation}
    return json.loads(json.dumps(identity))


def _check_identity(state: dict[str, Any], space: SearchSpace, keys: tuple[str, ...],
                    what: str) -> None:
    recorded = state.get("supernet")
    if recorded is None:
        raise BnasError(f"{what}: {state['folder']} is a training checkpoint, not a supernet's")
    current = supernet_identity(space)
    for key in keys:
        if recorded.get(key) != current[key]:
            raise BnasError(
                f"{what}: the supernet in {state['folder']} was trained with another {key} "
                f"({json.dumps(recorded.get(key))}) than space {space.name} has "
                f"({json.dumps(current[key])})"
            )


# -- data parallel ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedProcess:
    """This process's part in training ``supernet.seeds`` supernets side by side: which seed it
    trains, its share of that seed's batches (None: the whole batch) and the process group of
    that seed's processes (None: the default group, or no group)."""

    seed_index: int = 0
    shard: Shard = None
    group: Any = None


def seed_process(space: SearchSpace) -> SeedProcess:
    """Where this process stands when torch.distributed is initialized (Ray Train sets it up):
    the world's S × W processes train S = ``supernet.seeds`` supernets, W =
    ``supernet.workers`` data-parallel processes each; ranks s·W … s·W + W − 1 train seed s,
    in a process group of their own (created here, collectively, by every process). One
    process per seed trains exactly as a plain process does, with the same numbers. Without
    torch.distributed: seed 0, no shard."""
    if not (dist.is_available() and dist.is_initialized()):
        return SeedProcess()
    settings = supernet_settings(space)
    world, rank = dist.get_world_size(), dist.get_rank()
    if world != settings.seeds * settings.workers:
        raise BnasError(f"supernet: {world} processes, but {settings.seeds} seed(s) × "
                        f"{settings.workers} worker(s) = {settings.seeds * settings.workers}")
    seed_index, per_seed = divmod(rank, settings.workers)
    if settings.workers == 1:
        return SeedProcess(seed_index)
    groups = [None] if settings.seeds == 1 else [
        dist.new_group(list(range(s * settings.workers, (s + 1) * settings.workers)))
        for s in range(settings.seeds)]
    return SeedProcess(seed_index, (per_seed, settings.workers), groups[seed_index])


def weights_checksum(model: nn.Module) -> float:
    """Σ of every parameter (float64): equal in every data-parallel replica, and equal for a
    resumed and an uninterrupted run, when training works as it should."""
    with torch.no_grad():
        return float(sum(p.detach().double().sum() for p in model.parameters()))


# -- one step -----------------------------------------------------------------------------------


def soft_labels(logits: torch.Tensor) -> Logits:
    """A "teacher" that answers any batch with ``logits``: in-place distillation from logits
    already computed on that batch (the largest candidate's, detached)."""
    return lambda _images: logits


class CandidateStep:
    """A supernet step's forward and backward passes (a ``BatchBackward`` of
    :func:`bnas.train.loop.train_epoch`): each candidate of the step in turn, gradients summed.

    ``model`` is the supernet or its DistributedDataParallel wrapper. With the wrapper, the
    gradients of all but the last candidate stay local (``no_sync``) and the last backward
    pass averages the sum over processes; the step's loss and hits are summed over processes
    too, so every process sees the same numbers (and a NaN anywhere stops all of them).
    """

    def __init__(self, model: nn.Module, supernet: Supernet, sampler: CandidateSampler,
                 config: TrainConfig, *, teacher: Logits | None,
                 distil_from_largest: bool, group: Any = None) -> None:
        self.model, self.supernet, self.sampler, self.config = model, supernet, sampler, config
        self.teacher = teacher
        self.distil_from_largest = distil_from_largest
        self.group = group  # the seed's process group (None: the default one)

    def _gradient_sync(self, last: bool) -> contextlib.AbstractContextManager[Any]:
        if isinstance(self.model, DistributedDataParallel) and not last:
            return self.model.no_sync()
        return contextlib.nullcontext()

    def __call__(self, images: torch.Tensor, labels: torch.Tensor,
                 global_step: int) -> BatchResult:
        candidates = self.sampler.candidates(global_step)
        teacher = self.teacher
        loss_sum, correct = 0.0, 0
        for index, arch in enumerate(candidates):
            self.supernet.set_active(arch)
            with self._gradient_sync(last=index == len(candidates) - 1):
                loss, logits = batch_loss(self.model, images, labels, self.config, teacher)
                loss.backward()
            if index == 0 and self.distil_from_largest:
                teacher = soft_labels(logits.detach())
            loss_sum += float(loss.detach()) * len(labels)
            correct += topk_correct(logits.detach(), labels, 1)
        seen = len(candidates) * len(labels)
        if isinstance(self.model, DistributedDataParallel):
            totals = torch.tensor([loss_sum, correct, seen], dtype=torch.float64,
                                  device=images.device)
            dist.all_reduce(totals, group=self.group)
            loss_sum, correct, seen = float(totals[0]), int(totals[1]), int(totals[2])
        return BatchResult(loss_sum, correct, seen)


# -- the run ------------------------------------------------------------------------------------


@dataclass
class SupernetResult:
    """What :func:`train_supernet` produced: the per-epoch history (see :func:`train_supernet`),
    the time over every process that ran it, and the last checkpoint (process 0 only)."""

    history: list[dict[str, Any]]
    seconds: float
    checkpoint: Path | None
    config: TrainConfig

    @property
    def final(self) -> dict[str, Any]:
        return self.history[-1] if self.history else {}

    @property
    def candidate_epochs(self) -> int:
        return int(self.final.get("candidate_epochs", 0))


def train_supernet(
    space: SearchSpace,
    *,
    out_dir: str | Path,
    on_epoch: OnEpoch | None = None,
    resume_from: str | Path | None = None,
    progress: bool = False,
    device: str | None = None,
    threads: int | None = None,
    seed_index: int = 0,
) -> SupernetResult:
    """Train ``Supernet(space)`` on ``space.data`` (module docstring: loss, sampling, data
    parallel); a checkpoint of every epoch goes to ``out_dir/last`` (process 0 of the seed).

    ``seed_index``: which of ``supernet.seeds`` supernets this is (:func:`supernet_config`);
    under torch.distributed the process's rank decides instead (:func:`seed_process`).

    Each epoch's history row: ``epoch``, ``seed_index``, ``step`` (two-step phase, if any),
    ``train_loss`` and ``train_top1`` (mean over the step's candidates), ``val_loss_largest``,
    ``val_top1_largest``, ``val_loss_smallest``, ``val_top1_smallest`` (after BatchNorm
    recalibration), ``candidates_per_step``, ``candidates_sampled`` and
    ``distinct_candidates`` (this epoch), ``dynamic_share`` (per block, the share of its sites
    the epoch's candidates made dynamic), ``candidate_epochs`` (cumulative cost),
    ``weights_checksum``, ``lr``, ``epoch_seconds``.

    ``on_epoch(metrics, checkpoint_dir)`` runs after every epoch in every process:
    ``checkpoint_dir`` is the epoch's checkpoint in process 0 and None in the others (so every
    process can take part in a collective report, as Ray Train's is). ``resume_from`` takes such
    a checkpoint and continues after its epoch. ``device`` overrides ``train.device`` (a
    data-parallel process passes its own GPU); ``threads`` sets the torch CPU threads.
    ``progress`` shows a bar and prints a line per epoch (process 0).

    Bad input (data, teacher, a checkpoint of another space or recipe, an ``out_dir`` that
    holds a run when not resuming) is a one-line BnasError before anything is written.
    """
    out_dir = Path(out_dir)
    process = seed_process(space)
    if dist.is_available() and dist.is_initialized():
        seed_index = process.seed_index
    shard = process.shard
    rank = 0 if shard is None else shard[0]
    config = supernet_config(space, device=device, threads=threads, seed_index=seed_index)
    local_batch_size(config, shard)  # fails early when the batch does not split
    prepared = supernet_data(space)
    target = resolve_device(config.device)
    state: dict[str, Any] | None = None
    if resume_from is not None:
        state = read_checkpoint_state(resume_from)
        check_resumable(state, prepared.arch, config)
        _check_identity(state, space, _IDENTITY_KEYS, "resume")
    elif rank == 0:
        refuse_existing_run(out_dir)

    with torch_runtime(config.threads, target):
        seed_everything(epoch_seed(config.seed, "init"))
        supernet = Supernet(space)
        teacher = None
        if config.teacher is not None:
            teacher, _ = load_teacher(config.teacher, config.teacher_checkpoint,
                                      prepared.info.num_classes, prepared.info.in_chans)
            teacher.to(target)
        if state is not None:
            load_model_weights(supernet, Path(state["folder"]) / MODEL_FILE, what="resume")
        supernet.to(target)
        run = _SupernetRun(space, supernet, config, prepared, target, process=process,
                           seed_index=seed_index, teacher=teacher, state=state,
                           out_dir=out_dir, on_epoch=on_epoch)
        return run.epochs(progress)


def _device_ids(device: torch.device) -> list[int] | None:
    """DistributedDataParallel's ``device_ids``: the process's GPU, None on the CPU."""
    if device.type != "cuda":
        return None
    return [device.index if device.index is not None else torch.cuda.current_device()]


class _SupernetRun:
    """The epoch loop of :func:`train_supernet` on validated input."""

    def __init__(self, space: SearchSpace, supernet: Supernet, config: TrainConfig,
                 prepared: PreparedData, device: torch.device, *, process: SeedProcess,
                 seed_index: int, teacher: nn.Module | None, state: dict[str, Any] | None,
                 out_dir: Path, on_epoch: OnEpoch | None) -> None:
        self.space, self.supernet, self.config = space, supernet, config
        self.arch, self.splits = prepared.arch, prepared.splits  # arch: the largest candidate
        splits = prepared.splits
        shard = process.shard
        self.seed_index = seed_index
        self.device, self.shard, self.out_dir, self.on_epoch = device, shard, out_dir, on_epoch
        self.rank = 0 if shard is None else shard[0]
        self.model: nn.Module = supernet
        if shard is not None:
            self.model = DistributedDataParallel(supernet, device_ids=_device_ids(device),
                                                 find_unused_parameters=True,
                                                 process_group=process.group)
        settings = supernet_settings(space)
        self.sampler = candidate_sampler(space, config.seed)
        self.step = CandidateStep(
            self.model, supernet, self.sampler, config, teacher=teacher,
            distil_from_largest=settings.sampling == "sandwich" and settings.inplace_distillation,
            group=process.group)
        self.steps_per_epoch, self.drop_last = batches_per_epoch(
            len(splits.train), config.batch_size, shard)
        self.start_epoch = int(state["epoch"]) + 1 if state else 1
        self.optimizer = resume_optimizer(supernet, config, state, self.start_epoch)
        self.record = TrainingProgress.resume(state)
        # The same images every epoch, in every process and for every seed, and the ones the
        # search scores candidates on: the ends' scores are comparable throughout.
        self.calibration, self.ranking = scoring_batches(space, prepared)

    def epochs(self, progress: bool) -> SupernetResult:
        config, steps = self.config, self.steps_per_epoch
        bar = ProgressBar(progress and self.rank == 0, config.epochs * steps,
                          (self.start_epoch - 1) * steps)
        try:
            for epoch in range(self.start_epoch, config.epochs + 1):
                self.optimizer = begin_epoch(self.supernet, self.optimizer, config, epoch,
                                             self.start_epoch)
                metrics = self._train_and_score(epoch, bar)
                if progress and self.rank == 0:
                    print(describe_epoch(metrics, config.epochs), flush=True)
                self._keep(metrics)
        finally:
            bar.close()
        checkpoint = self.out_dir / LAST_DIR if self.rank == 0 and self.record.history else None
        return SupernetResult(self.record.history, self.record.seconds(), checkpoint, config)

    def _train_and_score(self, epoch: int, bar: ProgressBar) -> dict[str, Any]:
        started = time.perf_counter()
        loader = epoch_loader(self.splits.train, self.config, epoch, self.drop_last, self.shard)
        stats = train_epoch(self.model, loader, self.optimizer, self.config, device=self.device,
                            epoch=epoch, steps_per_epoch=self.steps_per_epoch, progress=bar,
                            backward=self.step)
        scores = {}
        ends = evaluate_candidates(self.supernet, [self.sampler.largest, self.sampler.smallest],
                                   self.calibration, self.ranking, device=self.device)
        for end, val in zip(ENDS, ends):
            scores[f"val_loss_{end}"], scores[f"val_top1_{end}"] = val["loss"], val["top1"]
        return self._metrics(epoch, stats, scores, time.perf_counter() - started)

    def _metrics(self, epoch: int, stats: EpochStats, scores: dict[str, float],
                 seconds: float) -> dict[str, Any]:
        per_step = len(self.sampler.candidates(0))
        first = (epoch - 1) * self.steps_per_epoch
        drawn = sampled(self.sampler, range(first, first + self.steps_per_epoch))
        metrics: dict[str, Any] = {"epoch": epoch, "seed_index": self.seed_index}
        phase = phase_of(self.config, epoch)
        if phase is not None:
            metrics["step"] = phase
        metrics.update(train_loss=stats.loss, train_top1=stats.top1, **scores)
        metrics.update(
            candidates_per_step=per_step,
            candidates_sampled=len(drawn),
            distinct_candidates=len(set(drawn)),
            dynamic_share=dynamic_share(drawn),
            candidate_epochs=epoch * per_step,
            weights_checksum=weights_checksum(self.supernet),
            lr=stats.lr,
            epoch_seconds=seconds,
        )
        return metrics

    def _keep(self, metrics: dict[str, Any]) -> None:
        """Record the epoch; process 0 checkpoints it; every process calls ``on_epoch``."""
        epoch = metrics["epoch"]
        self.record.add_epoch(metrics, self.supernet, competes=False)
        if self.rank != 0:
            if self.on_epoch is not None:
                self.on_epoch(dict(metrics), None)
            return
        state = self.record.checkpoint_state(
            epoch=epoch, phase=phase_of(self.config, epoch), steps_per_epoch=self.steps_per_epoch,
            arch=self.arch, config=self.config)
        state["supernet"] = supernet_identity(self.space)
        checkpoint_epoch(self.out_dir / LAST_DIR, self.supernet, self.optimizer, state, None,
                         self.on_epoch, metrics)


# -- what was sampled ---------------------------------------------------------------------------


def sampled(sampler: CandidateSampler, steps: range) -> list[Architecture]:
    """Every candidate of ``steps``, in order (a pure function of the sampler's seed)."""
    return [arch for step in steps for arch in sampler.candidates(step)]


def dynamic_share(candidates: list[Architecture]) -> list[float]:
    """Per block, the share of its sites that ``candidates`` made dynamic (0 to 1)."""
    if not candidates:
        return []
    shares = []
    for index in range(len(candidates[0].blocks)):
        sites = [t.is_dynamic for arch in candidates for t in arch.blocks[index].values()]
        shares.append(sum(sites) / len(sites))
    return shares


def describe_epoch(metrics: dict[str, Any], epochs: int) -> str:
    """One line of progress: loss, the ends' accuracy, what was sampled, time."""
    phase = f" (step {metrics['step']})" if "step" in metrics else ""
    share = " ".join(f"{value:.2f}" for value in metrics["dynamic_share"])
    return (
        f"supernet epoch {metrics['epoch']}/{epochs}{phase}  loss {metrics['train_loss']:.3f}  "
        f"val top-1 largest {metrics['val_top1_largest']:.3f} "
        f"smallest {metrics['val_top1_smallest']:.3f}  sampled {metrics['candidates_sampled']} "
        f"({metrics['distinct_candidates']} distinct; dynamic share per block {share})  "
        f"{metrics['candidate_epochs']} candidate-epoch{'s' * (metrics['candidate_epochs'] != 1)}"
        f"  {metrics['epoch_seconds']:.1f} s"
    )


# -- loading ------------------------------------------------------------------------------------


def load_supernet(space: SearchSpace, checkpoint_dir: str | Path) -> Supernet:
    """The supernet of ``space`` saved in ``checkpoint_dir`` (a :func:`train_supernet`
    checkpoint): its weights and BatchNorm statistics, binarized as the checkpoint's epoch
    was trained, in eval mode on the CPU. A checkpoint of another network (backbone or
    choices) is a one-line BnasError."""
    state = read_checkpoint_state(checkpoint_dir, what="supernet")
    _check_identity(state, space, _STRUCTURE_KEYS, "supernet")
    supernet = Supernet(space)
    load_model_weights(supernet, Path(state["folder"]) / MODEL_FILE, what="supernet")
    enter_phase(supernet, state.get("phase"))
    return supernet.eval()

