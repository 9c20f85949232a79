"""Training a one-shot search's supernets on Ray Train: :func:`train_supernet_on_ray`.

Ray Train's ``TorchTrainer`` starts ``search.supernet.seeds × search.supernet.workers``
processes (placed wherever the cluster has ``search.resources_per_trial`` free per worker),
sets up ``torch.distributed`` among them (gloo on CPUs, NCCL on GPUs) and runs
:func:`bnas.supernet.train_supernet` in each: ``seeds`` supernets side by side, each trained
data-parallel by ``workers`` processes of its own, every process on its share of each batch
(see :mod:`bnas.supernet.training`). Each seed's first process reports its checkpoint of
every epoch with ``ray.train.report``; Ray Train merges them into
``RUN_DIR/supernet/epoch_NNNN/seed_I/`` (bnas checkpoints: :func:`bnas.supernet.load_supernet`
reads each); every process reports its metrics, which a callback in Ray Train's controller
relays to this process for one progress line per epoch and ``RUN_DIR/supernet/history.json``.

Resume continues after the last *complete* epoch, found here, not by Ray Train: Ray copies an
epoch's checkpoint into the run folder before it records it in its own state, so a kill in
between leaves a complete checkpoint that Ray's restore would not know (it would train that
epoch again), and a kill during the copy leaves an incomplete one. :func:`supernet_checkpoint`
takes the newest checkpoint whose files are whole (:func:`check_checkpoint`: in every seed's
folder the trainer state valid, both safetensors files as long as their headers say); Ray's own
record of the run is removed, so its trainer starts afresh, and each worker loads its seed's
folder of that checkpoint (``resume_dir``) and continues after its epoch, with the numbers an
uninterrupted run would have produced. A supernet whose last epoch is already checkpointed is
not trained again.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bnas.errors import BnasError
from bnas.files import (
    MODEL_FILE,
    OPTIMIZER_FILE,
    SEED_DIR_PREFIX,
    STATE_FILE,
    SUPERNET_DIR,
    SUPERNET_HISTORY_FILE,
)
from bnas.reading import check_safetensors, read_json
from bnas.run_paths import inside_run
from bnas.run_record import metric_problem, read_trainer_state
from bnas.writing import write_text_atomic

# A checkpoint folder per epoch, named so that they sort by epoch.
CHECKPOINT_PREFIX = "epoch_"
# Ray Train's record of its run (ray.train.v2._internal.constants), removed before a resume.
RAY_TRAIN_SNAPSHOT = "checkpoint_manager_snapshot.json"


def checkpoint_name(epoch: int) -> str:
    return f"{CHECKPOINT_PREFIX}{epoch:04d}"


def seed_checkpoints(folder: str | Path, seeds: int) -> list[Path]:
    """The checkpoint folder of every supernet seed inside an epoch's checkpoint ``folder``."""
    return [Path(folder) / f"{SEED_DIR_PREFIX}{index}" for index in range(seeds)]


def check_checkpoint(folder: Path, what: str, seeds: int = 1) -> int:
    """The epoch of the checkpoint in ``folder`` when its files are whole: in each of its
    ``seeds`` seed folders the trainer state valid (:class:`bnas.run_record.TrainerState`), the
    weights and the optimizer's tensors as long as their safetensors headers say, every seed at
    the same epoch. Otherwise one BnasError line naming the file."""
    epochs = set()
    for seed in seed_checkpoints(folder, seeds):
        for name in (MODEL_FILE, OPTIMIZER_FILE, STATE_FILE):
            if not (seed / name).is_file():
                raise BnasError(f"{what}: {seed / name} is missing")
        epochs.add(int(read_trainer_state(seed / STATE_FILE)["epoch"]))
        for name in (MODEL_FILE, OPTIMIZER_FILE):
            check_safetensors(seed / name, what)
    if len(epochs) != 1:
        raise BnasError(f"{what}: {folder}: its seeds' checkpoints are of epochs "
                        f"{sorted(epochs)}")
    return epochs.pop()


def supernet_checkpoints(run_dir: str | Path, seeds: int = 1
                         ) -> tuple[tuple[Path, int] | None, list[str]]:
    """(the newest complete checkpoint of a run's ``seeds`` supernets and its epoch, or None;
    why each newer one is not complete)."""
    found: tuple[Path, int] | None = None
    problems: dict[Path, str] = {}
    folder = inside_run(run_dir, SUPERNET_DIR, "supernet folder")
    for checkpoint in sorted(folder.glob(f"{CHECKPOINT_PREFIX}*")):
        try:
            epoch = check_checkpoint(checkpoint, "supernet", seeds)
        except BnasError as error:  # a checkpoint still being copied, or damaged
            problems[checkpoint] = str(error).removeprefix("supernet: ")
            continue
        if found is None or epoch > found[1]:
            found = (checkpoint, epoch)
    newer = [problem for checkpoint, problem in problems.items()
             if found is None or checkpoint.name > found[0].name]
    return found, newer


def supernet_checkpoint(run_dir: str | Path, seeds: int = 1) -> tuple[Path, int] | None:
    """The newest complete checkpoint of a run's ``seeds`` supernets and its epoch, or None."""
    return supernet_checkpoints(run_dir, seeds)[0]


def _train_worker(config: dict[str, Any]) -> None:
    """One Ray Train worker: train_supernet on this process's share of its seed's supernet,
    reporting every epoch."""
    import ray
    import ray.train
    import ray.train.torch

    from bnas.supernet import train_supernet

    rank = ray.train.get_context().get_world_rank()
    seed_index = rank // config["workers"]
    seed_folder = f"{SEED_DIR_PREFIX}{seed_index}"
    node_ip = ray.util.get_node_ip_address()
    device = str(ray.train.torch.get_device()) if config["use_gpu"] else "cpu"

    def on_epoch(metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        with tempfile.TemporaryDirectory(prefix="bnas-report-") as staging:
            checkpoint = None
            if checkpoint_dir is not None:
                # Ray Train merges the workers' checkpoint folders into one: each seed's
                # first process puts its own under seed_I (hard links: no copy of the weights).
                shutil.copytree(checkpoint_dir, Path(staging) / seed_folder, copy_function=os.link)
                checkpoint = ray.train.Checkpoint.from_directory(staging)
            # Every worker reports (Ray Train's report is a barrier); each seed's checkpoint.
            ray.train.report({**metrics, "rank": rank, "node_ip": node_ip},
                             checkpoint=checkpoint,
                             checkpoint_dir_name=checkpoint_name(metrics["epoch"]))

    with tempfile.TemporaryDirectory(prefix="bnas-supernet-") as scratch:
        train_supernet(config["space"], out_dir=Path(scratch), on_epoch=on_epoch,
                       resume_from=(Path(config["resume_dir"]) / seed_folder
                                    if config["resume_dir"] else None),
                       device=device, threads=config["threads"])


def _epoch_relay(queue: Any) -> Any:
    """A Ray Train callback (it runs in the controller) that sends every epoch's metrics of
    all workers to ``queue``."""
    from ray.train import UserCallback

    class _EpochRelay(UserCallback):
        def after_report(self, run_context, metrics, checkpoint):  # noqa: ANN001
            queue.put({"workers": metrics,
                       "checkpoint": checkpoint.path if checkpoint is not None else None})

    return _EpochRelay()


class SupernetProgress:
    """The driver's side: a line per epoch, and ``history.json`` with every worker's report
    (epochs that a resumed run trains again replace the ones it lost).

    ``resumed``: the history of the checkpoint a resumed run starts from. Its epochs that no
    report brought here (the run was killed after the checkpoint was written, before its
    report arrived) are recorded from it, with no ``workers``: only process 0's numbers are
    known of them."""

    def __init__(self, folder: Path, epochs: int,
                 resumed: list[dict[str, Any]] | None = None) -> None:
        from bnas.supernet.training import describe_epoch

        self.describe, self.folder, self.epochs = describe_epoch, folder, epochs
        self.started = time.monotonic()
        history = folder / SUPERNET_HISTORY_FILE
        self.records: list[dict[str, Any]] = (
            _read_history(history) if history.is_file() else [])
        if resumed:
            last = int(resumed[-1]["epoch"])
            known = {record["epoch"]: record for record in self.records
                     if record["epoch"] <= last}
            for row in resumed:
                known.setdefault(row["epoch"], {"epoch": row["epoch"], "metrics": row,
                                                "workers": [], "checkpoint": None})
            self.records = [known[epoch] for epoch in sorted(known)]

    def add(self, message: dict[str, Any]) -> None:
        workers = sorted(message["workers"], key=lambda metrics: metrics["rank"])
        seeds = {}  # seed index → the metrics of its first process
        for worker in workers:
            seeds.setdefault(worker["seed_index"], worker)
        metrics = workers[0]
        nodes = sorted({worker["node_ip"] for worker in workers})
        checkpoint = message["checkpoint"]

        def plain(metrics: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in metrics.items() if k not in ("rank", "node_ip")}

        record = {
            "epoch": metrics["epoch"],
            "metrics": plain(metrics),
            "seeds": [plain(seeds[index]) for index in sorted(seeds)],
            "workers": [{"rank": w["rank"], "seed_index": w["seed_index"],
                         "node_ip": w["node_ip"], "weights_checksum": w["weights_checksum"]}
                        for w in workers],
            "checkpoint": Path(checkpoint).name if checkpoint else None,
        }
        self.records = [r for r in self.records if r["epoch"] < record["epoch"]] + [record]
        write_text_atomic(self.folder / SUPERNET_HISTORY_FILE, json.dumps(self.records, indent=1))
        elapsed = time.monotonic() - self.started
        others = "".join(f"  seed {index}: largest {seeds[index]['val_top1_largest']:.3f} "
                         f"smallest {seeds[index]['val_top1_smallest']:.3f}"
                         for index in sorted(seeds)[1:])
        print(f"[{elapsed:6.1f}s] {self.describe(metrics, self.epochs)}{others}  "
              f"{len(workers)} worker{'s' * (len(workers) > 1)} on {', '.join(nodes)}",
              flush=True)


def _read_history(path: Path) -> list[dict[str, Any]]:
    """``history.json`` as written: a list of epoch records, each with its epoch number."""
    records = read_json(path, "supernet history")
    if not isinstance(records, list):
        raise BnasError(f"{path}: not a supernet history (expected a list of epochs)")
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise BnasError(f"{path}: [{index}]: not a mapping")
        problem = metric_problem("epoch", record.get("epoch"))
        if problem is not None or record.get("epoch") is None:
            raise BnasError(f"{path}: [{index}]: {problem or 'epoch is missing'}")
    return records


def _relay_to(progress: SupernetProgress, queue: Any, done: threading.Event) -> None:
    from ray.util.queue import Empty

    while True:
        try:
            progress.add(queue.get(timeout=0.2))
        except Empty:
            if done.is_set():
                return


def train_supernet_on_ray(
    space: Any, run_dir: str | Path, *, address_given: bool, resume: bool
) -> Path:
    """Train ``space``'s supernet with Ray Train in the Ray session the caller opened
    (:func:`bnas.search.cluster.ray_session`); returns the final checkpoint folder, inside
    ``run_dir/supernet/``.

    ``search.supernet.workers`` data-parallel workers, each with ``search.resources_per_trial``
    (its CPUs are its torch threads; a GPU makes it train on CUDA with NCCL, else gloo).
    On an embedded cluster (``address_given`` False) workers the machine cannot hold are a
    BnasError rather than a wait for resources that never come. ``resume`` continues the
    run's supernet from its last checkpoint (see the module docstring); without it, a run
    directory that already holds one is a BnasError.
    """
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.util.queue import Queue

    from bnas.supernet.training import supernet_settings

    if not ray.is_initialized():
        raise BnasError("train_supernet_on_ray: no Ray session (open one with "
                        "bnas.search.cluster.ray_session)")
    run_dir = Path(run_dir).resolve()
    folder = inside_run(run_dir, SUPERNET_DIR, "supernet folder")
    settings = supernet_settings(space)
    if not resume and folder.is_dir() and any(folder.iterdir()):
        raise BnasError(f"{folder} already holds a supernet: resume the run, or start a new one")
    last, incomplete = supernet_checkpoints(run_dir, settings.seeds) if resume else (None, [])
    for problem in incomplete:
        print(f"supernet: not resuming from an incomplete checkpoint: {problem}", flush=True)
    if last is not None and last[1] >= settings.epochs:
        print(f"supernet: trained already ({settings.epochs} epochs, {last[0]})", flush=True)
        return last[0]
    _start_afresh(folder, keep=last[0] if last else None)

    resources = space.search.resources_per_trial
    use_gpu = resources.gpu > 0
    per_worker = {"CPU": resources.cpu, **({"GPU": resources.gpu} if use_gpu else {})}
    processes = settings.seeds * settings.workers
    if not address_given:
        _check_fits(processes, per_worker)
    backend = "nccl" if use_gpu else "gloo"
    print(f"supernet: {settings.epochs} epoch{'s' * (settings.epochs > 1)}, "
          f"{settings.sampling} sampling, "
          f"{settings.candidates_per_step} candidate{'s' * (settings.candidates_per_step > 1)} "
          f"per step, {settings.seeds} seed{'s' * (settings.seeds > 1)} side by side × "
          f"{settings.workers} worker{'s' * (settings.workers > 1)} ({backend})"
          + (f"; resuming after epoch {last[1]}" if last else ""), flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    queue = Queue(actor_options={"num_cpus": 0})
    progress = SupernetProgress(folder, settings.epochs, resumed=read_trainer_state(
        seed_checkpoints(last[0], 1)[0] / STATE_FILE)["history"] if last else None)
    done = threading.Event()
    relay = threading.Thread(target=_relay_to, args=(progress, queue, done), daemon=True)
    trainer = TorchTrainer(
        _train_worker,
        train_loop_config={"space": space, "use_gpu": use_gpu, "workers": settings.workers,
                           "threads": max(1, int(resources.cpu)),
                           "resume_dir": str(last[0]) if last else None},
        torch_config=TorchConfig(backend=backend),
        scaling_config=ScalingConfig(num_workers=processes, use_gpu=use_gpu,
                                     resources_per_worker=per_worker),
        run_config=RunConfig(
            name=SUPERNET_DIR,
            storage_path=str(run_dir),
            failure_config=FailureConfig(max_failures=0),
            checkpoint_config=CheckpointConfig(num_to_keep=1),
            callbacks=[_epoch_relay(queue)],
        ),
    )
    relay.start()
    try:
        result = trainer.fit()
    except Exception as error:
        raise BnasError(f"supernet training failed: {failure_reason(error)} (resume continues "
                        "from the last epoch checkpoint)") from error
    finally:
        done.set()
        relay.join()
        queue.shutdown()
    if result.checkpoint is None:
        raise BnasError("supernet training reported no checkpoint")
    final = Path(result.checkpoint.path)
    _start_afresh(folder, keep=final, ray_record=False)  # the checkpoint resumed from goes
    return final


def _start_afresh(folder: Path, keep: Path | None, ray_record: bool = True) -> None:
    """Remove every epoch checkpoint of ``folder`` but ``keep`` (a resume's start: the
    incomplete and the superseded ones), and Ray Train's record of its run, so that a
    restarted trainer neither restores an older epoch nor meets folders it did not write."""
    if not folder.is_dir():
        return
    for checkpoint in folder.glob(f"{CHECKPOINT_PREFIX}*"):
        if keep is None or checkpoint.name != keep.name:
            shutil.rmtree(checkpoint, ignore_errors=True)
    if ray_record:
        (folder / RAY_TRAIN_SNAPSHOT).unlink(missing_ok=True)


def failure_reason(error: BaseException) -> str:
    """One line: the first failed worker's exception (Ray Train's ``WorkerGroupError`` keeps
    them by rank), the controller's, or the error's own first line."""
    failures = getattr(error, "worker_failures", None) or {}
    if failures:
        rank = min(failures)
        error = failures[rank]
        prefix = f"worker {rank}: "
    else:
        error = getattr(error, "controller_failure", None) or error
        prefix = ""
    first = (str(error).strip().splitlines() or [""])[0]
    return f"{prefix}{type(error).__name__}" + (f": {first}" if first else "")


def _check_fits(workers: int, per_worker: dict[str, float]) -> None:
    import ray

    available = ray.cluster_resources()
    for resource, amount in per_worker.items():
        if workers * amount > available.get(resource, 0):
            raise BnasError(
                f"search.supernet.seeds × workers = {workers} processes × "
                f"resources_per_trial.{resource.lower()} "
                f"{amount:g} needs {workers * amount:g} {resource}s; this machine has "
                f"{available.get(resource, 0):g} (join a cluster with --address, or lower them)"
            )
