"""bnas export: real trained trials → verified folders, ONNX parity, retrain config, bad input."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from search_run_fixture import build_run_dir, epoch_checkpoint

from bnas import Architecture, BnasError
from bnas.cli import main
from bnas.pareto import pareto_front
from bnas.search.summary import build_summary, write_summary

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_run_dir(tmp_path_factory.mktemp("export-runs") / "demo-digits")


@pytest.fixture(scope="session")
def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


@pytest.fixture(scope="session")
def exported(run_dir: Path) -> Path:
    assert main(["export", str(run_dir), "--best", "--onnx"]) == 0
    return run_dir / "export" / "best"


def _evaluate(arch: Architecture, weights: Path, train: dict) -> float:
    from bnas.data import load_splits, make_loader
    from bnas.models import build_model, load_model_weights
    from bnas.train.evaluation import evaluate

    data = train["data"]
    splits = load_splits(data["name"], data.get("root"), subset=data.get("subset"),
                         val_fraction=data.get("val_fraction", 0.1), seed=train["seed"])
    model = build_model(arch)
    load_model_weights(model, weights)
    loader = make_loader(splits.val, batch_size=64, shuffle=False)
    return evaluate(model, loader, torch.device("cpu"), splits.info.num_classes)["top1"]


def _copy_run(run_dir: Path, dest: Path) -> Path:
    shutil.copytree(run_dir, dest, ignore=shutil.ignore_patterns("export", "report"))
    return dest


def _weights_file(folder: Path) -> Path:
    """The file export loads: the best epoch's weights when the checkpoint has them."""
    best = folder / "best_model.safetensors"
    return best if best.is_file() else folder / "model.safetensors"


def _bnas(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bnas", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def _assert_one_line_error(result: subprocess.CompletedProcess, expected: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bnas: error: "), result.stderr
    assert expected in lines[0], lines[0]


# -- round trip ---------------------------------------------------------------------------------


def test_export_best_round_trip(exported: Path, summary: dict) -> None:
    import timm

    from bnas.profile import profile_architecture

    best = summary["best"]
    for name in ("arch.yaml", "model.safetensors", "model.onnx", "retrain.yaml",
                 "MODEL_CARD.md", "export.json", "sample_input.npy", "sample_logits.npy"):
        assert (exported / name).is_file(), name
    record = json.loads((exported / "export.json").read_text())
    assert record["trial"]["trial_id"] == best["trial_id"]
    assert record["onnx"]["max_abs_diff"] <= 1e-3 and record["onnx"]["opset"] >= 17
    assert set(record["files"]) >= {"arch.yaml", "model.safetensors", "model.onnx"}

    # arch.yaml: an Architecture, and a timm model with the trial's blocks.
    arch = Architecture.load(exported / "arch.yaml")
    assert arch.blocks == Architecture.from_dict(best["arch"]).blocks
    model = timm.create_model(f"bnas_{arch.backbone}", arch=str(exported / "arch.yaml"))
    assert model.arch == arch
    from bnas.train.command import add_arguments, build_inputs

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--arch", str(exported / "arch.yaml"), "--data", "digits"])
    assert build_inputs(args)[0] == arch  # bnas train --arch arch.yaml takes it as it is

    # The weights reproduce the recorded accuracy of the trial's best epoch; the cost is
    # unchanged.
    accuracy = _evaluate(arch, exported / "model.safetensors", best["config"]["train"])
    print(f"recorded {best['metrics']['val_top1']:.4f}, reloaded {accuracy:.4f}")
    assert abs(accuracy - best["metrics"]["val_top1"]) <= 0.001
    assert record["weights"]["source"].endswith("best_model.safetensors")
    assert record["verified"]["val_top1"] == pytest.approx(accuracy)
    assert profile_architecture(arch).ops == best["metrics"]["ops"]

    card = (exported / "MODEL_CARD.md").read_text()
    assert card.count("\n| 3 | ") == 1  # one row per block (4 blocks)
    assert f"{100 * best['metrics']['val_top1']:.2f} %" in card
    assert "bnas train" in card and "retrain.yaml" in card and "OPs" in card


def test_retrain_config_repeats_the_trial(exported: Path, summary: dict,
                                          tmp_path: Path) -> None:
    from bnas.train import train
    from bnas.train.command import add_arguments, build_inputs, load_reference

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([str(exported / "retrain.yaml"), "--out", str(tmp_path / "r")])
    arch, config, out = build_inputs(args)
    best = summary["best"]
    reference = load_reference(args)  # the search's number, printed beside the retrain's
    assert reference["val_top1"] == best["metrics"]["val_top1"]
    assert best["trial_id"] in reference["source"]
    assert arch == Architecture.load(exported / "arch.yaml")
    assert config.to_dict()["data"] == json.loads(
        (exported / "export.json").read_text())["train"]["data"]
    assert config.lr == best["config"]["train"]["lr"] and config.seed == 0
    assert config.threads == 1  # the trial's, from its checkpoint
    # Same seed, split, schedule and thread count: retraining repeats the trial exactly.
    result = train(arch, config, out_dir=out, progress=False)
    print(f"search {best['metrics']['val_top1']:.4f}, retrain {result.best_val_top1:.4f}")
    assert [row["val_top1"] for row in result.history] == [
        row["val_top1"] for row in best["history"]]
    # The --two-step form parses too.
    args = parser.parse_args([str(exported / "retrain.yaml"), "--two-step"])
    assert build_inputs(args)[1].two_step


def test_which_weights_are_exported(run_dir: Path, summary: dict, tmp_path: Path) -> None:
    """best_model.safetensors (best epoch) when present, checked against the checkpoint's
    best_val_top1; else model.safetensors (last epoch), checked against final_val_top1."""
    from bnas.export import export_run

    run = _copy_run(run_dir, tmp_path / "run")
    trials = {t["trial_id"]: t for t in summary["trials"]}
    # a1b2c_00000: an older checkpoint without best_model.safetensors.
    (run / trials["a1b2c_00000"]["checkpoint"] / "best_model.safetensors").unlink()
    # a1b2c_00001: its best is epoch 1 by the checkpoint, epoch 2 by summary.json (as a
    # two-step run's summary can say, counting a real-weight epoch of step 1).
    folder = run / trials["a1b2c_00001"]["checkpoint"]
    epoch1 = epoch_checkpoint(run_dir, "a1b2c_00001", 1)
    shutil.copyfile(epoch1 / "model.safetensors", folder / "best_model.safetensors")
    state = json.loads((folder / "trainer_state.json").read_text())
    epoch1_top1 = state["history"][0]["val_top1"]
    state.update(best_val_top1=epoch1_top1, best_epoch=1)
    (folder / "trainer_state.json").write_text(json.dumps(state))

    records = {r["trial"]["trial_id"]: r
               for r in export_run(run, mode="top-k", k=3, log=lambda line: None)}
    last = records["a1b2c_00000"]
    assert last["weights"]["source"].endswith("/model.safetensors")
    assert last["verified"]["reference_key"].startswith("metrics.final_val_top1")
    assert last["verified"]["val_top1"] == pytest.approx(
        trials["a1b2c_00000"]["metrics"]["final_val_top1"], abs=1e-3)
    best = records["a1b2c_00001"]
    assert best["weights"]["source"].endswith("best_model.safetensors")
    assert best["verified"]["val_top1"] == pytest.approx(epoch1_top1, abs=1e-3)
    if epoch1_top1 != trials["a1b2c_00001"]["metrics"]["val_top1"]:
        assert "summary.json says" in best["weights"]["note"]


def test_latency_of_a_search_reaches_the_model_card(run_dir: Path, summary: dict,
                                                   tmp_path: Path) -> None:
    """A run priced in milliseconds (a latency table): the export records the search's
    predicted latency_ms with the cost, and the model card shows it next to OPs."""
    from bnas.export import export_run

    run = _copy_run(run_dir, tmp_path / "run")
    record = json.loads((run / "summary.json").read_text())
    for trial in record["trials"]:
        trial["metrics"]["latency_ms"] = 0.1234
    record["best"]["metrics"]["latency_ms"] = 0.1234
    (run / "summary.json").write_text(json.dumps(record))
    exported, = export_run(run, mode="best", log=lambda line: None)
    assert exported["cost"]["latency_ms"] == pytest.approx(0.1234)
    card = (run / "export" / "best" / "MODEL_CARD.md").read_text()
    assert "| latency (bit-packed, predicted) | 0.1234 ms per image" in card


def test_export_top_k_and_pareto(run_dir: Path, summary: dict, tmp_path: Path) -> None:
    # Top 5 of a run with 3 trained trials: all 3, the stopped one included (its last
    # epoch's weights, checked against final_val_top1).
    assert main(["export", str(run_dir), "--top-k", "5", "--out", str(tmp_path / "k")]) == 0
    ranked = sorted((t for t in summary["trials"] if t["status"] in ("completed", "stopped")),
                    key=lambda t: -t["metrics"]["val_top1"])
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == ["top1", "top2", "top3"]
    for rank in (1, 2, 3):
        record = json.loads((tmp_path / "k" / f"top{rank}" / "export.json").read_text())
        assert record["trial"]["trial_id"] == ranked[rank - 1]["trial_id"]
    assert record["trial"]["status"] == "stopped"
    assert record["verified"]["val_top1"] == pytest.approx(ranked[2]["metrics"]["val_top1"],
                                                           abs=1e-3)

    # Exporting again replaces the export's files and keeps what else lives there.
    (tmp_path / "k" / "top1" / "retrain").mkdir()
    assert main(["export", str(run_dir), "--top-k", "1", "--out", str(tmp_path / "k")]) == 0
    assert (tmp_path / "k" / "top1" / "retrain").is_dir()
    assert not list((tmp_path / "k").glob(".*partial"))

    assert main(["export", str(run_dir), "--pareto", "--out", str(tmp_path / "p")]) == 0
    folders = sorted((tmp_path / "p").iterdir())
    ids = {json.loads((f / "export.json").read_text())["trial"]["trial_id"] for f in folders}
    assert ids == set(summary["pareto"])
    assert [f.name for f in folders] == [f"pareto{i}" for i in range(1, len(folders) + 1)]


# -- ONNX -------------------------------------------------------------------------------------


def _randomized(arch: Architecture) -> torch.nn.Module:
    """An untrained model with non-trivial weights: generators (zero-initialised) perturbed,
    BatchNorm statistics from a few forward passes."""
    from bnas.models import build_model

    torch.manual_seed(0)
    model = build_model(arch)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
        model.train()
        for _ in range(3):
            model(torch.randn(8, 3, 32, 32))
    return model.eval()


@pytest.mark.parametrize("threshold", ["static", "dynamic"])
@pytest.mark.parametrize("backbone", ["reactnet_a", "react_resnet18", "binary_cct"])
def test_onnx_parity_every_backbone(backbone: str, threshold: str, tmp_path: Path) -> None:
    from bnas.export.onnx_export import export_onnx, onnx_parity

    arch = Architecture.uniform(backbone, threshold, preset="tiny", num_classes=10, in_chans=3,
                                img_size=32)
    model = _randomized(arch)
    images = torch.randn(5, 3, 32, 32)
    path = export_onnx(model, images[:2], tmp_path / "model.onnx")  # traced with batch 2 ...
    parity, logits = onnx_parity(model, path, images)  # ... run with batch 5
    print(f"{backbone} {threshold}: max |ONNX - PyTorch| = {parity.max_abs_diff:.3g}")
    assert logits.shape == (5, 10)
    assert parity.ok and parity.max_abs_diff < 1e-4
    assert parity.top1_agree == 5


def test_onnx_runtime_needs_no_torch(exported: Path) -> None:
    code = (
        "import runpy, sys\n"
        "sys.argv = ['onnx_runtime', *sys.argv[1:]]\n"
        "try:\n"
        "    runpy.run_module('bnas.export.onnx_runtime', run_name='__main__')\n"
        "except SystemExit as stop:\n"
        "    code = stop.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(exported / "model.onnx"),
         str(exported / "sample_input.npy"), "--expect", str(exported / "sample_logits.npy")],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "top-1: " in result.stdout and ": OK" in result.stdout
    expected = np.load(exported / "sample_logits.npy").argmax(1)
    printed = result.stdout.split("top-1: ")[1].splitlines()[0].split()
    assert [int(c) for c in printed] == expected.tolist()

    from bnas.export.onnx_runtime import main as onnx_main

    # Logits are not an image batch; a missing model is no model: one line, exit 2.
    assert onnx_main([str(exported / "model.onnx"), str(exported / "sample_logits.npy")]) == 2
    assert onnx_main([str(exported / "nope.onnx"), str(exported / "sample_input.npy")]) == 2


# -- the bit-packed model (OpenVINO) ------------------------------------------------------------


@pytest.fixture(scope="session")
def deployed(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("openvino-export")
    assert main(["export", str(run_dir), "--best", "--openvino", "--out", str(out)]) == 0
    return out / "best"


@pytest.fixture(scope="session")
def digit_files(tmp_path_factory: pytest.TempPathFactory, summary: dict) -> list[tuple[Path, int]]:
    """A few validation digits of the best trial's split as 8-bit PNG files, with labels."""
    from PIL import Image

    from bnas.data import load_splits

    folder = tmp_path_factory.mktemp("digits")
    (folder / "nested").mkdir()
    splits = load_splits("digits", seed=summary["best"]["config"]["train"]["seed"])
    files = []
    for k in range(12):
        index = int(splits.val.indices[k])
        path = folder / ("nested" if k % 2 else ".") / f"digit{k:02d}.png"
        Image.fromarray(splits.val.pool.images[index, 0].numpy()).save(path)
        files.append((path.resolve(), int(splits.val.pool.targets[index])))
    (folder / "notes.txt").write_text("not an image")
    return files


def test_export_openvino(deployed: Path, summary: dict) -> None:
    from bnas.datasets import Preprocessing

    for name in ("model.xml", "model.bin", "model.onnx", "preprocessing.json"):
        assert (deployed / name).is_file(), name
    record = json.loads((deployed / "export.json").read_text())
    openvino = record["openvino"]
    check = openvino["check"]
    assert check["top1_agree"] == check["images"] == record["verified"]["val_images"]
    assert check["val_top1"] == pytest.approx(record["verified"]["val_top1"])
    assert check["max_abs_diff"] < 1e-4
    latency = openvino["latency"]
    assert all(latency[f"{key}_ms"] > 0 for key in ("bitpacked", "float_openvino",
                                                     "float_onnxruntime"))
    assert latency["binary_conv_kernels"] and all(
        kernel.endswith("_u1") for kernel in latency["binary_conv_kernels"])
    # 1 bit per binary weight: the IR's weights file is near the model's size in the cost model
    size = record["cost"]["size_mib"] * 2**20
    assert openvino["weights_bytes"] <= 1.2 * size
    assert set(record["files"]) >= {"model.xml", "model.bin", "preprocessing.json"}
    preprocessing = Preprocessing.load(deployed / "preprocessing.json")
    assert (preprocessing.channels, preprocessing.size, preprocessing.resize) == (1, 8, "stretch")
    assert preprocessing.labels == tuple(str(i) for i in range(10))
    card = (deployed / "MODEL_CARD.md").read_text()
    assert "bnas predict" in card and "| bit-packed (`model.xml`) | OpenVINO |" in card


def test_predict_without_torch(deployed: Path, digit_files: list[tuple[Path, int]]) -> None:
    """bnas predict in a process that never imports torch, on files and a folder; its
    classes are the exported PyTorch model's on the same validation images."""
    import timm  # noqa: F401  (registers the bnas models)
    from safetensors.torch import load_file

    from bnas.data import load_splits
    from bnas.models import build_model

    code = ("import sys\nfrom bnas.cli import main\ncode = main(sys.argv[1:])\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\nsys.exit(code)\n")
    folder = digit_files[0][0].parent
    result = subprocess.run(
        [sys.executable, "-c", code, "predict", str(deployed), str(folder), "--top-k", "2"],
        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(digit_files) + 1 and lines[-1].startswith("latency: ")
    printed = {Path(line.split(": ")[0]).resolve(): int(line.split(": ")[1].split()[0])
               for line in lines[:-1]}
    assert set(printed) == {path for path, _ in digit_files}  # the .txt is not an image
    arch = Architecture.load(deployed / "arch.yaml")
    model = build_model(arch)
    model.load_state_dict(load_file(str(deployed / "model.safetensors")))
    model.eval()
    splits = load_splits("digits", seed=0)
    with torch.no_grad():
        expected = model(torch.stack([splits.val[k][0] for k in range(len(digit_files))]))
    for k, (path, _) in enumerate(digit_files):
        assert printed[path] == int(expected[k].argmax())


def test_predict_bad_input(deployed: Path, digit_files: list[tuple[Path, int]],
                           tmp_path: Path, exported: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    def fails(expected: str, *args: str) -> None:
        capsys.readouterr()
        assert main(["predict", *args]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("bnas: error: "), lines
        assert expected in lines[0], lines[0]

    image = str(digit_files[0][0])
    fails("no such export folder", str(tmp_path / "nope"), image)
    fails("no model.xml", str(exported), image)  # exported without --openvino
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    fails("no image files", str(deployed), str(empty))
    fails("no such file or folder", str(deployed), str(tmp_path / "missing.png"))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    fails("cannot read image", str(deployed), str(broken))
    fails("--top-k", str(deployed), image, "--top-k", "0")
    damaged = tmp_path / "damaged"
    shutil.copytree(deployed, damaged)
    (damaged / "preprocessing.json").write_text('{"channels": 2}')
    fails("preprocessing.json", str(damaged), image)
    shutil.copy(deployed / "preprocessing.json", damaged / "preprocessing.json")
    (damaged / "model.xml").write_text("<net><layers>")
    fails("not a readable OpenVINO", str(damaged), image)


# -- selection ------------------------------------------------------------------------------------


def test_pareto_front_hand_made() -> None:
    points = [
        {"val_top1": 0.90, "ops": 100.0},  # 0: front (most accurate)
        {"val_top1": 0.80, "ops": 50.0},   # 1: front
        {"val_top1": 0.80, "ops": 60.0},   # 2: dominated by 1
        {"val_top1": 0.70, "ops": 10.0},   # 3: front (cheapest)
        {"val_top1": 0.60, "ops": 20.0},   # 4: dominated by 3
        {"val_top1": 0.95},                # 5: no OPs: never on the front
        {"val_top1": 0.80, "ops": 50.0},   # 6: duplicate of 1: kept
    ]
    assert pareto_front(points, {"val_top1": "max", "ops": "min"}) == [0, 1, 3, 6]
    assert pareto_front(points, {"val_top1": "max"}) == [5]


def test_selection_and_folder_names(summary: dict) -> None:
    from bnas.errors import BnasError
    from bnas.export import safe_name, select_trials

    assert safe_name("../../etc/passwd") == "etc_passwd"
    assert safe_name("top 1/../x") == "top_1_.._x"
    assert safe_name("...") == "trial"
    [best] = select_trials(summary, "best")
    assert best.name == "best" and best.trial.trial_id == summary["best"]["trial_id"]
    assert [c.name for c in select_trials(summary, "top-k", 10)] == ["top1", "top2", "top3"]
    with pytest.raises(BnasError, match="--top-k"):
        select_trials(summary, "top-k", 0)


# -- bad input: one line, exit 2 -----------------------------------------------------------


def test_no_finished_trial(summary: dict, tmp_path: Path) -> None:
    space = argparse.Namespace(name="broken", search=argparse.Namespace(
        objectives=summary["objectives"]))
    untrained = [t for t in summary["trials"] if t["status"] in ("failed", "infeasible")]
    write_summary(build_summary(space, untrained), tmp_path)
    _assert_one_line_error(_bnas("export", str(tmp_path)), "no finished trial to export")
    _assert_one_line_error(_bnas("export", str(tmp_path / "nope")), "no such run directory")


@pytest.mark.parametrize("damage", ["missing folder", "no checkpoint", "truncated", "tampered"])
def test_damaged_checkpoint(run_dir: Path, summary: dict, tmp_path: Path, damage: str) -> None:
    run = _copy_run(run_dir, tmp_path / "run")
    best = summary["best"]
    weights = _weights_file(run / best["checkpoint"])
    expected = {"missing folder": "is missing", "no checkpoint": "records no checkpoint",
                "truncated": "is truncated", "tampered": "corrupt"}[damage]
    if damage == "missing folder":
        shutil.rmtree(run / best["checkpoint"])
    elif damage == "no checkpoint":
        data = json.loads((run / "summary.json").read_text())
        for trial in [data["best"], *data["trials"]]:
            if trial["trial_id"] == best["trial_id"]:
                trial["checkpoint"] = None
        (run / "summary.json").write_text(json.dumps(data))
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:-100])
    else:
        raw = bytearray(weights.read_bytes())
        raw[8:24] = b"\xff" * 16  # garbage in the JSON header
        weights.write_bytes(bytes(raw))
    _assert_one_line_error(_bnas("export", str(run), "--onnx"), expected)
    assert not (run / "export").exists()


@pytest.mark.parametrize(("damage", "fault"), [
    ("trailing bytes", "is truncated or has trailing bytes"),
    ("not safetensors", "is truncated or not a safetensors file"),
    ("shape of another size", "is corrupt"),
])
def test_check_safetensors_names_the_fault(tmp_path: Path, damage: str, fault: str) -> None:
    from safetensors.numpy import save_file

    from bnas.reading import check_safetensors

    path = tmp_path / "w.safetensors"
    save_file({"w": np.zeros((3, 4), np.float32)}, str(path))
    check_safetensors(path, "trial t")
    raw = path.read_bytes()
    damaged = {"trailing bytes": raw + b"\0", "not safetensors": b"PK\x03\x04",
               "shape of another size": raw.replace(b"[3,4]", b"[3,5]")}[damage]
    assert damaged != raw
    path.write_bytes(damaged)
    with pytest.raises(BnasError) as error:
        check_safetensors(path, "trial t")
    assert str(error.value).startswith(f"trial t: {path} {fault} (")


def test_weights_of_another_architecture(run_dir: Path, summary: dict, tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    """A well-formed safetensors file that does not fit the model: one line, exit 2."""
    from safetensors.torch import save_file

    run = _copy_run(run_dir, tmp_path / "run")
    save_file({"weight": torch.zeros(3)}, str(_weights_file(run / summary["best"]["checkpoint"])))
    assert main(["export", str(run)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "do not fit the architecture" in error[0]
    assert not (run / "export" / "best").exists()


def test_weights_that_do_not_reproduce_the_accuracy(run_dir: Path, summary: dict,
                                                    tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    """Well-formed weights of the right shapes but the wrong values: caught by the check."""
    from safetensors.torch import load_file, save_file

    run = _copy_run(run_dir, tmp_path / "run")
    path = _weights_file(run / summary["best"]["checkpoint"])
    save_file({k: torch.zeros_like(v) for k, v in load_file(str(path)).items()}, str(path))
    assert main(["export", str(run)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "summary records" in error[0], error
    assert not (run / "export" / "best").exists()


def test_export_follows_no_link_out_of_the_run(run_dir: Path, summary: dict, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    """A planted ``export`` link, and a checkpoint folder or weights file that is a link out
    of the run: one line each, exit 2, nothing written where the links point."""
    run = _copy_run(run_dir, tmp_path / "run")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def refused(expected: str) -> None:
        assert main(["export", str(run)]) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and expected in error[0], error
        assert list(elsewhere.iterdir()) == []

    (run / "export").symlink_to(elsewhere)
    refused(f"export folder {run / 'export'} leads out of the run folder through a link (to "
            f"{elsewhere})")
    (run / "export").unlink()
    checkpoint = run / summary["best"]["checkpoint"]
    moved = tmp_path / "outside-checkpoint"
    checkpoint.rename(moved)
    checkpoint.symlink_to(moved)
    refused(f"summary.json trial {summary['best']['trial_id']} checkpoint {checkpoint} leads "
            "out of the run folder through a link")
    checkpoint.unlink()
    checkpoint.mkdir()
    for name in ("trainer_state.json", "model.safetensors", "best_model.safetensors"):
        if (moved / name).exists():
            shutil.copyfile(moved / name, checkpoint / name)
    weights = _weights_file(checkpoint)
    weights.unlink()
    weights.symlink_to(_weights_file(moved))
    refused(f"summary.json trial {summary['best']['trial_id']} weights {weights} leads out of "
            "the run folder through a link")
    assert not (run / "export").exists()
