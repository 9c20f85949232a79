"""Measured latency as a cost: the latency table (record, file, checks), building and caching it
on the bit-packed model, its use by spaces, the sampler and ``bnas profile --latency``.

Tables here are timed for the fewest rounds (conftest's ``latency_cache``): the tests check what
is measured, cached, predicted and printed; how steady the numbers are is bench/latency_model.py's
business."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from bnas import Architecture, BnasError
from bnas.cli import main
from bnas.latency_table import LatencyDevice, LatencyTable, SiteExtra, SiteSetting, site_settings
from bnas.profile import latency_table, measure_networks
from bnas.profile._latency import _TABLES, cache_path
from bnas.space import parse_space

ROOT = Path(__file__).resolve().parents[1]
ARGS = {"preset": "tiny", "num_classes": 10, "in_chans": 1, "img_size": 8}
D2 = {"kind": "dynamic", "rd_ratio": 2}
DEVICE = LatencyDevice(cpu="Test CPU", isa=("avx2",), kernel="jit_avx2_u1", openvino="2026.4.1",
                       threads=1, precision="f32", runtime_precision="f32", batch=1)
SPACE = """
name: latency-test
backbone: {name: reactnet_a, preset: tiny, in_chans: 1, img_size: 8, num_classes: 10}
space:
  blocks: {threshold: [static, dynamic], rd_ratio: [2], sites: [conv1x1]}
  overrides: {"0-1": {threshold: static}}
data: {name: digits}
train: {epochs: 1, batch_size: 64, lr: 5.0e-3}
search:
  algorithm: nsga2
  objectives: {val_top1: max, latency_ms: min}
  num_samples: 4
"""


def arch_with(*dynamic: tuple[int, str], rprelu: str = "static") -> Architecture:
    blocks = [{site: D2 if (index, site) in dynamic else "static"
               for site in ("conv3x3", "conv1x1")} for index in range(4)]
    return Architecture.from_dict({"backbone": "reactnet_a", "args": ARGS, "rprelu": rprelu,
                                   "blocks": blocks})


def hand_table(**changes) -> LatencyTable:
    from bnas.latency_table import resolved_args

    data = {
        "device": DEVICE, "backbone": "reactnet_a", "args": resolved_args("reactnet_a", ARGS),
        "rounds": 5, "static_ms": {"static": 0.1}, "shared_ms": {"static": 0.002},
        "extras": (SiteExtra(block=2, site="conv1x1", threshold=D2, extra_ms=0.003),
                   SiteExtra(block=3, site="conv1x1", threshold=D2, extra_ms=0.004)),
    } | changes
    return LatencyTable(**data)


def one_error_line(capsys: pytest.CaptureFixture, *args: str) -> str:
    """``bnas ARGS`` (in this process) fails with one ``bnas: error:`` line and exit 2."""
    capsys.readouterr()
    code = main(list(args))
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bnas: error: "), err
    return lines[0]


# -- the record: prediction, file, validation ---------------------------------------------------


def test_table_predicts_static_plus_shared_plus_each_site(tmp_path: Path) -> None:
    table = hand_table()
    assert table.predict(arch_with()) == pytest.approx(0.1)  # no dynamic site: nothing shared
    assert table.predict(arch_with((2, "conv1x1"))) == pytest.approx(0.1 + 0.002 + 0.003)
    assert table.predict(arch_with((2, "conv1x1"), (3, "conv1x1"))) == pytest.approx(0.109)
    with pytest.raises(BnasError, match=r"lacks blocks\[0\]\.conv3x3 dynamic \(rd_ratio=2\)"):
        table.predict(arch_with((0, "conv3x3")))
    with pytest.raises(BnasError, match="all-static network with dynamic RPReLU"):
        table.predict(arch_with(rprelu="dynamic"))
    with pytest.raises(BnasError, match="other arguments: img_size=8 .here 32."):
        table.predict(arch_with().with_args(img_size=32))
    saved = table.save(tmp_path / "t.json")
    loaded = LatencyTable.load(saved)
    assert loaded == table and loaded.source == str(saved)
    assert site_settings(arch_with((3, "conv1x1"))) == [
        SiteSetting("static", 3, "conv1x1", arch_with((3, "conv1x1")).blocks[3]["conv1x1"])]


def test_table_record_needs_neither_torch_nor_openvino() -> None:
    code = ("import sys, bnas.latency_table, bnas.costs; "
            "assert not {'torch', 'openvino'} & set(sys.modules), 'imported'")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("damage", "expected"), [
    (lambda d: d["extras"][1].update(extra_ms="x"), r":\d+ extras\[1\]\.extra_ms: expected a"),
    (lambda d: d["extras"][0].update(block=9), r":\d+ extras\[0\]\.block: 9: reactnet_a with "
                                               "these args has 4 blocks"),
    (lambda d: d["extras"][0].update(threshold="static"), r":\d+ extras\[0\]\.threshold: a "
                                                          "static site adds nothing"),
    (lambda d: d["extras"].append(dict(d["extras"][0])), r":\d+ extras\[2\]: .* listed twice"),
    (lambda d: d["args"].pop("stem"), r":\d+ args: not resolved: missing stem"),
    (lambda d: d.update(format="other"), r":\d+ not a bnas latency table"),
    (lambda d: d["static_ms"].update(static=-1), r":\d+ static_ms\.static: -1.* not a positive"),
])
def test_damaged_table_is_one_located_line(tmp_path: Path, damage, expected: str) -> None:
    data = json.loads(hand_table().to_json())
    damage(data)
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data, indent=1))
    with pytest.raises(BnasError, match=rf"^{path}{expected}") as raised:
        LatencyTable.load(path)
    assert "\n" not in str(raised.value)
    path.write_text(hand_table().to_json()[:200])
    with pytest.raises(BnasError, match=rf"^{path}:\d+ not valid JSON"):
        LatencyTable.load(path)


# -- measuring, caching, given tables ---------------------------------------------------------


def test_table_is_measured_once_then_cached_and_extended(latency_cache: Path) -> None:
    lines: list[str] = []
    wanted = site_settings(arch_with((2, "conv1x1"), (3, "conv1x1")))
    table = latency_table("reactnet_a", ARGS, ["static"], wanted, progress=lines.append)
    target = cache_path("reactnet_a", ARGS, threads=1, precision="f32", batch=1)
    assert target.parent == latency_cache and table.source == str(target)
    assert "measuring 4 networks" in lines[0]  # all-static, two single sites, both together
    assert table.device.kernel.startswith("jit_") and table.device.kernel.endswith("_u1")
    assert table.device.threads == 1 and table.load_average is not None
    assert table.static_ms["static"] > 0 and len(table.extras) == 2

    _TABLES.clear()  # a new process: the cache holds it, nothing is measured
    lines.clear()
    again = latency_table("reactnet_a", ARGS, ["static"], wanted[:1], progress=lines.append)
    assert again == table and lines == []

    _TABLES.clear()  # one more setting: only that network is measured, the rest is kept
    more = site_settings(arch_with((1, "conv3x3")))
    extended = latency_table("reactnet_a", ARGS, ["static"], wanted + more,
                             progress=lines.append)
    assert "measuring 2 networks" in lines[0]  # the all-static reference and the new site
    assert extended.extras[:2] == table.extras and len(extended.extras) == 3
    assert extended.static_ms == table.static_ms and extended.shared_ms == table.shared_ms
    assert extended.seconds > table.seconds
    assert LatencyTable.load(target) == extended

    # Predicted and measured whole: the same network, priced alike (loose: a shared machine)
    arch = arch_with((1, "conv3x3"), (2, "conv1x1"), (3, "conv1x1"))
    measured, = measure_networks([arch], seconds=0)
    assert 0.5 < extended.predict(arch) / measured < 2.0


def test_given_table_is_checked_against_the_network(tmp_path: Path) -> None:
    path = hand_table().save(tmp_path / "edge.json")
    wanted = site_settings(arch_with((2, "conv1x1")))
    given = latency_table("reactnet_a", ARGS, ["static"], wanted, path=path)
    assert given.model_dump() == hand_table().model_dump() and given.source == str(path)
    with pytest.raises(BnasError, match="other arguments: img_size=8 .here 16."):
        latency_table("reactnet_a", {**ARGS, "img_size": 16}, ["static"], [], path=path)
    with pytest.raises(BnasError, match="is for reactnet_a, not react_resnet18"):
        latency_table("react_resnet18", ARGS, ["static"], [], path=path)
    with pytest.raises(BnasError, match="measured with threads 1, not 2"):
        latency_table("reactnet_a", ARGS, ["static"], [], path=path, threads=2)
    with pytest.raises(BnasError, match=r"lacks blocks\[0\]\.conv3x3 .* and 1 more: measure them "
                                        "on the target"):
        latency_table("reactnet_a", ARGS, ["static"],
                      site_settings(arch_with((0, "conv3x3"), (0, "conv1x1"))), path=path)


# -- search spaces and the sampler --------------------------------------------------------------


def test_space_prices_candidates_in_milliseconds() -> None:
    space = parse_space(SPACE + "  constraints: {max_latency_ms: 1000.0}\n", "s.yaml")
    assert space.search.uses_latency
    assert not parse_space(SPACE.replace(", latency_ms: min", ", size_mib: min"),
                           "s.yaml").search.uses_latency
    assert [(s.block, s.site) for s in space.latency_settings()] == [(2, "conv1x1"),
                                                                     (3, "conv1x1")]
    table = space.latency_table()
    low, high = space.latency_range(table)
    # the space's four candidates; a measured extra may be below zero (noise on a tiny net)
    candidates = [arch_with(*dynamic) for dynamic in (
        (), ((2, "conv1x1"),), ((3, "conv1x1"),), ((2, "conv1x1"), (3, "conv1x1")))]
    predicted = [table.predict(arch) for arch in candidates]
    assert (low, high) == pytest.approx((min(predicted), max(predicted)))

    from bnas.search.sampler import define_by_run, make_sampler

    study = optuna.create_study(directions=["maximize", "minimize"],
                                sampler=make_sampler(space))
    pickle.dumps(make_sampler(space))  # Ray Tune pickles the searcher: NSGA-II's lock too
    for _ in range(4):
        trial = study.ask()
        config = define_by_run(trial, space=space)
        arch = space.architecture(trial.params)
        assert config["cost"]["latency_ms"] == pytest.approx(table.predict(arch))
        assert trial.constraints == {
            "max_latency_ms": pytest.approx(config["cost"]["latency_ms"] / 1000.0 - 1.0)}
        study.tell(trial, [0.5, config["cost"]["latency_ms"]])


def test_validate_builds_the_table_and_refuses_a_bad_one(tmp_path: Path, capsys) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    assert main(["validate", str(space)]) == 0
    printed = capsys.readouterr().out
    assert " ms predicted, bit-packed on " in printed and "latency table " in printed

    space.write_text(SPACE + "  constraints: {max_latency_ms: 0.000001}\n")
    line = one_error_line(capsys, "validate", str(space))
    assert f"{space}:13 search.constraints.max_latency_ms: even the cheapest" in line

    hand_table(args={**hand_table().args, "img_size": 16}).save(tmp_path / "edge.json")
    space.write_text(SPACE + f"  latency: {{table: {tmp_path / 'edge.json'}}}\n")
    line = one_error_line(capsys, "validate", str(space))
    assert f"{space}:13 search.latency.table: {tmp_path / 'edge.json'}: the latency table was " \
           "measured for reactnet_a with other arguments: img_size=16 (here 8)" in line


def test_a_space_without_latency_never_imports_openvino() -> None:
    """What validate and the sampler do with a space: its cost range, a sampled candidate."""
    code = ("import sys, optuna; from bnas.space import load_space; "
            "from bnas.space.command import cost_range; "
            "from bnas.search.sampler import define_by_run; "
            "space = load_space('search_spaces/demo_digits.yaml'); "
            "assert space.latency_table() is None and cost_range(space); "
            "config = define_by_run(optuna.create_study().ask(), space=space); "
            "assert 'latency_ms' not in config['cost'] and 'ops' in config['cost']; "
            "assert 'openvino' not in sys.modules, 'openvino imported'")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr


# -- bnas profile --latency ---------------------------------------------------------------------


def test_profile_latency_of_a_space_and_of_an_architecture(tmp_path: Path, capsys) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    out = tmp_path / "edge" / "table.json"
    assert main(["profile", "--latency", str(space), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "blocks[2].conv1x1  rd_ratio=2" in printed and "space latency-test:" in printed
    table = LatencyTable.load(out)
    # searching elsewhere with that table measures nothing
    space.write_text(SPACE + f"  latency: {{table: {out}}}\n")
    _TABLES.clear()
    assert main(["validate", str(space)]) == 0
    assert "measuring" not in capsys.readouterr().out

    arch = tmp_path / "arch.yaml"
    arch_with((2, "conv1x1")).save(arch)
    assert main(["profile", "--latency", str(arch), "--table", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["predicted_ms"] == pytest.approx(table.predict(arch_with((2, "conv1x1"))))
    assert result["measured_ms"] > 0 and result["device"]["kernel"] == table.device.kernel
    assert main(["profile", "--latency", str(arch)]) == 0
    printed = capsys.readouterr().out
    for text in ("measured here", "by the latency table", "BinaryConvolution", "total"):
        assert text in printed, text


@pytest.mark.parametrize(("flags", "expected"), [
    (["--threads", "2"], "--threads applies only with --latency"),
    (["--latency", "--out", "t.json"], "--out writes a search space's latency table"),
    (["--latency", "--threads", "0"], "threads: expected a positive integer, got 0"),
    (["--latency", "--table", "missing.json"], "missing.json: no such latency table"),
])
def test_profile_latency_bad_flags(flags: list[str], expected: str, capsys) -> None:
    line = one_error_line(capsys, "profile", str(ROOT / "architectures/reactnet_a_tiny_mixed.yaml"),
                          *flags)
    assert expected in line, line
