"""bnas.train and ``bnas train``: accuracy, reproducibility, resume, divergence, two-step, KD,
and bad input. A tiny ReActNet-A on scikit-learn's 8×8 digits (1 channel), one CPU thread."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bnas import Architecture, BnasError
from bnas.cli import build_parser, main
from bnas.train import TrainConfig, TrainingDiverged, comparable, train
from bnas.train.command import build_inputs

REPO = Path(__file__).resolve().parents[1]
ARCH = Architecture.uniform("reactnet_a", "static", preset="tiny")
# Small and quick: 40 images per class, 4 epochs of ~11 steps.
SMALL = {"data": {"name": "digits", "subset": 40, "augment": True}, "epochs": 4,
         "batch_size": 32, "lr": 1e-2, "threads": 1}
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def bnas(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bnas", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, env=ENV, timeout=120)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``bnas train`` of a tiny ReActNet-A on digits, as a user would type it."""
    out = tmp_path_factory.mktemp("cli") / "digits"
    proc = bnas("train", "--backbone", "reactnet_a", "--preset", "tiny", "--data", "digits",
                "--epochs", "3", "--batch-size", "32", "--lr", "0.01", "--no-augment",
                "--threads", "1", "--eval-test", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "val top-1" in proc.stdout
    return out


@pytest.fixture(scope="module")
def reference() -> list[dict]:
    """An uninterrupted run of SMALL with seed 0: what determinism and resume compare with."""
    return comparable(train(ARCH, TrainConfig.from_dict(SMALL), progress=False).history)


def test_cli_reaches_90_percent_on_digits(digits_run: Path) -> None:
    summary = json.loads((digits_run / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["val_top1"] >= 0.90
    assert summary["epochs"] == 3 and summary["seed"] == 0
    assert summary["final_val_top1"] == summary["history"][-1]["val_top1"]
    for key in ("seconds", "arch", "config", "bops", "flops", "ops", "size_mib",
                "params_binary", "params_real", "test_top1"):
        assert key in summary, key
    assert summary["arch"]["args"]["num_classes"] == 10  # filled from the data
    row = summary["history"][0]
    assert {"epoch", "train_loss", "val_loss", "val_top1", "val_top5", "lr", "epoch_seconds",
            "images_per_second"} <= set(row)
    assert "step" not in row
    for name in ("arch.yaml", "config.yaml", "best/model.safetensors", "best/arch.yaml",
                 "last/model.safetensors", "last/optimizer.safetensors",
                 "last/trainer_state.json"):
        assert (digits_run / name).is_file(), name
    assert any((digits_run / "tb").iterdir())


def test_same_seed_same_metrics_other_seed_differs(reference: list[dict]) -> None:
    again = train(ARCH, TrainConfig.from_dict(SMALL), progress=False)
    assert comparable(again.history) == reference
    other = train(ARCH, TrainConfig.from_dict({**SMALL, "seed": 1, "epochs": 1}),
                  progress=False)
    assert comparable(other.history)[0] != reference[0]


def test_killed_run_resumes_where_the_uninterrupted_run_ends(
    tmp_path: Path, reference: list[dict]
) -> None:
    out = tmp_path / "run"
    script = textwrap.dedent(f"""
        import os, signal
        from bnas import Architecture
        from bnas.train import TrainConfig, train
        def on_epoch(metrics, checkpoint):
            if metrics["epoch"] == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        train(Architecture.from_dict({ARCH.to_dict()!r}), TrainConfig.from_dict({SMALL!r}),
              out_dir={str(out)!r}, on_epoch=on_epoch, progress=False)
    """)
    proc = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    state = json.loads((out / "last" / "trainer_state.json").read_text())
    assert state["epoch"] == 2

    seen: list[int] = []
    resumed = train(ARCH, TrainConfig.from_dict(SMALL), out_dir=out, resume_from=out / "last",
                    on_epoch=lambda metrics, folder: seen.append(metrics["epoch"]),
                    progress=False)
    assert seen == [3, 4]
    assert comparable(resumed.history) == reference

    with pytest.raises(BnasError, match="already holds a training run"):
        train(ARCH, TrainConfig.from_dict(SMALL), out_dir=out, progress=False)
    with pytest.raises(BnasError, match="lr="):
        train(ARCH, TrainConfig.from_dict({**SMALL, "lr": 0.5}), out_dir=out,
              resume_from=out / "last", progress=False)


def test_init_weights_warm_starts_and_a_mismatch_is_one_line(
    tmp_path: Path, digits_run: Path
) -> None:
    # A learning rate too small to move the weights in one epoch: the epoch's accuracy is the
    # starting point's. From the trained run's weights it is high, from the seeded init chance.
    still = {**SMALL, "data": {**SMALL["data"], "augment": False}, "epochs": 1, "lr": 1e-9}
    weights = digits_run / "best" / "model.safetensors"
    cold = train(ARCH, TrainConfig.from_dict(still), progress=False)
    warm = train(ARCH, TrainConfig.from_dict(still), init_weights=weights, progress=False)
    assert cold.history[0]["val_top1"] < 0.4
    assert warm.history[0]["val_top1"] >= 0.85
    assert warm.extra["init_weights"] == str(weights)

    out = tmp_path / "cli"
    code = main(["train", "--backbone", "reactnet_a", "--preset", "tiny", "--data", "digits",
                 "--subset", "40", "--epochs", "1", "--lr", "1e-9", "--threads", "1",
                 "--no-progress", "--init-weights", str(weights), "--out", str(out)])
    assert code == 0
    assert json.loads((out / "summary.json").read_text())["val_top1"] >= 0.85

    dynamic = Architecture.uniform("reactnet_a", "dynamic", preset="tiny")
    with pytest.raises(BnasError, match=r"^init_weights: weights in .* do not fit") as error:
        train(dynamic, TrainConfig.from_dict(still), out_dir=tmp_path / "bad",
              init_weights=weights, progress=False)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "bad").exists()


def test_nan_loss_stops_the_run(tmp_path: Path) -> None:
    config = TrainConfig.from_dict({**SMALL, "lr": 1e6, "grad_clip": None})
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 1, step \d+") as info:
        train(ARCH, config, progress=False)
    assert info.value.result.status == "diverged"

    out = tmp_path / "nan"
    code = main(["train", "--backbone", "reactnet_a", "--data", "digits", "--subset", "40",
                 "--lr", "1e6", "--grad-clip", "0", "--epochs", "2", "--threads", "1",
                 "--no-progress", "--out", str(out)])
    assert code == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "diverged" and "loss became" in summary["error"]


def test_two_step_with_a_teacher(digits_run: Path) -> None:
    config = TrainConfig.from_dict(
        {**SMALL, "two_step": True, "teacher": str(digits_run), "kd_weight": 1.0}
    )
    result = train(Architecture.uniform("reactnet_a", "dynamic", preset="tiny"), config,
                   progress=False)
    assert result.status == "completed"
    assert [row["step"] for row in result.history] == ["1", "1", "2", "2"]
    assert result.best_epoch in (3, 4)  # only fully binary epochs compete
    assert "reactnet_a[S S S S]" in result.extra["teacher"]


def test_timm_teacher_with_checkpoint(tmp_path: Path) -> None:
    import timm
    from safetensors.torch import save_file

    from bnas.train.distillation import load_teacher

    model = timm.create_model("resnet10t", num_classes=10, in_chans=1)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(tmp_path / "t.safetensors"))
    teacher, text = load_teacher("timm:resnet10t", str(tmp_path / "t.safetensors"), 10, 1)
    assert text == "timm:resnet10t" and not teacher.training
    with pytest.raises(BnasError, match="do not fit"):
        load_teacher("timm:resnet10t", str(tmp_path / "t.safetensors"), 7, 1)
    with pytest.raises(BnasError, match="unknown timm model"):
        load_teacher("timm:no_such_net", None, 10, 1)


def test_config_file_form_and_rerunnable_config_yaml(tmp_path: Path, digits_run: Path) -> None:
    parser = build_parser()
    example = REPO / "experiments" / "configs" / "train_digits.yaml"
    arch, config, out = build_inputs(parser.parse_args(["train", str(example), "--seed", "3"]))
    assert config.seed == 3 and config.data.name == "digits"
    assert arch == Architecture.load(REPO / "architectures" / "reactnet_a_tiny_mixed.yaml")
    assert out.parts[:2] == ("runs", "train")

    arch, config, _ = build_inputs(parser.parse_args(["train", str(digits_run / "config.yaml")]))
    saved = json.loads((digits_run / "summary.json").read_text())
    assert arch.to_dict() == saved["arch"] and config.to_dict() == saved["config"]

    out = tmp_path / "from-file"
    assert main(["train", str(example), "--epochs", "1", "--subset", "20", "--threads", "1",
                 "--no-eval-test", "--no-progress", "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["epochs"] == 1


def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = bnas("train", "--backbone", "reactnet_a", "--data", "mnist", "--data-root",
                str(tmp_path / "missing"), "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.startswith("bnas: error: ") and proc.stderr.count("\n") == 1
    assert "mnist" in proc.stderr
    assert not out.exists()

    arch = tmp_path / "arch.yaml"
    ARCH.with_args(num_classes=3).save(arch)
    proc = bnas("train", "--arch", str(arch), "--data", "digits", "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.startswith("bnas: error: ") and proc.stderr.count("\n") == 1
    assert "args.num_classes: 3, but digits has 10 classes" in proc.stderr
    assert not out.exists()


def test_config_errors_name_the_field() -> None:
    with pytest.raises(BnasError, match=r"config: optimizer: unknown value 'lion'; valid: "):
        TrainConfig.from_dict({"data": {"name": "digits"}, "optimizer": "lion"})
    with pytest.raises(BnasError, match=r"data.subset: unknown key|data.subsets: unknown key"):
        TrainConfig.from_dict({"data": {"name": "digits", "subsets": 3}})
    with pytest.raises(BnasError, match="two_step needs epochs >= 2"):
        TrainConfig.from_dict({"data": {"name": "digits"}, "epochs": 1, "two_step": True})


# -- pieces of the recipe, against timm's implementations -------------------------------------


@pytest.mark.parametrize("backbone", ["reactnet_a", "react_resnet18", "binary_cct"])
def test_parameter_groups_equal_timms_with_binary_weights_excluded(backbone: str) -> None:
    from timm.optim import param_groups_weight_decay

    from bnas.models import build_model
    from bnas.nn import BinaryConv2d, BinaryLinear
    from bnas.train.optimizer import parameter_groups

    model = build_model(Architecture.uniform(backbone, "dynamic", preset="tiny"))
    binary = [f"{name}.weight" for name, module in model.named_modules()
              if isinstance(module, (BinaryConv2d, BinaryLinear))]
    ours = parameter_groups(model, 0.05)
    theirs = param_groups_weight_decay(model, 0.05, no_weight_decay_list=binary)
    assert binary and [group["weight_decay"] for group in ours] == [0.0, 0.05]
    assert ([(g["weight_decay"], [id(p) for p in g["params"]]) for g in ours]
            == [(g["weight_decay"], [id(p) for p in g["params"]]) for g in theirs])


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_learning_rate_decays_as_timms_schedulers(schedule: str) -> None:
    """After warm-up our decay is timm's cosine / poly(1) scheduler; during warm-up ours is
    timm's one step ahead (timm starts at warmup_lr_init = 0)."""
    import torch
    from timm.scheduler import CosineLRScheduler, PolyLRScheduler

    from bnas.train.schedule import learning_rate

    config = TrainConfig.from_dict({"data": {"name": "digits"}, "epochs": 5, "lr": 0.01,
                                    "warmup_epochs": 1.5, "schedule": schedule})
    steps_per_epoch, total, warmup = 7, 35, 10  # round(1.5 * 7) = 10: Python rounds to even
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=config.lr)
    kind, extra = (CosineLRScheduler, {}) if schedule == "cosine" else (PolyLRScheduler,
                                                                         {"power": 1.0})
    timm_schedule = kind(optimizer, t_initial=total - warmup, warmup_t=warmup,
                         warmup_prefix=True, t_in_epochs=False, **extra)

    def timm_lr(step: int) -> float:
        timm_schedule.step_update(step)
        return optimizer.param_groups[0]["lr"]

    for step in range(warmup, total):
        assert learning_rate(config, step, steps_per_epoch) == pytest.approx(timm_lr(step),
                                                                            rel=1e-12)
    assert timm_lr(0) == 0.0
    for step in range(warmup):
        assert learning_rate(config, step, steps_per_epoch) == pytest.approx(timm_lr(step + 1),
                                                                            rel=1e-12)


# -- the command line ---------------------------------------------------------------------------


def test_every_config_field_is_a_flag_with_help() -> None:
    from bnas.train.command import config_flags
    from bnas.train_config import DataConfig

    fields = {f"data.{name}": info for name, info in DataConfig.model_fields.items()}
    fields.update({name: info for name, info in TrainConfig.model_fields.items()
                   if name != "data"})
    flags = config_flags()
    assert {f"{f.section}.{f.field}" if f.section else f.field for f in flags} == set(fields)
    assert all(info.description for info in fields.values())
    assert {"--data", "--data-root", "--grad-clip", "--two-step"} <= {f.option for f in flags}

    given = ["--data", "mnist", "--data-root", "data/mnist", "--subset", "3", "--val-fraction",
             "0.2", "--img-size", "12", "--no-augment", "--epochs", "4", "--batch-size", "8",
             "--optimizer", "sgd", "--lr", "0.5", "--weight-decay", "0", "--momentum", "0.5",
             "--schedule", "linear", "--warmup-epochs", "1", "--label-smoothing", "0",
             "--grad-clip", "0", "--two-step", "--teacher", "timm:resnet10t",
             "--teacher-checkpoint", "t.safetensors", "--kd-weight", "2", "--kd-temperature",
             "3", "--seed", "7", "--threads", "2", "--eval-test", "--device", "cpu"]
    for flag in flags:  # a new field needs a value here
        assert flag.option in given or f"--no-{flag.option[2:]}" in given, flag.option
    _, config, _ = build_inputs(build_parser().parse_args(["train", "--backbone", "reactnet_a",
                                                           *given]))
    assert config.to_dict() == {
        "data": {"name": "mnist", "root": "data/mnist", "subset": 3, "val_fraction": 0.2,
                 "img_size": 12, "augment": False},
        "epochs": 4, "batch_size": 8, "optimizer": "sgd", "lr": 0.5, "weight_decay": 0.0,
        "momentum": 0.5, "schedule": "linear", "warmup_epochs": 1.0, "label_smoothing": 0.0,
        "grad_clip": None, "two_step": True, "teacher": "timm:resnet10t",
        "teacher_checkpoint": "t.safetensors", "kd_weight": 2.0, "kd_temperature": 3.0,
        "seed": 7, "threads": 2, "eval_test": True, "device": "cpu",
    }
