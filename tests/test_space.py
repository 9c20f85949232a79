"""Search spaces: located errors for bad files, sampling, counting, grids, `bnas validate`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

from bnas.architecture import Architecture
from bnas.errors import BnasError
from bnas.space import load_space, parse_space
from bnas.space.sampling import parameter_names
from bnas.train_config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
BAD = sorted((ROOT / "tests" / "bad_spaces").glob("*.yaml"))
READY = sorted((ROOT / "search_spaces").glob("*.yaml"))
HEADER = re.compile(r"^# line (\d+), expect: (.+)$")

optuna.logging.set_verbosity(optuna.logging.WARNING)

SMALL = """\
name: small
backbone: {name: reactnet_a, preset: tiny}
space:
  blocks:
    threshold: [static, dynamic]
    rd_ratio: [2, 4]
  overrides:
    0: {threshold: static}           # an int key: YAML reads it as 0
    "2-": {rd_ratio: 8, sites: [conv1x1]}
data: {name: digits}
train: {epochs: 3, lr: {loguniform: [1e-3, 1e-2]}, batch_size: {choice: [32, 64]}}
search: {algorithm: tpe, num_samples: 8, seed: 3}
"""


def _expectation(path: Path) -> tuple[int, str]:
    match = HEADER.match(path.read_text().splitlines()[0])
    assert match, f"{path.name}: first line must be '# line N, expect: ...'"
    return int(match[1]), match[2]


# -- bad files: one located line, exit 2, nothing written ---------------------------------------


def test_bad_corpus_is_large_enough() -> None:
    assert len(BAD) >= 15


@pytest.mark.parametrize("path", BAD, ids=[path.stem for path in BAD])
def test_bad_space_names_file_line_and_path(path: Path) -> None:
    line, expected = _expectation(path)
    with pytest.raises(BnasError) as caught:
        load_space(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line} "), message
    assert expected in message, message


def _one_error_line(path: Path, stderr: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"bnas: error: {path}:"), stderr
    assert _expectation(path)[1] in lines[0]


@pytest.mark.parametrize("path", BAD, ids=[path.stem for path in BAD])
def test_validate_exits_2_and_writes_nothing(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from bnas.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    _one_error_line(path, err)
    assert list(tmp_path.iterdir()) == []


# A sample through a real process (`python -m bnas`): each start costs ~0.4 s of CPU.
PROCESS_SAMPLE = ["syntax_error", "unknown_key", "rd_ratio_zero", "override_out_of_range",
                  "nsga2_one_objective", "grace_beyond_epochs", "duplicate_key", "empty_file"]


def test_validate_process_exits_2(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    paths = [ROOT / "tests" / "bad_spaces" / f"{name}.yaml" for name in PROCESS_SAMPLE]
    runs = [
        (path, subprocess.Popen(
            [sys.executable, "-m", "bnas", "validate", str(path)],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
        for path in paths
    ]
    for path, process in runs:
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 2, (path.name, stderr)
        assert stdout == ""
        _one_error_line(path, stderr)
    assert list(tmp_path.iterdir()) == []


# -- ready spaces -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", READY, ids=[path.stem for path in READY])
def test_ready_spaces_validate(path: Path) -> None:
    space = load_space(path)
    assert space.size() >= 2
    assert space.source_text == path.read_text()
    cheap, dear = space.extremes()
    assert cheap.num_dynamic_sites() <= dear.num_dynamic_sites()
    # a space written back as data parses to the same space
    again = parse_space(yaml.safe_dump(space.to_data()), source="again.yaml")
    assert again.to_data() == space.to_data()


def test_space_survives_pickling() -> None:
    """Ray ships the space to every trial process."""
    import pickle

    space = load_space(ROOT / "search_spaces" / "demo_digits.yaml")
    copy = pickle.loads(pickle.dumps(space))
    assert copy.source_text == space.source_text and copy.source == space.source
    assert copy.size() == space.size() and copy.search.scheduler.asha.metric == "val_top1"


def test_validate_prints_size_and_exits_0(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "bnas", "validate", "--no-ops",
         str(ROOT / "search_spaces" / "demo_digits.yaml")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "architectures 2,401" in result.stdout
    assert list(tmp_path.iterdir()) == []


ONESHOT = """\
name: oneshot
backbone: {name: reactnet_a, preset: tiny}
space: {blocks: {threshold: [static, dynamic], rd_ratio: [2, 4]}}
data: {name: digits}
train: {epochs: 6, batch_size: 32, lr: {loguniform: [1e-3, 1e-2]}}
search:
  strategy: oneshot
  scheduler: {asha: {grace_period: 2}}
  supernet: {sampling: sandwich, candidates_per_step: 3, workers: 2}
  evaluate: {candidates: 200, top_k: 2}
"""


def test_validate_shows_a_oneshot_plan_and_its_cost_in_candidate_epochs() -> None:
    """The supernet trains train.epochs by default; scoring recalibrates on 4 batches."""
    from bnas.space.command import describe

    rows = dict(describe(parse_space(ONESHOT, "oneshot.yaml")))
    assert rows["search"].startswith("oneshot: train one supernet, score candidates")
    assert rows["supernet"] == (
        "one supernet, 6 epochs, sandwich (largest, smallest and 1 fair), in-place "
        "distillation from the largest, 3 candidates per step: 18 candidate-epochs in all; "
        "2 workers each with 1 CPU + 0 GPU; sampled settings at their middle: train.lr 0.00316")
    assert rows["scoring"].startswith("200 candidates of 2,401 with inherited weights, "
                                      "BatchNorm re-estimated on 4 batches, ranked on the "
                                      "validation split")
    seeds = dict(describe(parse_space(ONESHOT.replace("workers: 2}", "workers: 2, seeds: 2}"),
                                      "seeds.yaml")))
    assert seeds["supernet"].startswith("2 supernets side by side (seeds 0..1), each 6 epochs")
    assert "36 candidate-epochs in all" in seeds["supernet"]
    assert "of every seed (the search follows their mean)" in seeds["scoring"]
    assert seeds["cost"].startswith("48 candidate-epochs")
    assert rows["retraining"].startswith("the top 2 stand-alone, 6 epochs each from scratch: "
                                         "12 candidate-epochs; ASHA on val_top1 (grace 2")
    assert rows["cost"] == ("30 candidate-epochs (supernet + retraining), against 6 for "
                            "training one candidate")
    assert "trials" not in rows
    pareto = dict(describe(parse_space(ONESHOT.replace("top_k: 2", "retrain: pareto"), "p.yaml")))
    assert pareto["retraining"].startswith("the Pareto set (its size is known after scoring)")
    assert pareto["cost"].startswith("18 candidate-epochs + 6 per Pareto candidate")


def test_cost_range_and_impossible_budget() -> None:
    from bnas.space.command import cost_range

    demo = (ROOT / "search_spaces" / "demo_digits.yaml").read_text()
    rows = dict(cost_range(parse_space(demo, "demo.yaml")))
    assert "reactnet_a[S S S S]" in rows["OPs"] and "reactnet_a[D2 D2 D2 D2]" in rows["OPs"]
    tight = demo.replace("  seed: 0\n", "  seed: 0\n  constraints: {max_ops: 100}\n")
    line = tight.splitlines().index("  constraints: {max_ops: 100}") + 1
    with pytest.raises(BnasError, match=rf"^demo.yaml:{line} search.constraints.max_ops: even"):
        cost_range(parse_space(tight, "demo.yaml"))


@pytest.mark.parametrize("backbone", ["reactnet_a", "react_resnet18", "binary_cct"])
def test_backbone_section_accepts_exactly_the_declared_arguments(backbone: str) -> None:
    from bnas.backbones import BACKBONES

    info = BACKBONES[backbone]
    declared = info.args_model.model_fields
    given = {name: field.default for name, field in declared.items()
             if name not in ("num_classes", "in_chans", "img_size", "stem")}
    space = parse_space(f"backbone: {json.dumps({'name': backbone, **given})}\n"
                        "data: {name: digits}\nsearch: {num_samples: 1}\n", "args.yaml")
    assert {k: v for k, v in space.backbone.args.items() if k in given} == given
    others = {name for other in BACKBONES.values() for name in other.args_model.model_fields}
    for name in sorted(others - set(declared)):
        with pytest.raises(BnasError, match=rf"backbone.{name}: {backbone} takes no '{name}'"):
            parse_space(f"backbone: {{name: {backbone}, {name}: 1}}\ndata: {{name: digits}}\n"
                        "search: {num_samples: 1}\n", "args.yaml")


def test_every_declared_dataset_has_a_reader_with_its_shape() -> None:
    from bnas.data import dataset_info
    from bnas.data._splits import REGISTRY
    from bnas.datasets import DATASETS

    assert tuple(REGISTRY) == tuple(DATASETS)
    for name, facts in DATASETS.items():
        if facts.num_classes is not None:
            info = dataset_info(name)
            assert (info.num_classes, info.in_chans, info.img_size) == (
                facts.num_classes, facts.in_chans, facts.img_size)


# -- YAML details -------------------------------------------------------------------------------


def test_yaml_conveniences_and_filled_backbone_args() -> None:
    space = parse_space(SMALL, "small.yaml")
    assert space.train.sampled["lr"].values == [1e-3, 1e-2]  # 1e-3 is a float, not a string
    assert space.backbone.args == {"preset": "tiny", "num_classes": 10, "in_chans": 1,
                                   "img_size": 8}
    blocks = space.blocks
    assert blocks[0].threshold == ("static",)
    assert blocks[1].rd_ratio == (2, 4) and blocks[1].sites == (
        "conv3x3", "conv1x1", "conv3x3+conv1x1")
    assert blocks[3].rd_ratio == (8,) and blocks[3].sites == ("conv1x1",)
    assert space.name == "small"
    assert parse_space(SMALL.replace("name: small\n", ""), "dir/other.yaml").name == "other"


# -- sampling -----------------------------------------------------------------------------------


def _ask(space, sampler, trials: int) -> list[optuna.trial.Trial]:
    study = optuna.create_study(direction="maximize", sampler=sampler)
    asked = []
    for index in range(trials):
        trial = study.ask()
        constants = space.define_by_run(trial)
        arch = space.architecture(trial.params)
        assert constants == {"arch": arch.summary(), "arch_id": arch.arch_id}
        try:
            study.tell(trial, float(index % 3))
        except RuntimeError:  # GridSampler stops the study after its last point (ask-and-tell)
            assert index == trials - 1
        asked.append(trial)
    return asked


def test_define_by_run_conditional_sites_overrides_valid() -> None:
    space = parse_space(SMALL, "small.yaml")
    trials = _ask(space, optuna.samplers.TPESampler(seed=0, n_startup_trials=5), 25)
    seen_kinds = set()
    for trial in trials:
        params = trial.params
        assert "b0.threshold" not in params  # override: block 0 only static
        assert "b3.rd_ratio" not in params and "b3.sites" not in params  # single choices
        for index in (1, 2, 3):
            kind = params[f"b{index}.threshold"]
            seen_kinds.add(kind)
            if index == 1:
                assert ("b1.rd_ratio" in params) == (kind == "dynamic")
                assert ("b1.sites" in params) == (kind == "dynamic")
        arch = space.architecture(params)
        assert Architecture.from_dict(arch.to_dict()) == arch
        assert all(t.kind == "static" for t in arch.blocks[0].values())
        for index, block in enumerate(arch.blocks):
            if params.get(f"b{index}.threshold") == "dynamic":
                dynamic = [site for site, t in block.items() if t.is_dynamic]
                assert dynamic, "a dynamic block covers at least one site"
                if index == 1:
                    assert "+".join(dynamic) == params["b1.sites"]
                    assert block[dynamic[0]].rd_ratio == params["b1.rd_ratio"]
                if index == 3:
                    assert dynamic == ["conv1x1"] and block["conv1x1"].rd_ratio == 8
        settings = space.train_settings(params)
        assert 1e-3 <= settings["lr"] <= 1e-2 and settings["batch_size"] in (32, 64)
        assert TrainConfig.from_dict(settings).data.name == "digits"
    assert seen_kinds == {"static", "dynamic"}


def test_define_by_run_is_deterministic_for_a_seed() -> None:
    space = parse_space(SMALL, "small.yaml")

    def run() -> list[dict]:
        return [t.params for t in _ask(space, optuna.samplers.TPESampler(seed=7), 8)]

    assert run() == run()


def test_parameter_names_cover_what_is_suggested() -> None:
    space = parse_space(SMALL, "small.yaml")
    names = set(parameter_names(space))
    for trial in _ask(space, optuna.samplers.RandomSampler(seed=1), 10):
        assert set(trial.params) <= names


def test_architecture_rejects_bad_params() -> None:
    space = parse_space(SMALL, "small.yaml")
    with pytest.raises(BnasError, match="missing 'b1.threshold'"):
        space.architecture({})
    params = {f"b{i}.threshold": "static" for i in (1, 2, 3)}
    assert space.architecture(params).summary() == "reactnet_a[S S S S]"
    with pytest.raises(BnasError, match="b1.rd_ratio = 3 is not a choice"):
        space.architecture({**params, "b1.threshold": "dynamic", "b1.rd_ratio": 3,
                            "b1.sites": "conv1x1"})
    with pytest.raises(BnasError, match="missing 'train.lr'"):
        space.train_settings(params)


def test_ray_optuna_search_define_by_run_contract() -> None:
    """Ray's OptunaSearch (no Ray cluster needed) hands back a config the space understands."""
    from ray.tune.search.optuna import OptunaSearch

    space = parse_space(SMALL, "small.yaml")
    searcher = OptunaSearch(space.define_by_run, metric="val_top1", mode="max",
                            sampler=optuna.samplers.RandomSampler(seed=0))
    for index in range(4):
        config = searcher.suggest(f"trial_{index}")
        assert all("." in key or key in ("arch", "arch_id") for key in config)  # still flat
        arch = space.architecture(config)
        assert config["arch_id"] == arch.arch_id
        assert space.train_settings(config)["lr"] == config["train.lr"]


# -- counting, enumerating, grids ---------------------------------------------------------------

GRID = """\
backbone: {name: reactnet_a, preset: tiny}
space:
  blocks:
    threshold: [static, dynamic]
    rd_ratio: [2, 4]
    sites: [[conv3x3], [conv3x3, conv1x1]]
    act: [relu, prelu]
  overrides:
    "0": {threshold: static}
    "3": {threshold: dynamic, rd_ratio: 2, act: relu}
  binarizer: [approx_sign, ste]
data: {name: digits}
train: {epochs: 2, lr: {choice: [1.0e-3, 3.0e-3]}, warmup_epochs: {int: [0, 1]}}
search: {algorithm: grid, seed: 0}
"""


def test_size_counts_without_enumerating() -> None:
    space = parse_space(GRID, "grid.yaml")
    # block 0: 1; blocks 1-2: 1 + 2 rd · 2 site sets · 2 act = 9; block 3: 2 site sets; ×2
    assert [block.count() for block in space.blocks] == [1, 9, 9, 2]
    assert space.size() == 1 * 9 * 9 * 2 * 2
    archs = list(space.enumerate())
    assert len(archs) == space.size() == len({arch.arch_id for arch in archs})
    assert space.hyperparameter_combinations() == 4
    assert space.search.num_samples == space.size() * 4  # whole grid by default


def test_grid_search_space_covers_every_architecture_once() -> None:
    assert set(parse_space(GRID, "grid.yaml").grid_search_space()) == {
        "b1", "b2", "b3", "binarizer", "train.lr", "train.warmup_epochs"}
    # a smaller grid to run through optuna (its GridSampler is quadratic in trials)
    text = GRID.replace("act: [relu, prelu]", "act: relu").replace(
        "  binarizer: [approx_sign, ste]\n", "")
    space = parse_space(text, "grid.yaml")
    grid = space.grid_search_space()
    assert set(grid) == set(parameter_names(space))
    assert grid["train.warmup_epochs"] == [0, 1] and grid["b3"] == [
        "dynamic sites=conv3x3", "dynamic sites=conv3x3+conv1x1"]
    assert space.search.num_samples == space.size() * 4 == 200
    sampler = optuna.samplers.GridSampler(grid, seed=0)
    trials = _ask(space, sampler, space.search.num_samples)
    combos = {(space.architecture(t.params).arch_id, t.params["train.lr"],
               t.params["train.warmup_epochs"]) for t in trials}
    assert len(combos) == space.search.num_samples
    assert {arch_id for arch_id, _, _ in combos} == {a.arch_id for a in space.enumerate()}


def test_grid_refuses_continuous_hyperparameters() -> None:
    space = parse_space(SMALL, "small.yaml")  # tpe: continuous lr is fine there...
    with pytest.raises(BnasError, match="train.lr is continuous"):
        space.grid_search_space()  # ...but it has no grid


def test_params_of_inverts_architecture() -> None:
    space = parse_space(SMALL, "small.yaml")
    for trial in _ask(space, optuna.samplers.RandomSampler(seed=2), 12):
        arch = space.architecture(trial.params)
        sampled = {k: v for k, v in trial.params.items() if not k.startswith("train.")}
        assert space.params_of(arch) == sampled
    grid = parse_space(GRID, "grid.yaml")
    for arch in grid.enumerate():
        assert grid.architecture(grid.params_of(arch)) == arch


def test_params_of_names_where_an_architecture_leaves_the_space() -> None:
    space = parse_space(SMALL, "small.yaml")
    args = space.backbone.args
    outside = {
        "b0.threshold = 'dynamic' is not a choice; valid: static":
            Architecture.uniform("reactnet_a", "dynamic", **args),
        "b1.rd_ratio = 16 is not a choice; valid: 2, 4": Architecture.from_dict(
            {"backbone": "reactnet_a", "args": args,
             "blocks": ["static", {"kind": "dynamic", "rd_ratio": 16}, "static", "static"]}),
        "b3.sites = 'conv3x3' is not a choice; valid: conv1x1": Architecture.from_dict(
            {"backbone": "reactnet_a", "args": args, "blocks": [
                "static", "static", "static",
                {"conv3x3": {"kind": "dynamic", "rd_ratio": 8}}]}),
        "block 1 gives its dynamic sites different generator settings": Architecture.from_dict(
            {"backbone": "reactnet_a", "args": args, "blocks": [
                "static", {"conv3x3": {"kind": "dynamic", "rd_ratio": 2},
                           "conv1x1": {"kind": "dynamic", "rd_ratio": 4}}, "static", "static"]}),
        "rprelu = 'dynamic' is not a choice": Architecture.from_dict(
            {"backbone": "reactnet_a", "args": args, "blocks": "static", "rprelu": "dynamic"}),
        "args": Architecture.uniform("reactnet_a", **(args | {"num_classes": 5})),
    }
    for message, arch in outside.items():
        with pytest.raises(BnasError, match=re.escape(message)) as error:
            space.params_of(arch)
        assert str(error.value).startswith(f"{arch.summary()} is not in the space small: ")
        assert "\n" not in str(error.value)


def test_set_errors_name_the_set_and_file_errors_keep_their_line() -> None:
    demo = ROOT / "search_spaces" / "demo_digits.yaml"
    cases = {
        "search.bogus=1": "search.bogus: unknown key 'bogus'; valid: ",
        "search.num_samples=0": "search.num_samples: 0 is not a positive integer",
        "name=../../esc": "name: '../../esc' must match",
        "name=" + "n" * 300: "name: 300 characters; at most 100",
        "search.max_failures=-1": "search.max_failures: -1 is not >= 0",
    }
    for override, message in cases.items():
        with pytest.raises(BnasError) as raised:
            load_space(demo, overrides=["train.epochs=2", override])
        assert str(raised.value).startswith(f"--set {override}: {message}"), str(raised.value)
    # a mistake in the file still names the file's line, even with --set values beside it
    text = demo.read_text().replace("max_concurrent: 2", "max_concurrent: 0")
    with pytest.raises(BnasError, match=r"^demo.yaml:\d+ search.max_concurrent: 0 is not"):
        parse_space(text, source="demo.yaml", overrides=["search.num_samples=3"])
    assert load_space(demo, overrides=["search.max_failures=0"]).search.max_failures == 0
    assert load_space(demo).search.max_failures == 2
