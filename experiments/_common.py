"""What every experiment shares: arguments, config, results folder, metadata, a parallel
runner of training runs, statistics, tables.

An experiment module defines ``main(argv) -> dict`` and runs as ``python -m experiments.NAME``.
The flow is always the same::

    exp = Experiment.start("dysign_vs_rsign", argv, __doc__)   # args, config, results folder
    rows = run_training(jobs, exp.workers)                       # 2 at a time, one line each
    exp.finish(markdown_body, rows, summary_rows)                 # md, csv, meta.json

Reproducibility: a training run is a pure function of its Architecture and TrainConfig
(:func:`bnas.train.train` reseeds everything from ``config.seed`` and runs deterministic CPU
kernels with one thread), so a rerun of an experiment with the same config, scale and seeds
gives the same accuracy columns, whatever the number of parallel workers.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import multiprocessing
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import yaml

from bnas.errors import BnasError

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "experiments" / "configs"
RESULTS = REPO / "experiments" / "results"
# Accuracy columns: a rerun with the same seeds must reproduce them exactly.
ACCURACY_COLUMNS = ("test_top1", "final_val_top1", "best_val_top1")


# -- arguments, config, scale -----------------------------------------------------------------


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Scale:
    """``--scale``: one multiplier on what an experiment's cost grows with.

    ``count(n, minimum)`` = max(minimum, round(n · factor)): images per class, epochs, seeds,
    trials. 1.0 is sized for ≤ 45 min on 2 cores; 0.05 is a smoke test.
    """

    def __init__(self, factor: float) -> None:
        if not factor > 0:
            raise BnasError(f"--scale: expected a positive number, got {factor}")
        self.factor = factor

    def count(self, n: int, minimum: int = 1) -> int:
        return max(minimum, int(round(n * self.factor)))


def relative_paths(data: Any) -> Any:
    """Paths under the repository's parent folder rewritten relative to the repository, so
    committed results name no folder of the machine that produced them."""
    if isinstance(data, str) and data.startswith(str(REPO.parent) + os.sep):
        return os.path.relpath(data, REPO)
    if isinstance(data, dict):
        return {key: relative_paths(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [relative_paths(value) for value in data]
    return data


def resolve_root(root: str | None) -> str | None:
    """A dataset root from a config: relative paths are relative to the repository root."""
    if root is None:
        return None
    path = Path(root).expanduser()
    return str(path if path.is_absolute() else (REPO / path).resolve())


def load_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise BnasError(f"{path}: no such experiment config")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise BnasError(f"{path}: not valid YAML ({type(error).__name__})") from None
    if not isinstance(data, dict):
        raise BnasError(f"{path}: expected a mapping of experiment settings")
    return data


# -- versions and machine ---------------------------------------------------------------------


def _version(package: str) -> str | None:
    try:
        return importlib_metadata.version(package)
    except importlib_metadata.PackageNotFoundError:
        return None


def git_commit() -> dict[str, Any]:
    """``git rev-parse --short HEAD`` and whether the code (bnas/, experiments/, bench/) has
    uncommitted changes."""

    def git(*args: str) -> str | None:
        try:
            return subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, check=True, timeout=20
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    changed = git("status", "--porcelain", "--", "bnas", ":(glob)experiments/*.py",
                  "experiments/configs", ":(glob)bench/*.py")
    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(changed),
            "changed_files": changed.splitlines() if changed else []}


def machine() -> dict[str, Any]:
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": available_cpus(), "cpu_count": os.cpu_count(), "cpu_model": cpu_model,
            "platform": platform.platform()}


def versions() -> dict[str, Any]:
    import bnas

    return {"python": platform.python_version(), "torch": _version("torch"),
            "bnas": bnas.__version__, "ray": _version("ray"), "optuna": _version("optuna"),
            "numpy": _version("numpy"), "scipy": _version("scipy")}


# -- the experiment's frame ---------------------------------------------------------------------


class Experiment:
    """Arguments, config and results folder of one run of an experiment; writes the outputs."""

    def __init__(self, name: str, argv: Sequence[str], args: argparse.Namespace,
                 config: dict[str, Any]) -> None:
        self.name = name
        self.args = args
        self.config = config
        self.scale = Scale(args.scale)
        self.out: Path = args.out
        self.workers: int = args.workers or int(config.get("workers") or available_cpus())
        self.seeds: list[int] = []
        self.notes: list[str] = []
        self.started = time.time()
        self.command = " ".join(["python -m", f"experiments.{name}", *map(shlex.quote, argv)])
        self.meta: dict[str, Any] = {}

    @classmethod
    def start(cls, name: str, argv: Sequence[str] | None, doc: str | None) -> Experiment:
        argv = list(sys.argv[1:] if argv is None else argv)
        parser = argparse.ArgumentParser(
            prog=f"python -m experiments.{name}", description=(doc or "").split("\n\n")[0],
        )
        parser.add_argument("--config", type=Path, default=CONFIGS / f"{name}.yaml",
                            help="experiment config (default: %(default)s)")
        parser.add_argument("--scale", type=float, default=1.0,
                            help="multiplier on images, epochs, seeds, trials (default 1.0)")
        parser.add_argument("--out", type=Path, default=RESULTS / name,
                            help="results folder (default: %(default)s)")
        parser.add_argument("--workers", type=int, default=None,
                            help="training runs at a time (default: config, else CPU cores)")
        args = parser.parse_args(argv)
        try:
            config = load_config(args.config)
            experiment = cls(name, argv, args, config)
        except BnasError as error:
            parser.exit(2, f"{parser.prog}: error: {error}\n")
        args.out.mkdir(parents=True, exist_ok=True)
        print(f"{name}: scale {args.scale}, {experiment.workers} run(s) at a time, "
              f"results in {relative_paths(str(args.out.resolve()))}", flush=True)
        return experiment

    def metadata(self) -> dict[str, Any]:
        try:
            config_file = str(self.args.config.resolve().relative_to(REPO))
        except ValueError:
            config_file = str(self.args.config)
        return relative_paths({
            "experiment": self.name,
            "command": self.command,
            "config_file": config_file,
            "config": self.config,
            "scale": self.scale.factor,
            "seeds": self.seeds,
            "workers": self.workers,
            "code": git_commit(),
            "versions": versions(),
            "machine": machine(),
            "started": datetime.fromtimestamp(self.started, UTC).isoformat(
                timespec="seconds"),
            "wall_seconds": round(time.time() - self.started, 1),
            **self.meta,
        })

    def header(self, meta: dict[str, Any], title: str) -> str:
        code, ver, mach = meta["code"], meta["versions"], meta["machine"]
        dirty = " + uncommitted changes" if code["dirty"] else ""
        seeds = ", ".join(map(str, meta["seeds"])) or "-"
        return "\n".join([
            f"# {title}",
            "",
            f"- command: `{meta['command']}` (config `{meta['config_file']}`, "
            f"scale {meta['scale']:g})",
            f"- code: bnas {ver['bnas']}, commit {code['commit']}{dirty}",
            f"- machine: {mach['cores']} cores ({mach['cpu_model']}), {mach['platform']}; "
            f"python {ver['python']}, torch {ver['torch']}, ray {ver['ray']}, "
            f"optuna {ver['optuna']}",
            f"- seeds: {seeds}; {meta['workers']} run(s) at a time, 1 torch thread each; "
            f"wall time {format_seconds(meta['wall_seconds'])}",
            "",
        ])

    def finish(self, title: str, body: str, rows: list[dict[str, Any]],
               summary: list[dict[str, Any]]) -> dict[str, Any]:
        """Write results.csv (one row per run), summary.csv, results.md and meta.json."""
        meta = self.metadata()
        write_csv(self.out / "results.csv", rows)
        write_csv(self.out / "summary.csv", summary)
        notes = "".join(f"\n> {note}\n" for note in self.notes)
        (self.out / "results.md").write_text(self.header(meta, title) + notes + "\n" + body)
        (self.out / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
        print(f"{self.name}: done in {format_seconds(meta['wall_seconds'])}; "
              f"{relative_paths(str((self.out / 'results.md').resolve()))}", flush=True)
        return {"meta": meta, "rows": rows, "summary": summary}


def format_seconds(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


# -- training runs in parallel ------------------------------------------------------------------


def train_job(job: dict[str, Any]) -> dict[str, Any]:
    """One :func:`bnas.train.train` run in a worker process; compact plain-data result.

    ``job``: ``arch`` (Architecture dict), ``config`` (TrainConfig dict, ``threads: 1``) and
    any other keys, returned unchanged. A failing run returns ``status: failed`` and its error
    instead of stopping the whole experiment.
    """
    from bnas.architecture import Architecture
    from bnas.train import TrainConfig, TrainingDiverged, train

    # A spawned process spawns its own children too: DataLoader workers (image folders) would
    # re-import torch at every epoch. Fork them, as a plain Linux process does.
    if "fork" in multiprocessing.get_all_start_methods():
        multiprocessing.set_start_method("fork", force=True)
    started = time.monotonic()
    keys = {k: v for k, v in job.items() if k not in ("arch", "config")}
    try:
        result = train(Architecture.from_dict(job["arch"]), TrainConfig.from_dict(job["config"]),
                       progress=False)
        status, error = result.status, None
    except TrainingDiverged as diverged:
        result, status, error = diverged.result, "diverged", str(diverged)
    except Exception as failure:  # noqa: BLE001 - reported per run, the others go on
        return {**keys, "status": "failed", "error": f"{type(failure).__name__}: {failure}",
                "seconds": round(time.monotonic() - started, 1)}
    cost = result.cost if result is not None else {}
    final = (result.final or {}) if result is not None else {}
    return {
        **keys,
        "status": status,
        "error": error,
        "arch_summary": result.arch.summary() if result is not None else None,
        "params": cost.get("params_binary", 0) + cost.get("params_real", 0),
        "generator_params": cost.get("generator_params"),
        "size_mib": cost.get("size_mib"),
        "ops": cost.get("ops"),
        "test_top1": (result.test or {}).get("top1") if result is not None else None,
        "final_val_top1": final.get("val_top1"),
        "best_val_top1": result.best_val_top1 if result is not None else None,
        "epochs": len(result.history) if result is not None else 0,
        "seconds": round(time.monotonic() - started, 1),
    }


def run_training(jobs: list[dict[str, Any]], workers: int,
                 label: Callable[[dict[str, Any]], str]) -> list[dict[str, Any]]:
    """Run ``jobs`` (see :func:`train_job`) ``workers`` at a time in spawned processes.

    Prints one line per finished run: its label, test accuracy, seconds, and an ETA
    (elapsed / finished × remaining: jobs are ordered so that each stretch mixes every kind).
    Results come back in job order.
    """
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    if not jobs:
        return []
    start = time.monotonic()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(jobs))),
                             mp_context=context) as pool:
        futures = {pool.submit(train_job, job): index for index, job in enumerate(jobs)}
        try:
            for done, future in enumerate(as_completed(futures), start=1):
                index = futures[future]
                result = future.result()
                results[index] = result
                elapsed = time.monotonic() - start
                eta = elapsed / done * (len(jobs) - done)
                outcome = (f"test_top1 {result['test_top1']:.4f}"
                           if result.get("test_top1") is not None
                           else f"{result['status']}: {result.get('error')}")
                print(f"[{format_seconds(elapsed):>8}] {done:>3}/{len(jobs)} "
                      f"{label(jobs[index])}  {outcome}  ({result['seconds']:.0f} s)  "
                      f"ETA {format_seconds(eta)}", flush=True)
        except KeyboardInterrupt:
            pool.shutdown(cancel_futures=True)
            raise
    return [result for result in results if result is not None]


# -- statistics ---------------------------------------------------------------------------------


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n − 1; NaN for n < 2)."""
    values = [float(v) for v in values]
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def compare(base: Sequence[float], other: Sequence[float], *, seed: int = 0,
            resamples: int = 10_000) -> dict[str, float]:
    """``other`` − ``base``, paired by position (= by seed).

    Returns the mean and sd of the paired differences d, the paired t-test's p-value
    (scipy.stats.ttest_rel) and its 95 % CI of the mean, d̄ ± t(0.975, n−1)·sd/√n, a 95 %
    percentile-bootstrap CI of the mean (``resamples`` draws of the n differences with
    replacement, seeded; narrower than the t CI for a handful of seeds) and Welch's unpaired
    t-test p-value (scipy.stats.ttest_ind, equal_var=False). NaN where n is too small or the
    differences have no spread.
    """
    import warnings

    import numpy as np
    from scipy import stats

    a, b = np.asarray(base, dtype=float), np.asarray(other, dtype=float)
    diff = b - a
    n = len(diff)
    out = {"n": n, "mean_diff": float(diff.mean()) if n else math.nan,
           "sd_diff": float(diff.std(ddof=1)) if n > 1 else math.nan,
           "p_paired": math.nan, "t_low": math.nan, "t_high": math.nan,
           "ci_low": math.nan, "ci_high": math.nan, "p_welch": math.nan}
    if n < 2:
        return out
    half = float(stats.t.ppf(0.975, n - 1)) * out["sd_diff"] / math.sqrt(n)
    out["t_low"], out["t_high"] = out["mean_diff"] - half, out["mean_diff"] + half
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: scipy warns and returns NaN
        out["p_paired"] = float(stats.ttest_rel(b, a).pvalue)
        out["p_welch"] = float(stats.ttest_ind(b, a, equal_var=False).pvalue)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    out["ci_low"], out["ci_high"] = (float(x) for x in np.percentile(means, [2.5, 97.5]))
    return out


COMPARISON_COLUMNS = {
    "dataset": "dataset", "backbone": "backbone", "comparison": "comparison",
    "delta": "Δ mean ± sd (pt)", "tci": "t CI (pt)", "bci": "bootstrap CI (pt)",
    "pp": "p (paired)", "pw": "p (Welch)", "w": "wins"}


def comparison_rows(comparisons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Comparisons formatted for :data:`COMPARISON_COLUMNS` (percentage points)."""

    def interval(low: float, high: float) -> str:
        return "-" if low != low else f"[{100 * low:+.2f}, {100 * high:+.2f}]"

    return [{**c, "delta": f"{100 * c['mean_diff']:+.2f} ± {pct(c['sd_diff'])}",
             "tci": interval(c["t_low"], c["t_high"]),
             "bci": interval(c["ci_low"], c["ci_high"]),
             "pp": pvalue(c["p_paired"]), "pw": pvalue(c["p_welch"]),
             "w": f"{c['wins']}/{c['n']}"} for c in comparisons]


def verdict(c: dict[str, Any], other: str, base: str) -> str:
    """Significant at 5 % by the paired t-test, or not."""
    if c["p_paired"] != c["p_paired"]:
        return "too few seeds to test"
    if c["p_paired"] >= 0.05:
        return f"no significant difference between {other} and {base} at this scale"
    better = other if c["mean_diff"] > 0 else base
    return f"{better} is better (paired p < 0.05)"


# -- tables -------------------------------------------------------------------------------------


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
    return path


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def markdown_table(rows: list[dict[str, Any]], columns: dict[str, str]) -> str:
    """``columns``: row key → header. Values are printed as they are (format them first)."""
    lines = ["| " + " | ".join(columns.values()) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(key, "")) for key in columns) + " |")
    return "\n".join(lines) + "\n"


def flow(data: Any) -> str:
    """Plain data as one line of YAML flow style: ``{name: reactnet_a, preset: tiny}``."""
    return yaml.safe_dump(data, default_flow_style=True, sort_keys=False, width=10**6).strip()


def pct(value: float | None, digits: int = 2) -> str:
    """A fraction as percent (0.8734 → '87.34'); '-' for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:.{digits}f}"


def pm(mean: float, sd: float, digits: int = 2) -> str:
    """'87.34 ± 0.52' (percent points)."""
    return f"{pct(mean, digits)} ± {pct(sd, digits)}"


def pvalue(p: float) -> str:
    if p is None or math.isnan(p):
        return "-"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def count(value: float | int | None) -> str:
    """12345 → '12.3 k', 1.2e6 → '1.20 M'."""
    if value is None:
        return "-"
    value = float(value)
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.0f}"


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# -- searches -----------------------------------------------------------------------------------


def build_space(sections: dict[str, Any], name: str) -> Any:
    """A :class:`bnas.space.SearchSpace` from a config's sections (validated by bnas.space)."""
    from bnas.space import parse_space

    data = {"name": name, **sections}
    if isinstance(data.get("data"), dict) and data["data"].get("root") is not None:
        data["data"] = {**data["data"], "root": resolve_root(data["data"]["root"])}
    return parse_space(yaml.safe_dump(data, sort_keys=False), source=f"{name} (experiment)")


def scaled_space(sections: dict[str, Any], scale: Scale) -> dict[str, Any]:
    """Scale a space's images per class, epochs and trials; ASHA's grace period stays ≤ epochs."""
    out = json.loads(json.dumps(sections))  # a deep copy of plain data
    data, train, search = out["data"], out.setdefault("train", {}), out.setdefault("search", {})
    if data.get("subset") is not None:
        data["subset"] = scale.count(int(data["subset"]), minimum=5)
    train["epochs"] = scale.count(int(train.get("epochs", 30)))
    search["num_samples"] = scale.count(int(search.get("num_samples", 8)), minimum=2)
    asha = (search.get("scheduler") or {}).get("asha") if isinstance(
        search.get("scheduler"), dict) else None
    if asha is not None:
        asha["grace_period"] = min(int(asha.get("grace_period", 1)), train["epochs"])
    return out


@contextlib.contextmanager
def local_ray() -> Iterator[None]:
    """One embedded Ray cluster on 127.0.0.1 for every search of an experiment.

    Searches inside reuse it (:func:`bnas.search.cluster.ray_session` sees Ray initialised)
    instead of starting and stopping a cluster each; it is shut down on exit.
    """
    from bnas.search.cluster import ray_session

    with ray_session():
        yield


def run_one_search(space: Any, storage: Path) -> dict[str, Any]:
    """:func:`bnas.search.run_search` into ``storage``, with its wall time and epoch timeline.

    Returns ``summary`` (summary.json as a dict), ``wall_seconds`` and ``events``: every epoch
    any trial finished, in completion order (see :func:`epoch_events`).
    """
    from bnas.search import run_search

    started = time.time()
    summary = run_search(space, storage=storage)
    wall = time.time() - started
    events = epoch_events(summary, Path(storage) / space.name, started)
    trial_epochs = sum(t["epochs_run"] for t in summary["trials"])
    return {"summary": summary, "wall_seconds": wall, "events": events,
            "trial_epochs": trial_epochs}


def epoch_events(summary: dict[str, Any], run_dir: Path, started: float) -> list[dict[str, Any]]:
    """Every reported epoch of every trained trial, ordered by when it finished.

    Trial ids are random (Ray's uuid-based ids), so they do not give an order. Each trial's
    ``result.json`` (one line per ``tune.report``) has ``timestamp`` (whole seconds) and
    ``time_total_s`` (seconds since the trial started, sub-millisecond); the trial's start is
    the midpoint of the interval every line allows (ts − total ≤ start < ts + 1 − total), and
    an epoch finished at start + time_total_s. ``seconds`` counts from ``started`` (just before
    :func:`bnas.search.run_search` was called).
    """
    events = []
    for trial in summary["trials"]:
        if trial["status"] not in ("completed", "stopped"):
            continue
        path = run_dir / trial["path"] / "result.json"
        if not path.is_file():
            continue
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        lines = [r for r in lines if r.get("feasible", True) and r.get("val_top1") is not None
                 and r.get("epoch") is not None]
        if not lines:
            continue
        low = max(r["timestamp"] - r["time_total_s"] for r in lines)
        high = min(r["timestamp"] + 1 - r["time_total_s"] for r in lines)
        start = (low + high) / 2
        for r in lines:
            events.append({"trial_id": trial["trial_id"], "arch": trial["arch_summary"],
                           "epoch": int(r["epoch"]), "val_top1": float(r["val_top1"]),
                           "seconds": start + r["time_total_s"] - started})
    events.sort(key=lambda e: (e["seconds"], e["trial_id"], e["epoch"]))
    return events


def reach(events: list[dict[str, Any]], target: float) -> dict[str, Any]:
    """Trial-epochs and seconds a search spent until some trial's val_top1 ≥ ``target``.

    The count is every epoch any trial finished up to and including that one (what the search
    had paid by then). ``None`` when the target was never reached.
    """
    for index, event in enumerate(events, start=1):
        if event["val_top1"] >= target - 1e-12:
            return {"epochs": index, "seconds": event["seconds"]}
    return {"epochs": None, "seconds": None}


def median(values: Sequence[float | None]) -> float | None:
    """Median, with None (never reached) counted as +infinity; None if that is the median."""
    import statistics

    ordered = [math.inf if v is None else float(v) for v in values]
    if not ordered:
        return None
    value = statistics.median(ordered)
    return None if math.isinf(value) else value


def search_race(exp: Experiment, variants: dict[str, dict[str, Any]],
                reference: str) -> dict[str, Any]:
    """Run the config's ``space`` once per variant and seed; time each to a common target.

    ``variants``: name → overrides of the ``search`` section (e.g. ``{"algorithm":
    "random"}``). For seed s every variant's sampler gets seed s; the target of seed s is the
    best val top-1 of the ``reference`` variant's search. Searches share one local Ray
    cluster, run one at a time, and alternate their order between seeds (the first search on a
    fresh cluster waits for worker processes). Returns per-search rows, per-variant medians
    and the epoch events.
    """
    import tempfile

    sections = scaled_space(exp.config["space"], exp.scale)
    exp.seeds = list(range(exp.scale.count(int(exp.config.get("seeds", 3)), minimum=1)))
    names = list(variants)
    rows, events = [], []
    with tempfile.TemporaryDirectory(prefix="bnas-exp-") as storage, local_ray():
        for seed in exp.seeds:
            order = names if seed % 2 == 0 else names[::-1]
            results = {}
            for variant in order:
                data = json.loads(json.dumps(sections))
                data["search"] = {**data["search"], **variants[variant], "seed": seed}
                space = build_space(data, f"{exp.name}-{variant}-s{seed}")
                print(f"seed {seed}, {variant}: {space.search.num_samples} trials × ≤ "
                      f"{space.epochs} epochs", flush=True)
                results[variant] = run_one_search(space, Path(storage))
            target = max(e["val_top1"] for e in results[reference]["events"])
            for variant in names:
                result = results[variant]
                reached = reach(result["events"], target)
                best = max((e["val_top1"] for e in result["events"]), default=None)
                rows.append({
                    "seed": seed, "variant": variant,
                    "trials": len(result["summary"]["trials"]),
                    "stopped": sum(t["status"] == "stopped" for t in result["summary"]["trials"]),
                    "trial_epochs": result["trial_epochs"],
                    "wall_seconds": round(result["wall_seconds"], 1),
                    "best_val_top1": best, "target_val_top1": target,
                    "epochs_to_target": reached["epochs"],
                    "seconds_to_target": None if reached["seconds"] is None
                    else round(reached["seconds"], 1),
                    "best_arch": (result["summary"].get("best") or {}).get("arch_summary"),
                })
                events += [{"seed": seed, "variant": variant, **e} for e in result["events"]]
                print(f"  seed {seed} {variant:<8} best {best:.4f}  target {target:.4f}  "
                      f"reached after {reached['epochs']} trial-epochs / "
                      f"{reached['seconds'] and round(reached['seconds'])} s "
                      f"(total {result['trial_epochs']} epochs, "
                      f"{result['wall_seconds']:.0f} s)", flush=True)
    medians = []
    for variant in names:
        mine = [r for r in rows if r["variant"] == variant]
        medians.append({
            "variant": variant, "seeds": len(mine),
            "reached": sum(r["epochs_to_target"] is not None for r in mine),
            "median_epochs_to_target": median([r["epochs_to_target"] for r in mine]),
            "median_seconds_to_target": median([r["seconds_to_target"] for r in mine]),
            "median_trial_epochs": median([r["trial_epochs"] for r in mine]),
            "median_wall_seconds": median([r["wall_seconds"] for r in mine]),
            "median_best_val_top1": median([r["best_val_top1"] for r in mine]),
        })
    exp.meta["space"] = sections
    return {"rows": rows, "medians": medians, "events": events, "sections": sections}


def plot_race(race: dict[str, Any], path: Path, title: str) -> None:
    """Best-so-far val top-1 against trial-epochs spent (left) and wall time (right)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    variants = list(dict.fromkeys(r["variant"] for r in race["rows"]))
    styles = ["-", "--", ":", "-."]
    for k, variant in enumerate(variants):
        for seed in sorted({r["seed"] for r in race["rows"]}):
            events = [e for e in race["events"] if e["variant"] == variant and e["seed"] == seed]
            best, xs, ts, ys = 0.0, [], [], []
            for index, event in enumerate(events, start=1):
                best = max(best, event["val_top1"])
                xs.append(index)
                ts.append(event["seconds"])
                ys.append(100 * best)
            label = f"{variant}" if seed == 0 else None
            for ax, x in zip(axes, (xs, ts)):
                ax.step(x, ys, where="post", color=f"C{k}", ls=styles[seed % len(styles)],
                        alpha=0.85, label=label)
    targets = sorted({r["target_val_top1"] for r in race["rows"]})
    for ax, xlabel in zip(axes, ("trial-epochs spent", "wall seconds since the search started")):
        for target in targets:
            ax.axhline(100 * target, color="0.6", lw=0.6, ls=":")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("best val top-1 so far (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, title="line style = seed", title_fontsize=7)
    lows = [100 * e["val_top1"] for e in race["events"]]
    if lows:
        for ax in axes:
            ax.set_ylim(max(min(100 * t for t in targets) - 15, min(lows)), None)
    fig.suptitle(title + " (dotted: each seed's target)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def race_tables(race: dict[str, Any]) -> str:
    """Per-search rows and per-variant medians as Markdown."""
    rows = [{**r, "b": pct(r["best_val_top1"]), "t": pct(r["target_val_top1"]),
             "e": r["epochs_to_target"] if r["epochs_to_target"] is not None else "not reached",
             "s": "-" if r["seconds_to_target"] is None else f"{r['seconds_to_target']:.0f}",
             "w": f"{r['wall_seconds']:.0f}"} for r in race["rows"]]
    text = markdown_table(rows, {
        "seed": "seed", "variant": "search", "trials": "trials", "stopped": "stopped early",
        "trial_epochs": "trial-epochs", "w": "wall s", "b": "best val top-1 %",
        "t": "target %", "e": "trial-epochs to target", "s": "seconds to target",
        "best_arch": "best architecture"})
    medians = [{**m, "e": "-" if m["median_epochs_to_target"] is None
                else f"{m['median_epochs_to_target']:g}",
                "s": "-" if m["median_seconds_to_target"] is None
                else f"{m['median_seconds_to_target']:.0f}",
                "te": f"{m['median_trial_epochs']:g}", "w": f"{m['median_wall_seconds']:.0f}",
                "b": pct(m["median_best_val_top1"]), "r": f"{m['reached']}/{m['seeds']}"}
               for m in race["medians"]]
    text += "\nMedians over seeds (a search that never reached its target counts as ∞):\n\n"
    text += markdown_table(medians, {
        "variant": "search", "r": "reached target", "e": "median trial-epochs to target",
        "s": "median seconds to target", "te": "median trial-epochs (whole search)",
        "w": "median wall s (whole search)", "b": "median best val top-1 %"})
    return text
