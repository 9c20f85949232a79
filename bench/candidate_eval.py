"""Throughput of a one-shot search's candidate evaluation, in candidates per second per core.

1. **one process**: :class:`bnas.supernet.scoring.CandidateScorer` scores random candidates of
   the space's supernet (BatchNorm recalibrated on ``bn_batches`` training batches, then the
   validation split) with 1 torch thread: what one core does when nothing else runs;
2. **the search on Ray**: :func:`bnas.search.candidates.search_candidates` with ``workers``
   Ray actors of 1 CPU each (random sampler, budgets checked, every candidate told to Optuna
   and appended to the journal): candidates per second of the whole loop, after the actors
   have started, and per core. Its ratio to ``workers`` × the one-process rate is what the
   loop (asking, costing, Ray calls, telling) leaves of the actors' work; below 1 on a
   machine with ``workers`` cores also because the driver shares them.

The supernet is trained for one epoch first (the rates do not depend on its weights); the
actors' start-up (each loads the supernet and the data once) is reported apart.

    python bench/candidate_eval.py [--candidates 96] [--workers 2] [--no-ray] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SPACE = REPO / "search_spaces" / "oneshot_demo.yaml"
# Figures without a target: shown beside the judged ones, not judged.
TARGETS: dict[str, float | None] = {
    "scoring, one process (candidates/s per core)": None,
    "search on Ray (candidates/s)": None,
    "search on Ray (candidates/s per core)": None,
    "search on Ray / ideal": None,
}


def one_process_rate(space, checkpoint: Path, candidates: int) -> dict:
    """Candidates scored per second by one scorer on 1 thread (median of 3 passes)."""
    import torch

    from bnas.supernet import CandidateSampler
    from bnas.supernet.scoring import CandidateScorer

    torch.set_num_threads(1)
    scorer = CandidateScorer.from_checkpoint(space, checkpoint,
                                             bn_batches=space.search.evaluate.bn_batches)
    sampler = CandidateSampler(space, seed=0)
    rng = random.Random(0)
    archs = [sampler.random(rng) for _ in range(candidates)]
    scorer.score(archs[0])  # warm-up: first-call allocations
    seconds = []
    for _ in range(3):
        started = time.perf_counter()
        for arch in archs:
            scorer.score(arch)
        seconds.append(time.perf_counter() - started)
    per_candidate = statistics.median(seconds) / len(archs)
    return {"seconds_per_candidate": per_candidate, "rate": 1 / per_candidate,
            "images_per_candidate": scorer.data.images_per_candidate}


def ray_search_rate(space, checkpoint: Path, run_dir: Path) -> dict:
    """The candidate search on Ray actors: its wall rate after start-up, and the actors'."""
    from bnas.search.candidates import EvaluationWorkers, search_candidates
    from bnas.search.cluster import ray_session

    lines: list[str] = []
    with ray_session(), EvaluationWorkers(space, checkpoint) as workers:
        started = time.monotonic()
        workers.start()
        startup = time.monotonic() - started
        started = time.monotonic()
        outcome = search_candidates(space, run_dir, workers, name="bench", log=lines.append)
        wall = time.monotonic() - started
    told = len(outcome.candidates)
    return {"startup_seconds": startup, "wall_seconds": wall, "candidates": told,
            "scored": outcome.worker_scored, "rate": told / wall,
            "worker_seconds": outcome.worker_seconds, "log": lines}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=96)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-ray", action="store_true", help="only the one-process rate")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    from bnas.space import load_space
    from bnas.supernet import train_supernet

    overrides = ["search.supernet.epochs=1", "search.algorithm=random",
                 f"search.evaluate.candidates={args.candidates}",
                 f"search.max_concurrent={args.workers}"]
    space = load_space(SPACE, overrides=overrides)
    with tempfile.TemporaryDirectory(prefix="bnas-bench-") as scratch:
        result = train_supernet(space, out_dir=Path(scratch) / "supernet", progress=False,
                                device="cpu", threads=1)
        checkpoint = result.checkpoint
        one = one_process_rate(space, checkpoint, min(args.candidates, 32))
        ray = None if args.no_ray else ray_search_rate(space, checkpoint, Path(scratch))
    ratios = {"scoring, one process (candidates/s per core)": one["rate"]}
    if ray is not None:
        ratios["search on Ray (candidates/s)"] = ray["rate"]
        ratios["search on Ray (candidates/s per core)"] = ray["rate"] / args.workers
        ratios["search on Ray / ideal"] = ray["rate"] / (args.workers * one["rate"])
    print(f"{SPACE.name}: tiny ReActNet-A on 8x8 digits, {one['images_per_candidate']} images "
          f"forward per candidate (BatchNorm calibration + validation)")
    print(f"{'figure':<46} {'value':>9}")
    print(f"{'scoring one candidate, one process (ms)':<46} "
          f"{1000 * one['seconds_per_candidate']:>9.1f}")
    for key, value in ratios.items():
        print(f"{key:<46} {value:>9.2f}")
    if ray is not None:
        print(f"{'actors start-up (s)':<46} {ray['startup_seconds']:>9.1f}")
        print(f"search on Ray: {ray['candidates']} candidates in {ray['wall_seconds']:.1f} s "
              f"with {args.workers} worker(s); the workers scored {ray['scored']} in "
              f"{ray['worker_seconds']:.1f} s of scoring")
    report = {"config": {**vars(args), "json": str(args.json) if args.json else None},
              "one_process": one, "ray": ray, "ratios": ratios, "targets": TARGETS}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return report


if __name__ == "__main__":
    main()
