"""Where a one-shot search's scoring goes, and what it costs next to training the supernet.

Setting (default): a 3,000-image, 32×32, 10-class ImageFolder (Tiny-ImageNet-10 at 32 px, 300
images per class: 2,700 training and 300 validation images), tiny ReActNet-A, per block static
or dynamic × rd_ratio {2, 4, 8, 16} × site sets, bnas's default supernet and scoring settings
(``--space digits``: the one-shot demo on 8×8 digits, seconds).

1. **supernet**: trained ``--epochs`` epochs in this process (1 torch thread) with the default
   recipe; its CPU seconds per epoch give the whole supernet's (``supernet.epochs`` epochs)
   per seed. Seeds train side by side on their own cores, so per seed is what a run waits.
2. **where scoring goes** (this process, 1 thread, CPU seconds per candidate and supernet
   seed): the calibration pass (``bn_batches`` training batches, BatchNorm in train mode) and
   the ranking pass (the validation split), each candidate alone as before; then the
   candidates of a search's round scored together (shared stem and leading blocks), and
   functionally identical ones (reduction ratios clamped to one width) scored once.
3. **the candidate search on Ray** (``--workers`` actors of 1 CPU): ``--candidates``
   candidates proposed by the space's sampler, scored in rounds; its wall time, the actors'
   scoring time, and what the loop adds around it (asking and telling Optuna, costing, Ray
   calls); proposals told an earlier score (repeats) and functional duplicates.

Target: scoring 300 candidates costs ≤ 25 % of the supernet, per seed: the scoring engine
alone, and the whole search on Ray (the actors' scoring and the driver's loop). Figures are
CPU seconds of the processes doing the work: on a shared machine a wall clock counts other
processes' turns too (a Ray actor's wall time was 10× its CPU time on a loaded 2-core
machine). Ray's own processes (raylet, GCS) are not counted.

    python bench/scoring_cost.py                   # ~10 min on 2 cores
    python bench/scoring_cost.py --space digits --candidates 48 --json /tmp/scoring.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SHARE_TARGET = 0.25
TARGETS: dict[str, float | None] = {
    "scoring / supernet, CPU per seed": SHARE_TARGET,
    "search / supernet, CPU per seed": SHARE_TARGET,
    "scoring before / now, per candidate": None,
    "candidates scored per second per core": None,
}
SPACE_32 = """\
name: scoring-cost
backbone: {{name: reactnet_a, preset: tiny, num_classes: 10}}
space:
  blocks: {{threshold: [static, dynamic], rd_ratio: [2, 4, 8, 16], sites: [conv3x3, conv1x1]}}
data: {{name: imagefolder, root: {root}, subset: 300, img_size: 32, val_fraction: 0.1}}
train: {{epochs: 6, batch_size: 64, lr: 2.0e-3, weight_decay: 1.0e-4, seed: 100}}
search:
  strategy: oneshot
  algorithm: tpe
  max_concurrent: {workers}
  resources_per_trial: {{cpu: 1}}
  evaluate: {{candidates: {candidates}}}
"""
DIGITS = REPO / "search_spaces" / "oneshot_demo.yaml"
BEFORE_BN_BATCHES = 4  # the earlier default of evaluate.bn_batches


def tiny_imagenet_root() -> str:
    """The Tiny-ImageNet-10 folder the experiments use (their config names it)."""
    from bnas.reading import read_yaml
    from experiments.common import resolve_root

    config = read_yaml(REPO / "experiments" / "configs" / "dysign_vs_rsign.yaml", "config").data
    return resolve_root(config["datasets"]["tiny_imagenet_10"]["root"])


def load(space_name: str, candidates: int, workers: int):
    from bnas.space import load_space, parse_space

    overrides = [f"search.evaluate.candidates={candidates}", f"search.max_concurrent={workers}"]
    if space_name == "digits":
        return load_space(DIGITS, overrides=[*overrides, "search.supernet.epochs=1",
                                             "search.algorithm=tpe"])
    text = SPACE_32.format(root=tiny_imagenet_root(), workers=workers, candidates=candidates)
    return parse_space(text, "scoring-cost.yaml")


def supernet_cost(space, epochs: int, out: Path) -> dict:
    """Train ``epochs`` epochs; CPU and wall seconds per epoch, and the supernet's."""
    from bnas.supernet import train_supernet
    from bnas.supernet.training import supernet_settings

    trained = space.model_copy(deep=True)
    trained.search.supernet.epochs = epochs
    cpu, wall = time.process_time(), time.monotonic()
    result = train_supernet(trained, out_dir=out, device="cpu", threads=1)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    full = supernet_settings(space).epochs
    return {"checkpoint": result.checkpoint, "epochs_trained": epochs, "epochs": full,
            "cpu_per_epoch": cpu / epochs, "wall_per_epoch": wall / epochs,
            "cpu": cpu / epochs * full, "wall": wall / epochs * full,
            "candidates_per_step": result.history[-1]["candidates_per_step"]}


def scoring_cost(space, checkpoint: Path, count: int, round_size: int) -> dict:
    """CPU seconds per candidate and seed: the passes alone, before and now."""
    import torch

    from bnas.supernet import CandidateSampler, evaluate_candidates, load_supernet
    from bnas.supernet.training import scoring_batches, supernet_data

    torch.set_num_threads(1)
    supernet = load_supernet(space, checkpoint)
    prepared = supernet_data(space)
    calibration, ranking = scoring_batches(space, prepared)
    sampler, rng = CandidateSampler(space, seed=0), random.Random(0)
    archs = [sampler.random(rng) for _ in range(count)]
    device = torch.device("cpu")

    def cpu(function) -> float:
        started = time.process_time()
        function()
        return time.process_time() - started

    alone = min(count, 24)
    one_batch = ranking[:1]
    with_ranking = cpu(lambda: [evaluate_candidates(supernet, [a], calibration, ranking,
                                                    device=device) for a in archs[:alone]])
    short = cpu(lambda: [evaluate_candidates(supernet, [a], calibration, one_batch,
                                             device=device) for a in archs[:alone]])
    ranking_images = sum(len(y) for _, y in ranking)
    calibration_images = sum(len(y) for _, y in calibration)
    per_ranking_image = (with_ranking - short) / alone / (ranking_images - len(one_batch[0][1]))
    per_candidate_now_alone = with_ranking / alone
    ranking_cpu = per_ranking_image * ranking_images
    before_calibration = calibration[:BEFORE_BN_BATCHES]
    before = cpu(lambda: [evaluate_candidates(supernet, [a], before_calibration, ranking,
                                              device=device) for a in archs[:alone]]) / alone
    together = cpu(lambda: [evaluate_candidates(supernet, archs[i:i + round_size], calibration,
                                                ranking, device=device)
                            for i in range(0, count, round_size)]) / count
    keys = {tuple(supernet.stage_keys(arch)) for arch in archs}
    return {"candidates": count, "alone": alone, "round": round_size,
            "calibration_images": calibration_images, "ranking_images": ranking_images,
            "calibration_cpu": per_candidate_now_alone - ranking_cpu, "ranking_cpu": ranking_cpu,
            "before_cpu": before, "alone_cpu": per_candidate_now_alone,
            "together_cpu": together, "functions": len(keys),
            "distinct": len({a.arch_id for a in archs})}


def search_cost(space, checkpoint_dir: Path, run_dir: Path) -> dict:
    """The candidate search on Ray actors: wall, scoring, what the loop adds, repeats."""
    from bnas.search.candidates import REPEATED, EvaluationWorkers, search_candidates
    from bnas.search.cluster import ray_session
    from bnas.supernet import Supernet

    lines: list[str] = []
    with ray_session(), EvaluationWorkers(space, [checkpoint_dir]) as workers:
        started = time.monotonic()
        workers.start()
        startup = time.monotonic() - started
        started, cpu = time.monotonic(), time.process_time()
        outcome = search_candidates(space, run_dir, workers, name="bench", log=lines.append)
        wall, driver_cpu = time.monotonic() - started, time.process_time() - cpu
    supernet = Supernet(space)
    scored = outcome.scored
    functions = {tuple(supernet.stage_keys(c.arch)) for c in scored}
    return {"startup": startup, "wall": wall, "told": len(outcome.candidates),
            "scored": len(scored), "repeats": sum(c.status == REPEATED for c in outcome.candidates),
            "functional_duplicates": len(scored) - len(functions),
            "actors_scored": outcome.worker_scored, "scoring_cpu": outcome.worker_seconds,
            "loop_cpu": driver_cpu, "log": lines}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", choices=("tiny_imagenet_32", "digits"),
                        default="tiny_imagenet_32")
    parser.add_argument("--epochs", type=int, default=1, help="supernet epochs to time")
    parser.add_argument("--candidates", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-ray", action="store_true", help="skip the search on Ray")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    space = load(args.space, args.candidates, args.workers)
    round_size = space.search.max_concurrent * space.search.evaluate.batch
    with tempfile.TemporaryDirectory(prefix="bnas-bench-") as scratch:
        supernet = supernet_cost(space, args.epochs, Path(scratch) / "supernet")
        scoring = scoring_cost(space, supernet["checkpoint"], args.candidates, round_size)
        search = None if args.no_ray else search_cost(space, supernet["checkpoint"],
                                                      Path(scratch))
    now = scoring["together_cpu"] * scoring["functions"] / max(scoring["distinct"], 1)
    ratios = {
        "scoring / supernet, CPU per seed": args.candidates * now / supernet["cpu"],
        "scoring before / now, per candidate": scoring["before_cpu"] / now,
        "candidates scored per second per core": 1 / now,
    }
    if search is not None:
        ratios["search / supernet, CPU per seed"] = (
            (search["scoring_cpu"] + search["loop_cpu"]) / supernet["cpu"])
    settings = space.search
    print(f"{args.space}: supernet {settings.supernet.sampling}, "
          f"{settings.supernet.candidates_per_step} per step, {supernet['epochs']} epochs "
          f"(timed {supernet['epochs_trained']}); scoring on {scoring['calibration_images']} "
          f"calibration + {scoring['ranking_images']} ranking images, rounds of {round_size}")
    print(f"{'figure':<52} {'value':>10}")
    rows = [
        ("supernet, CPU s per epoch (per seed)", supernet["cpu_per_epoch"]),
        ("supernet, CPU s (per seed, all epochs)", supernet["cpu"]),
        ("one candidate alone: calibration pass, CPU ms", 1000 * scoring["calibration_cpu"]),
        ("one candidate alone: ranking pass, CPU ms", 1000 * scoring["ranking_cpu"]),
        (f"before: alone, {BEFORE_BN_BATCHES} calibration batches, CPU ms",
         1000 * scoring["before_cpu"]),
        (f"now: rounds of {round_size} together, CPU ms", 1000 * scoring["together_cpu"]),
        (f"now: + functional duplicates once ({scoring['distinct']} → {scoring['functions']})"
         ", CPU ms", 1000 * now),
    ]
    if search is not None:
        rows += [("search on Ray: wall s", search["wall"]),
                 ("  the actors' scoring, CPU s (summed)", search["scoring_cpu"]),
                 ("  the loop (Optuna, costing, Ray calls), driver CPU s", search["loop_cpu"]),
                 ("  proposals told an earlier score", search["repeats"]),
                 ("  scored that were functional duplicates", search["functional_duplicates"]),
                 ("  actors' start-up, s", search["startup"])]
    for name, value in rows:
        print(f"{name:<52} {value:>10.1f}")
    for key, value in ratios.items():
        target = TARGETS.get(key)
        judged = "" if target is None else f"  (target ≤ {target:g}: " \
            f"{'met' if value <= target else 'NOT met'})"
        print(f"{key:<52} {value:>10.3f}{judged}")
    report = {"config": {**vars(args), "json": str(args.json) if args.json else None},
              "supernet": {k: v for k, v in supernet.items() if k != "checkpoint"},
              "scoring": scoring, "search": search, "ratios": ratios, "targets": TARGETS}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return report


if __name__ == "__main__":
    main()
