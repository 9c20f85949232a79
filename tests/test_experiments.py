"""The experiments run end to end at a tiny scale and a rerun reproduces their numbers.

Each test takes the committed config of an experiment, swaps its data for scikit-learn's 8×8
digits (no files, a second per run) and runs the module at ``--scale 0.05`` (1 epoch, the
fewest seeds and trials) into tmp_path.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from experiments import (
    asha_vs_full,
    dysign_vs_rsign,
    latency_vs_ops,
    oneshot_vs_multitrial,
    search_vs_fixed,
    tpe_vs_random,
)
from experiments.common import ACCURACY_COLUMNS, CONFIGS, local_ray

DIGITS = {"name": "digits", "subset": 100, "augment": False, "val_fraction": 0.2}


def digits_config(name: str, tmp_path: Path) -> Path:
    """The committed config of ``name`` with digits as its only dataset."""
    config = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    if "datasets" in config:
        config["datasets"] = {"digits": DIGITS}
    else:
        config["space"]["data"] = DIGITS
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run(module, name: str, tmp_path: Path, out: str) -> dict:
    config = digits_config(name, tmp_path)
    return module.main(["--config", str(config), "--scale", "0.05", "--out", str(tmp_path / out)])


def assert_outputs(folder: Path, name: str) -> None:
    for file in ("results.md", "results.csv", "summary.csv", "meta.json", f"{name}.png"):
        assert (folder / file).is_file() and (folder / file).stat().st_size > 0, file
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["command"].startswith(f"python -m experiments.{name} --config ")
    assert meta["versions"]["torch"] and meta["code"]["commit"] and meta["machine"]["cores"]
    assert meta["wall_seconds"] > 0 and meta["seeds"]
    assert meta["command"] in (folder / "results.md").read_text()


def accuracy_columns(path: Path) -> list[tuple]:
    with path.open() as handle:
        return [tuple(row[c] for c in ("arm", "seed", *ACCURACY_COLUMNS))
                for row in csv.DictReader(handle)]


def test_dysign_vs_rsign_reruns_to_the_same_numbers(tmp_path):
    first = run(dysign_vs_rsign, "dysign_vs_rsign", tmp_path, "first")
    assert_outputs(tmp_path / "first", "dysign_vs_rsign")
    rows = first["rows"]
    assert {r["arm"] for r in rows} == set(dysign_vs_rsign.ARMS)
    assert {r["seed"] for r in rows} == {0, 1} and all(r["test_top1"] is not None for r in rows)
    # The parameter-matched control; ReActNet-A's tiny stem (16 channels, rounded to
    # multiples of 1 here) widens in steps of ~13 % parameters.
    for backbone, tolerance in (("binary_cct", 0.05), ("reactnet_a", 0.07)):
        params = {r["arm"]: r["params"] for r in rows if r["backbone"] == backbone}
        assert params["static"] < params["static_wide"]
        assert abs(params["static_wide"] / params["dynamic"] - 1) < tolerance, backbone
    assert "dynamic − static" in (tmp_path / "first" / "results.md").read_text()

    run(dysign_vs_rsign, "dysign_vs_rsign", tmp_path, "second")
    assert accuracy_columns(tmp_path / "first" / "results.csv") == accuracy_columns(
        tmp_path / "second" / "results.csv")


@pytest.mark.slow
def test_search_experiments_run_at_the_smallest_scale(tmp_path):
    with local_ray():  # one cluster for the five searches
        fixed = run(search_vs_fixed, "search_vs_fixed", tmp_path, "fixed")
        asha = run(asha_vs_full, "asha_vs_full", tmp_path, "asha")
        tpe = run(tpe_vs_random, "tpe_vs_random", tmp_path, "tpe")
    assert_outputs(tmp_path / "fixed", "search_vs_fixed")
    assert {r["arm"] for r in fixed["rows"]} == set(search_vs_fixed.ARMS)
    meta = fixed["meta"]
    assert meta["epochs"]["static_long"] == meta["epochs"]["static"] + round(
        meta["search"]["trial_epochs"] / len(meta["seeds"]))
    assert (tmp_path / "fixed" / "trials.csv").is_file()
    for result, name, reference in ((asha, "asha_vs_full", "full"),
                                    (tpe, "tpe_vs_random", "random")):
        assert_outputs(tmp_path / name.split("_")[0], name)
        ref = next(r for r in result["rows"] if r["variant"] == reference)
        assert ref["epochs_to_target"] is not None  # its own best is reached, by definition
        assert ref["epochs_to_target"] <= ref["trial_epochs"]


@pytest.mark.slow
def test_oneshot_vs_multitrial_runs_at_the_smallest_scale(tmp_path, monkeypatch):
    from private_ray import PrivateRay

    ray = PrivateRay()  # the experiment's Ray processes live, and end, under its temp dir
    monkeypatch.setenv("RAY_TMPDIR", ray.tmp)
    try:
        result = run(oneshot_vs_multitrial, "oneshot_vs_multitrial", tmp_path, "os")
    finally:
        ray.remove()
    folder = tmp_path / "os"
    assert_outputs(folder, "oneshot_vs_multitrial")
    for file in ("candidates.csv", "costs.csv", "comparisons.csv", "digits_candidates.csv",
                 "digits_summary.json"):
        assert (folder / file).is_file(), file
    rows = result["rows"]
    spread = [r for r in rows if r["part"] == "a"]
    assert {r["candidate"] for r in spread} >= {"all-static", "all-dynamic r=2",
                                                "all-dynamic r=16"}
    assert {r["seed"] for r in spread} == {0, 1}
    assert {r["arm"] for r in rows if r["part"] == "c"} == set(oneshot_vs_multitrial.ARMS)
    assert all(r["test_top1"] is not None for r in rows)
    (summary,) = result["summary"]
    assert summary["n"] == 4 and summary["oneshot_candidate_epochs"] > 0
    meta = result["meta"]
    budget = meta["budgets"]["digits"]
    assert meta["epochs"]["digits"]["static_long"] == 1 + round(budget / 2)
    text = (folder / "results.md").read_text()
    assert "noise ceiling" in text and "trainings (epochs)" in text


def test_supernet_fidelity_runs_at_the_smallest_scale(tmp_path):
    from experiments import supernet_fidelity

    config = yaml.safe_load((CONFIGS / "supernet_recipes.yaml").read_text())
    config["datasets"] = {"digits": {"data": DIGITS, "epochs": 1}}
    config["recipes"] = dict(list(config["recipes"].items())[:1])
    path = tmp_path / "supernet_fidelity.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = supernet_fidelity.main(["--config", str(path), "--scale", "0.05",
                                     "--out", str(tmp_path / "sf")])
    folder = tmp_path / "sf"
    assert_outputs(folder, "supernet_fidelity")
    for file in ("effects.csv", "candidates.csv", "arms.csv"):
        assert (folder / file).is_file(), file
    rows = result["rows"]
    arms = {r["arm"] for r in rows if r["part"] == "arm"}
    assert arms == {"all-static", "all-dynamic", *(f"block {i} alone" for i in range(4))}
    assert all(r["test_top1"] is not None for r in rows)
    summary = result["summary"]
    assert [row["recipe"] for row in summary] == list(config["recipes"])
    for row in summary:
        assert row["supernet_seeds"] == 2 and row["sites"] == 8
        assert 0 <= row["sites_agreeing"] <= 8 and row["winner_seeds"] == 2
        assert row["winner"].startswith("reactnet_a[")
        assert row["supernet_cpu_s"] > 0 and row["scoring_cpu_s"] > 0
    text = (folder / "results.md").read_text()
    assert "## Per-site effects" in text and "noise ceiling" in text


@pytest.mark.slow
def test_latency_vs_ops_runs_at_the_smallest_scale(tmp_path, monkeypatch):
    """Small tables (one generator setting, 8 px) keep it short; the committed config's
    figures come from bench-sized tables."""
    from private_ray import PrivateRay

    config = yaml.safe_load((CONFIGS / "latency_vs_ops.yaml").read_text())
    config["dataset"] = DIGITS
    config["latency_space"]["backbone"].update(preset="tiny", img_size=8, in_chans=1)
    config["latency_space"]["space"]["blocks"]["rd_ratio"] = [2]
    config["space"]["space"]["blocks"]["rd_ratio"] = [2]
    path = tmp_path / "latency_vs_ops.yaml"
    path.write_text(yaml.safe_dump(config))
    ray = PrivateRay()
    monkeypatch.setenv("RAY_TMPDIR", ray.tmp)
    try:
        result = latency_vs_ops.main(["--config", str(path), "--scale", "0.05", "--out",
                                      str(tmp_path / "lat")])
    finally:
        ray.remove()
    folder = tmp_path / "lat"
    assert_outputs(folder, "latency_vs_ops")
    for file in ("candidates.csv", "arms.csv", "latency_table_a.json", "latency_table_b.json",
                 "search_summary.json", "search_candidates.csv"):
        assert (folder / file).is_file(), file
    (summary,) = result["summary"]
    assert summary["candidates"] == 8 and -1 <= summary["tau_ops"] <= 1
    assert {r["arm"] for r in result["rows"]} >= {"all-static", "all-dynamic", "front 1"}
    assert all(r["test_top1"] is not None for r in result["rows"])
    budget = result["meta"]["budget"]
    assert result["meta"]["epochs"]["all-static"] == 1 + round(budget / 2)
    with (folder / "arms.csv").open() as handle:
        arms = list(csv.DictReader(handle))
    assert all(float(a["measured_ms"]) > 0 and float(a["predicted_ms"]) > 0 for a in arms)
    text = (folder / "results.md").read_text()
    assert "Kendall τ" in text and "measured ms" in text
