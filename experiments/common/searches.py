"""One search inside an experiment: its space from the config's sections, scaled; a local
Ray cluster shared by an experiment's searches; the search's cost and epoch timeline."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from bnas.run_record import is_trained
from experiments.common.frame import Scale, resolve_root


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
        if not is_trained(trial["status"]):
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



def random_candidates(space: Any, count: int, seed: int) -> list[Any]:
    """``count`` distinct architectures of ``space`` drawn uniformly over its architectures
    (the supernet's sampler), seeded."""
    import random

    from bnas.supernet import CandidateSampler

    sampler, rng, found = CandidateSampler(space, seed=seed), random.Random(seed), {}
    for _ in range(100 * count):
        arch = sampler.random(rng)
        found.setdefault(arch.arch_id, arch)
        if len(found) == count:
            break
    return list(found.values())
