"""Training a supernet: train_supernet / load_supernet (plain torch), the data-parallel step
(two gloo processes), and train_supernet_on_ray on a local Ray Train cluster.

The Ray test drives ``tests/supernet_ray_driver.py`` in a subprocess whose Ray processes all
live under a private ``RAY_TMPDIR`` (``tests/private_ray.py``); it kills the Ray Train worker
after the first epoch and checks that the resumed run ends exactly where training in this
process does.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from private_ray import PrivateRay
from safetensors.torch import load_file

from bnas.errors import BnasError
from bnas.space import parse_space
from bnas.supernet import (
    ElasticSign,
    Supernet,
    evaluate_candidate,
    load_supernet,
    train_supernet,
)
from bnas.supernet.training import (
    CandidateStep,
    candidate_sampler,
    scoring_batches,
    supernet_config,
    supernet_data,
)
from bnas.train.distillation import distillation_loss
from bnas.train.result import TrainingDiverged, comparable

REPO = Path(__file__).resolve().parents[1]

# 900 training images in 56 steps of 16: an epoch takes a few seconds, long enough to kill a
# Ray Train worker between two epochs.
SPACE = """\
name: tiny-oneshot
backbone: {name: reactnet_a, preset: tiny}
space:
  blocks: {threshold: [static, dynamic], rd_ratio: [2, 4]}
  overrides: {"0": {threshold: static}}
data: {name: digits, subset: 100}
train: {epochs: 3, batch_size: 16, lr: 0.005}
search:
  strategy: oneshot
  supernet: {sampling: uniform, epochs: 3}
  evaluate: {bn_batches: 2}
"""
STEPS = 900 // 16
# The sandwich rule on less data, with the two-step recipe.
SANDWICH = ["data.subset=20", "train.epochs=2", "train.two_step=true",
            "search.supernet.sampling=sandwich", "search.supernet.candidates_per_step=3"]


def space_of(*overrides: str):
    """SPACE with ``overrides``; a supernet trains as many epochs as ``train.epochs`` says."""
    epochs = [item.split("=")[1] for item in overrides if item.startswith("train.epochs=")]
    return parse_space(SPACE, "tiny.yaml", overrides=[
        *overrides, *(f"search.supernet.epochs={epoch}" for epoch in epochs[-1:])])


@pytest.fixture(scope="module")
def uniform_run(tmp_path_factory):
    """SPACE's supernet trained for 3 epochs; a copy of the epoch-1 checkpoint kept aside."""
    root = tmp_path_factory.mktemp("supernet")
    calls = []

    def on_epoch(metrics, checkpoint_dir):
        state = json.loads((checkpoint_dir / "trainer_state.json").read_text())
        calls.append((metrics, state["epoch"]))
        if metrics["epoch"] == 1:
            shutil.copytree(checkpoint_dir, root / "after_epoch1")

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = train_supernet(space_of(), out_dir=root / "run", on_epoch=on_epoch,
                                progress=True, threads=1)
    return SimpleNamespace(result=result, calls=calls, root=root, printed=printed.getvalue())


def test_uniform_training_reports_every_epoch_with_its_checkpoint(uniform_run):
    result = uniform_run.result
    history = result.history
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert [(metrics["epoch"], epoch) for metrics, epoch in uniform_run.calls] == [
        (1, 1), (2, 2), (3, 3)]  # each epoch handed over with its own checkpoint
    for row in history:
        assert row["candidates_per_step"] == 1
        assert row["candidates_sampled"] == STEPS
        assert 0.8 * STEPS < row["distinct_candidates"] <= STEPS  # 324 candidates in the space
        assert row["candidate_epochs"] == row["epoch"]
        assert row["dynamic_share"][0] == 0.0  # block 0 is static by override
        # Uniform over the 18 settings of a block: static 1/9, else dynamic on 2 of 3 site sets
        assert all(0.4 < share < 0.85 for share in row["dynamic_share"][1:])
    final = result.final
    assert final["train_loss"] < history[0]["train_loss"]
    assert final["val_top1_largest"] > 0.5 and final["val_top1_smallest"] > 0.5  # chance 0.1
    assert result.candidate_epochs == 3
    assert result.checkpoint == uniform_run.root / "run" / "last"
    lines = [line for line in uniform_run.printed.splitlines() if "supernet epoch" in line]
    assert len(lines) == 3 and lines[-1].startswith("supernet epoch 3/3  loss")


def test_a_run_resumed_after_epoch_one_ends_as_the_uninterrupted_run(uniform_run, tmp_path):
    resumed = train_supernet(space_of(), out_dir=tmp_path / "resumed",
                             resume_from=uniform_run.root / "after_epoch1", threads=1)
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3]
    assert comparable(resumed.history) == comparable(uniform_run.result.history)
    weights = load_file(str(resumed.checkpoint / "model.safetensors"))
    expected = load_file(str(uniform_run.result.checkpoint / "model.safetensors"))
    assert weights.keys() == expected.keys()
    assert all(torch.equal(weights[key], expected[key]) for key in expected)


def test_load_supernet_gives_back_the_network_and_its_scores(uniform_run):
    space = space_of()
    supernet = load_supernet(space, uniform_run.result.checkpoint)
    assert isinstance(supernet, Supernet) and not supernet.training
    saved = load_file(str(uniform_run.result.checkpoint / "model.safetensors"))
    assert all(torch.equal(value, saved[key]) for key, value in supernet.state_dict().items())
    # Scoring the ends again as training did (the same scoring batches) gives its numbers.
    calibration, ranking = scoring_batches(space, supernet_data(space))
    assert len(calibration) == 2  # evaluate.bn_batches
    smallest, largest = space.extremes()
    for end, arch in (("largest", largest), ("smallest", smallest)):
        score = evaluate_candidate(supernet, arch, calibration, ranking,
                                   device=torch.device("cpu"))
        assert score["top1"] == uniform_run.result.final[f"val_top1_{end}"]

    other = space_of("space.blocks.rd_ratio=[2, 8]")
    with pytest.raises(BnasError, match=r"^supernet: the supernet in \S+ was trained with "
                                        r"another space \(.*\) than space tiny-oneshot has"):
        load_supernet(other, uniform_run.result.checkpoint)
    with pytest.raises(BnasError, match=r"^supernet: \S+ is not a bnas checkpoint"):
        load_supernet(space, uniform_run.root)


def test_a_run_in_the_way_or_a_changed_recipe_is_refused(uniform_run):
    with pytest.raises(BnasError, match="already holds a training run"):
        train_supernet(space_of(), out_dir=uniform_run.root / "run", threads=1)
    checkpoint = uniform_run.root / "after_epoch1"
    with pytest.raises(BnasError, match=r"^resume: the supernet in \S+ was trained with another "
                                        r"candidates_per_step \(1\) than .* \(2\)$"):
        train_supernet(space_of("search.supernet.candidates_per_step=2"),
                       out_dir=uniform_run.root / "other", resume_from=checkpoint)
    with pytest.raises(BnasError, match=r"^resume: checkpoint \S+ was trained with lr=0.005"):
        train_supernet(space_of("train.lr=0.01"), out_dir=uniform_run.root / "other",
                       resume_from=checkpoint)


def test_sandwich_training_trains_both_ends_every_step_in_two_steps(tmp_path):
    space = space_of(*SANDWICH)
    result = train_supernet(space, out_dir=tmp_path, threads=1)
    steps = 180 // 16
    assert [row["step"] for row in result.history] == ["1", "2"]  # real weights, then binary
    assert [row["candidates_sampled"] for row in result.history] == [3 * steps] * 2
    assert [row["candidate_epochs"] for row in result.history] == [3, 6]
    supernet = load_supernet(space, result.checkpoint)
    conv = supernet.network.blocks[1].conv3x3.conv
    assert conv.binarize_weights  # the phase of the last epoch


def test_a_diverging_supernet_stops_at_the_first_non_finite_loss(tmp_path):
    space = space_of("data.subset=20", "train.epochs=1", "train.lr=1.0e+30")
    with pytest.raises(TrainingDiverged, match=r"^loss became (nan|inf) at epoch 1, step \d+$"):
        train_supernet(space, out_dir=tmp_path, threads=1)
    assert not (tmp_path / "last").exists()  # no epoch finished, nothing checkpointed


def test_a_failed_ray_train_run_is_told_by_its_first_worker():
    from ray.train import ControllerError, WorkerGroupError

    from bnas.search.supernet_training import failure_reason

    diverged = TrainingDiverged("loss became nan at epoch 3, step 7")
    error = WorkerGroupError("two failed", {1: RuntimeError("later"), 0: diverged})
    assert failure_reason(error) == "worker 0: TrainingDiverged: loss became nan at epoch 3, step 7"
    assert failure_reason(ControllerError(OSError("disk full\ndetails"))) == "OSError: disk full"


def test_ray_workers_get_the_data_root_as_the_user_meant_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    space = space_of("data.root=data/digits")
    shipped = space.with_absolute_data_root()
    assert shipped.data.root == str(tmp_path / "data" / "digits")
    assert space.data.root == "data/digits"  # the caller's space is left as it is
    assert shipped.source_text == space.source_text and shipped.blocks == space.blocks
    plain = space_of()  # digits from scikit-learn: no root, nothing to change
    assert plain.with_absolute_data_root() is plain


def perturbed_supernet(space) -> Supernet:
    """A supernet whose candidates compute different functions (a fresh generator's W2 is 0,
    which makes every dynamic threshold static)."""
    torch.manual_seed(0)
    supernet = Supernet(space)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in supernet.modules():
            if isinstance(module, ElasticSign):
                module.generator.fc2.weight.copy_(
                    torch.randn(module.generator.fc2.weight.shape, generator=generator))
    return supernet.train()


def batch(size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(2)
    return (torch.randn(size, 1, 8, 8, generator=generator),
            torch.randint(0, 10, (size,), generator=generator))


def gradients(module: torch.nn.Module) -> dict[str, torch.Tensor | None]:
    return {name: None if p.grad is None else p.grad.clone()
            for name, p in module.named_parameters()}


def test_sandwich_step_sums_the_candidates_losses_with_in_place_distillation():
    space = space_of(*SANDWICH)
    config = supernet_config(space, threads=1)
    sampler = candidate_sampler(space, seed=0)
    images, labels = batch()
    candidates = sampler.candidates(7)
    assert candidates[:2] == [sampler.largest, sampler.smallest] and len(candidates) == 3

    found = {}
    for distil in (True, False):
        supernet = perturbed_supernet(space)
        step = CandidateStep(supernet, supernet, sampler, config, teacher=None,
                             distil_from_largest=distil)
        result = step(images, labels, 7)
        assert result.seen == 3 * len(labels)
        found[distil] = (gradients(supernet), result.loss_sum)

    # By hand: Σ_k CE_ε(z_k, y) + KD(z_k, sg(z_largest)) for the candidates after the largest.
    supernet = perturbed_supernet(space)
    total, largest_logits = 0.0, None
    for index, arch in enumerate(candidates):
        supernet.set_active(arch)
        logits = supernet(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=config.label_smoothing)
        if index == 0:
            largest_logits = logits.detach()
        else:
            loss = loss + distillation_loss(logits, largest_logits, config.kd_weight,
                                            config.kd_temperature)
        loss.backward()
        total += float(loss.detach()) * len(labels)
    expected = gradients(supernet)
    assert found[True][1] == pytest.approx(total, rel=1e-6)
    for name, grad in expected.items():
        if grad is None:
            assert found[True][0][name] is None, name
        else:
            torch.testing.assert_close(found[True][0][name], grad, msg=name)
    changed = [name for name, grad in found[False][0].items()
               if grad is not None and not torch.allclose(grad, expected[name])]
    assert changed  # without in-place distillation the gradients differ: the term counts


def _data_parallel_rank(rank: int, world_size: int, port: int, out: str) -> None:
    """One of two gloo processes: a sandwich step of the DDP-wrapped supernet on its half of
    the batch; saves its gradients and the step's result."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world_size)
    try:
        space = space_of(*SANDWICH)
        supernet = perturbed_supernet(space)
        model = DistributedDataParallel(supernet, find_unused_parameters=True)
        step = CandidateStep(model, supernet, candidate_sampler(space, seed=0),
                             supernet_config(space, threads=1), teacher=None,
                             distil_from_largest=True)
        images, labels = batch()
        half = slice(rank * 8, rank * 8 + 8)
        result = step(images[half], labels[half], 7)
        saved = {"gradients": gradients(supernet),
                 "result": (result.loss_sum, result.correct, result.seen)}
        # And a whole epoch of train_supernet in the process group.
        handed = []
        trained = train_supernet(space_of("data.subset=20", "train.epochs=1",
                                          "search.supernet.workers=2"),
                                 out_dir=f"{out}/run{rank}", threads=1,
                                 on_epoch=lambda metrics, folder: handed.append(
                                     folder and str(folder)))
        saved["history"], saved["handed"] = trained.history, handed
        saved["checkpoint"] = trained.checkpoint and str(trained.checkpoint)
        # Two seeds side by side in the same two processes: each trains its own supernet.
        seeds = train_supernet(space_of("data.subset=20", "train.epochs=1",
                                        "search.supernet.seeds=2"),
                               out_dir=f"{out}/seeds{rank}", threads=1)
        saved["seeds"] = seeds.history
        with pytest.raises(BnasError, match=r"^supernet: 2 processes, but 1 seed\(s\) × 1 "):
            train_supernet(space_of("data.subset=20"), out_dir=f"{out}/none{rank}")
        torch.save(saved, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_data_parallel_step_averages_every_candidates_gradients_over_processes(tmp_path):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    torch.multiprocessing.spawn(_data_parallel_rank, args=(2, port, str(tmp_path)), nprocs=2)
    ranks = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(2)]

    # Expected: the mean of the two halves' gradients, each half's step run alone here.
    space = space_of(*SANDWICH)
    config = supernet_config(space, threads=1)
    images, labels = batch()
    halves, loss_sum = [], 0.0
    for rank in range(2):
        supernet = perturbed_supernet(space)
        step = CandidateStep(supernet, supernet, candidate_sampler(space, seed=0), config,
                             teacher=None, distil_from_largest=True)
        loss_sum += step(images[rank * 8:rank * 8 + 8], labels[rank * 8:rank * 8 + 8],
                         7).loss_sum
        halves.append(gradients(supernet))
    for name, first in halves[0].items():
        if first is None and halves[1][name] is None:  # no candidate of the step used it
            assert all(rank["gradients"][name] is None for rank in ranks), name
            continue
        mean = (first + halves[1][name]) / 2
        assert torch.equal(ranks[0]["gradients"][name], ranks[1]["gradients"][name]), name
        torch.testing.assert_close(ranks[0]["gradients"][name], mean, msg=name)
    # The step's last candidate (the one whose backward pass synchronizes) leaves generators
    # that earlier candidates used without gradient: those were averaged too, above.
    last = candidate_sampler(space, seed=0).candidates(7)[-1]
    supernet = perturbed_supernet(space)
    supernet.set_active(last)
    F.cross_entropy(supernet(images), labels).backward()
    skipped = [name for name, grad in gradients(supernet).items()
               if grad is None and halves[0][name] is not None]
    assert any("generator" in name for name in skipped), last.summary()
    for rank in ranks:
        assert rank["result"][2] == 3 * 16  # seen: summed over the processes
        assert rank["result"][0] == pytest.approx(loss_sum, rel=1e-6)

    # train_supernet in the group: each process trains on its half of every batch (90 of the
    # 180 training images, 11 steps of 8) and ends with the same weights and numbers; only
    # the first writes checkpoints.
    first, second = (rank["history"][0] for rank in ranks)
    assert first["candidates_sampled"] == 90 // 8
    assert first == {**second, "epoch_seconds": first["epoch_seconds"]}
    assert ranks[0]["handed"] == [str(tmp_path / "run0" / "last")]
    assert ranks[1]["handed"] == [None]
    assert ranks[1]["checkpoint"] is None and not (tmp_path / "run1" / "last").exists()
    # Seeds: process i trains seed i alone (its own batches, candidates and weights), and
    # exactly as this process would train that seed.
    mine = train_supernet(space_of("data.subset=20", "train.epochs=1",
                                   "search.supernet.seeds=2"),
                          out_dir=tmp_path / "seed1-here", threads=1, seed_index=1)
    assert [rank["seeds"][0]["seed_index"] for rank in ranks] == [0, 1]
    assert ranks[0]["seeds"][0]["weights_checksum"] != ranks[1]["seeds"][0]["weights_checksum"]
    assert comparable(mine.history) == comparable(ranks[1]["seeds"])
    assert (tmp_path / "seeds1" / "last").is_dir()  # each seed's first process writes


# -- Ray Train ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_ray():
    ray = PrivateRay()
    yield ray
    ray.remove()


@pytest.mark.slow
def test_ray_train_resumes_a_killed_worker_and_matches_training_here(
        uniform_run, private_ray, tmp_path):
    space_file, run_dir = tmp_path / "space.yaml", tmp_path / "run"
    space_file.write_text(SPACE)
    driver = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "supernet_ray_driver.py"), str(space_file),
         str(run_dir), "--attempts", "2", "--again"],
        cwd=REPO, env=private_ray.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    from bnas.search.supernet_training import supernet_checkpoint

    deadline = time.monotonic() + 300  # until epoch 1's checkpoint is complete (not mid-copy)
    while (supernet_checkpoint(run_dir) is None and driver.poll() is None
           and time.monotonic() < deadline):
        time.sleep(0.05)
    killed = private_ray.kill("RayTrainWorker")
    in_time = not (run_dir / "supernet" / "epoch_0003").exists()
    stdout, stderr = driver.communicate(timeout=600)
    assert driver.returncode == 0, stdout[-3000:] + stderr[-3000:]
    assert killed and in_time, "the Ray Train worker was not killed mid-run"
    attempts = json.loads(stdout.strip().splitlines()[-1])["attempts"]

    assert attempts[0]["error"].startswith("supernet training failed: worker 0: ")
    final = run_dir / "supernet" / "epoch_0003"
    assert attempts[1] == {"error": None, "checkpoint": str(final)}
    assert "resuming after epoch 1" in stdout or "resuming after epoch 2" in stdout
    # A finished supernet is not trained again; a new run refuses to write over it.
    assert attempts[2] == {"error": None, "checkpoint": str(final)}
    assert attempts[3]["error"].endswith("already holds a supernet: resume the run, or start "
                                         "a new one")

    # One worker trains as a plain process does: the numbers of the run in this process.
    state = json.loads((final / "seed_0" / "trainer_state.json").read_text())
    assert comparable(state["history"]) == comparable(uniform_run.result.history)
    weights = load_file(str(final / "seed_0" / "model.safetensors"))
    expected = load_file(str(uniform_run.result.checkpoint / "model.safetensors"))
    assert all(torch.equal(weights[key], expected[key]) for key in expected)
    history = json.loads((run_dir / "supernet" / "history.json").read_text())
    assert [record["epoch"] for record in history] == [1, 2, 3]
    # an epoch whose report the kill cut off is recorded from the checkpoint (no workers)
    assert all(worker["node_ip"] == "127.0.0.1" for record in history
               for worker in record["workers"])
    assert [record["metrics"]["epoch"] for record in history] == [1, 2, 3]
    lines = [line for line in stdout.splitlines() if "supernet epoch" in line]
    assert lines[-1].endswith("1 worker on 127.0.0.1")
