"""bench/: the step-time, candidate-cost and candidate-evaluation benchmarks run, a plain
training times itself in its own process (the machine's concurrency limit), and the combined
table judges every target."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import cost_model  # noqa: E402
import deploy  # noqa: E402
import latency_model  # noqa: E402
import run_all  # noqa: E402
import scoring_cost  # noqa: E402
import search_overhead  # noqa: E402
import step_time  # noqa: E402
import supernet_step  # noqa: E402


@pytest.fixture(scope="module")
def step_results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "step.json"
    result = step_time.main(["--preset", "tiny", "--rounds", "1", "--steps", "1",
                             "--batch-size", "8", "--threads", "1", "--json", str(out)])
    assert json.loads(out.read_text())["ratios"] == pytest.approx(result["ratios"])
    return result


def test_step_time_measures_every_target(step_results: dict) -> None:
    ratios = step_results["ratios"]
    assert set(ratios) == set(step_time.TARGETS)
    assert all(math.isfinite(value) and value > 0 for value in ratios.values())
    # DySign's generators add parameters; nothing else differs between the two networks.
    assert 1.0 < ratios["dynamic/static params"] < 1.5


@pytest.fixture(scope="module")
def supernet_results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "supernet.json"
    result = supernet_step.main(["--preset", "tiny", "--img-size", "8", "--rounds", "1",
                                 "--steps", "1", "--batch-size", "8", "--threads", "1",
                                 "--json", str(out)])
    assert json.loads(out.read_text())["ratios"] == pytest.approx(result["ratios"])
    return result


def test_supernet_step_times_every_variant(supernet_results: dict) -> None:
    assert set(supernet_results["ratios"]) == set(supernet_step.TARGETS)
    for clock in ("cpu", "wall"):
        assert set(supernet_results["seconds_per_step"][clock]) == {
            "all-dynamic", "supernet, largest", "supernet, sampled"}
    assert all(math.isfinite(value) and value > 0
               for value in supernet_results["ratios"].values())
    assert supernet_results["largest"] == "reactnet_a[D4 D4 D4 D4]"


def test_table_has_every_target_and_judges_its_direction(step_results: dict,
                                                        supernet_results: dict) -> None:
    overhead = dict(search_overhead.TARGETS)
    overhead["2 concurrent / 1 (trials/h)"] = 1.2  # below its floor of 1.8
    overhead["search / plain time"] = 3.0  # above its ceiling of 1.25
    overhead["seconds to first result"] = float("nan")  # not measured
    rows = run_all.table({"step_time": step_results, "supernet_step": supernet_results,
                          "search_overhead": {"ratios": overhead}})

    by_key = {row["key"]: row for row in rows}
    assert set(by_key) == (set(step_time.TARGETS) | set(supernet_step.TARGETS)
                           | set(search_overhead.TARGETS))
    assert by_key["2 concurrent / 1 (trials/h)"]["ok"] is False
    assert by_key["2 concurrent / 1 (trials/h)"]["target"] == "≥ 1.8"
    assert by_key["search / plain time"]["ok"] is False
    assert by_key["search / plain time"]["target"] == "≤ 1.25"
    assert by_key["seconds to first result"]["ok"] is None
    assert by_key["2 concurrent / 1, after start-up"]["ok"] is True  # exactly on target
    # The machine's own 2-vs-1 ratio is shown for comparison, not judged.
    assert by_key["machine: 2 plain trainings at once / 1"]["target"] == "-"
    assert by_key["machine: 2 plain trainings at once / 1"]["ok"] is None
    assert by_key["2 concurrent / 1 ÷ the machine's"]["target"] == "≥ 0.95"


def test_candidate_cost_is_measured_exactly_for_every_backbone(tmp_path: Path) -> None:
    out = tmp_path / "cost.json"
    result = cost_model.main(["--candidates", "2", "--json", str(out)])
    assert json.loads(out.read_text())["ratios"] == pytest.approx(result["ratios"])
    assert set(result["ratios"]) == set(cost_model.TARGETS)
    for row in result["backbones"].values():
        assert row["exact"] == row["candidates"] == 2
        assert 0 < row["parts_known_ms"] < row["before_ms"]
    rows = run_all.table({"cost_model": result})
    assert [row["target"] for row in rows] == ["≤ 10"] * 3


def test_a_plain_training_times_itself_in_its_own_process() -> None:
    from bnas.architecture import Architecture

    arch = Architecture.uniform("reactnet_a", "dynamic", preset="tiny", num_classes=10,
                                in_chans=1, img_size=8)
    trial = {"arch": arch.to_dict(), "config": {"train": {
        "data": {"name": "digits", "subset": 4}, "epochs": 1, "batch_size": 16}}}
    assert 0 < search_overhead.plain_trainings_at_once(trial, 1) < 60


def test_scoring_cost_measures_its_passes_and_judges_its_share(tmp_path: Path) -> None:
    out = tmp_path / "scoring.json"
    result = scoring_cost.main(["--space", "digits", "--candidates", "8", "--no-ray",
                                "--json", str(out)])
    assert json.loads(out.read_text())["ratios"] == pytest.approx(result["ratios"])
    scoring = result["scoring"]
    assert scoring["calibration_cpu"] > 0 and scoring["ranking_cpu"] > 0
    assert scoring["functions"] <= scoring["distinct"] <= 8
    assert all(math.isfinite(v) and v > 0 for v in result["ratios"].values())
    rows = run_all.table({"scoring_cost": result})
    judged = {row["key"]: row for row in rows if row["target"] != "-"}
    assert set(judged) == {"scoring / supernet, CPU per seed", "search / supernet, CPU per seed"}
    assert judged["search / supernet, CPU per seed"]["measured"] is None  # --no-ray
    share = judged["scoring / supernet, CPU per seed"]
    assert share["ok"] == (share["measured"] <= 0.25)


def test_space_validation_is_timed_and_judged(tmp_path: Path) -> None:
    import space_validation

    out = tmp_path / "space.json"
    result = space_validation.main(["--choices", "2000", "--json", str(out)])
    assert json.loads(out.read_text())["ratios"] == pytest.approx(result["ratios"])
    assert set(result["ratios"]) == set(space_validation.TARGETS)
    assert all(value > 0 for value in result["ratios"].values())
    rows = {row["key"]: row for row in run_all.table({"space_validation": result})}
    assert rows["grid of 3.3e13 points: refused (s)"]["target"] == "≤ 2"
    assert rows["large space: PyYAML SafeLoader parse alone (s)"]["target"] == "-"


def test_deploy_bench_judges_every_target(tmp_path: Path) -> None:
    """bench/deploy.py on tiny networks: every target measured, every model timed in the
    precision that really ran, the IR's weights near the cost model's size."""
    out = tmp_path / "deploy.json"
    result = deploy.main(["--quick", "--threads", "1", "--json", str(out)])
    assert json.loads(out.read_text())["ratios"] == pytest.approx(result["ratios"])
    assert set(deploy.TARGETS) <= set(result["ratios"])
    assert all(math.isfinite(v) and v > 0 for v in result["ratios"].values())
    timing = result["timings"]["reactnet_a, 1 thread(s)"]
    assert {"static bit-packed f32", "dynamic ONNX Runtime", "static OpenVINO bf16"} <= set(timing)
    assert timing["static bit-packed f32"]["runtime_precision"] == "f32"
    assert all(kernel.endswith("_u1") for kernel in timing["kernels"])
    assert 0.8 < result["ratios"]["IR model.bin / size_mib"] < 1.2
    assert {row["in"] for row in result["layers"]} == {16, 32, 64}


def test_latency_model_bench_compares_predictions_with_measurements(tmp_path: Path,
                                                                     monkeypatch) -> None:
    monkeypatch.setattr(latency_model, "GENERATORS", "rd_ratio: [4]")  # a small table
    out = tmp_path / "latency.json"
    result = latency_model.main(["--candidates", "3", "--seconds", "0", "--backbones",
                                 "react_resnet18 tiny", "--json", str(out)])
    assert json.loads(out.read_text())["ratios"] == pytest.approx(result["ratios"])
    row = result["backbones"]["react_resnet18 tiny"]
    assert row["candidates"] == len(row["rows"]) == 3
    assert row["table_networks"] == 1 + 6 + 1 and row["table_sites"] == 6
    assert row["kernel"].endswith("_u1") and row["table_seconds"] > 0
    for measured in row["rows"]:
        assert measured["measured_ms"] > 0 and measured["predicted_ms"] > 0
    assert 0.0 <= result["ratios"]["react_resnet18 tiny within ±10 %"] <= 1.0
    assert 0.0 <= row["within_drift_corrected"] <= 1.0 and row["drift"]["static"] > 0
