"""What the search framework costs over plain training, measured in one run.

1. overhead: wall time of a search (1 trial at a time, no early stopping) ÷ the time to
   train the very same architectures one after another in one plain process (target ≤ 1.25,
   start-up included); also after start-up (everything before the first reported epoch:
   Ray, worker processes, imports), the part that grows with the number of trials (≤ 1.10);
2. concurrency: trials per hour with 2 concurrent trials ÷ with 1 (target ≥ 1.8 on 2 cores),
   also after start-up; next to it the machine's own limit, two plain trainings of the same
   network at once ÷ one (2 processes of 1 thread each, timed after their imports), and how
   close the search comes to it (target: within 5 %);
3. latency: seconds from launching ``bnas search`` to its first reported epoch (target ≤ 10).

    python bench/search_overhead.py [--trials 4] [--epochs 6] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPACE = REPO / "search_spaces" / "demo_digits.yaml"
# None: shown beside the others, not judged.
TARGETS = {"search / plain time": 1.25, "search / plain, after start-up": 1.10,
           "2 concurrent / 1 (trials/h)": 1.8, "2 concurrent / 1, after start-up": 1.8,
           "machine: 2 plain trainings at once / 1": None,
           "2 concurrent / 1 ÷ the machine's": 0.95,
           "seconds to first result": 10.0}
AT_LEAST = ("2 concurrent / 1 (trials/h)", "2 concurrent / 1, after start-up",
            "2 concurrent / 1 ÷ the machine's")  # the others are ceilings


def timed_search(storage: Path, name: str, trials: int, epochs: int, concurrent: int) -> dict:
    """Run ``bnas search`` as a user would; time it and its first reported epoch."""
    command = [
        sys.executable, "-m", "bnas", "search", str(SPACE), "--storage", str(storage),
        "--name", name, "--set", f"search.num_samples={trials}", "--set",
        f"train.epochs={epochs}", "--set", "search.scheduler=none", "--set",
        f"search.max_concurrent={concurrent}", "--set", "search.algorithm=random",
    ]
    started = time.monotonic()
    first_result = None
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=REPO) as process:
        for line in process.stdout:
            if first_result is None and " epoch 1/" in line:
                first_result = time.monotonic() - started
    wall = time.monotonic() - started
    if process.returncode != 0:
        raise SystemExit(f"bnas search failed with exit code {process.returncode}")
    summary = json.loads((storage / name / "summary.json").read_text())
    return {"wall": wall, "first_result": first_result, "summary": summary}


def plain_training_seconds(summary: dict) -> tuple[float, float]:
    """Train the search's architectures with the same settings, in this one process.

    Returns (total seconds, seconds of the first trial's first epoch).
    """
    from bnas.architecture import Architecture
    from bnas.train import TrainConfig, train

    total, first_epoch = 0.0, None
    for trial in summary["trials"]:
        config = TrainConfig.from_dict({**trial["config"]["train"], "threads": 1})
        started = time.monotonic()
        result = train(Architecture.from_dict(trial["arch"]), config, progress=False)
        total += time.monotonic() - started
        if first_epoch is None:
            first_epoch = result.history[0]["epoch_seconds"]
    return total, first_epoch or 0.0


def plain_trainings_at_once(trial: dict, processes: int) -> float:
    """Wall seconds of ``processes`` plain trainings of ``trial``'s network with its settings,
    each in a process of its own with 1 thread, started together once every process has
    imported everything and trained a one-epoch warm-up on a tiny subset."""
    spec = json.dumps({"arch": trial["arch"], "train": {**trial["config"]["train"], "threads": 1}})
    command = [sys.executable, str(Path(__file__).resolve()), "--plain-worker"]
    workers = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True, cwd=REPO) for _ in range(processes)]
    try:
        for worker in workers:
            worker.stdin.write(spec + "\n")
            worker.stdin.flush()
        for worker in workers:
            if worker.stdout.readline().strip() != "ready":
                raise SystemExit("plain training worker failed before training")
        started = time.monotonic()
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        for worker in workers:
            if worker.stdout.readline().strip() != "done":
                raise SystemExit("plain training worker failed")
        return time.monotonic() - started
    finally:
        for worker in workers:
            worker.stdin.close()
            worker.wait()


def plain_worker() -> None:
    """``--plain-worker``: read a trial spec, warm up, say ready, train on ``go``, say done."""
    sys.path.insert(0, str(REPO))
    from bnas.architecture import Architecture
    from bnas.train import TrainConfig, train

    spec = json.loads(sys.stdin.readline())
    arch = Architecture.from_dict(spec["arch"])
    warm_up = {**spec["train"], "epochs": 1, "data": {**spec["train"]["data"], "subset": 2}}
    train(arch, TrainConfig.from_dict(warm_up), progress=False)
    print("ready", flush=True)
    sys.stdin.readline()
    train(arch, TrainConfig.from_dict(spec["train"]), progress=False)
    print("done", flush=True)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plain-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plain_worker:
        plain_worker()
        return {}

    with tempfile.TemporaryDirectory() as storage:
        one = timed_search(Path(storage), "one", args.trials, args.epochs, concurrent=1)
        two = timed_search(Path(storage), "two", args.trials, args.epochs, concurrent=2)
    plain, first_epoch = plain_training_seconds(one["summary"])
    trial = one["summary"]["trials"][0]
    alone, together = plain_trainings_at_once(trial, 1), plain_trainings_at_once(trial, 2)
    machine = 2 * alone / together
    ratios = {
        "search / plain time": one["wall"] / plain,
        "search / plain, after start-up": (one["wall"] - one["first_result"])
        / (plain - first_epoch),
        "2 concurrent / 1 (trials/h)": one["wall"] / two["wall"],
        "2 concurrent / 1, after start-up": (one["wall"] - one["first_result"])
        / (two["wall"] - two["first_result"]),
        "machine: 2 plain trainings at once / 1": machine,
        "2 concurrent / 1 ÷ the machine's": one["wall"] / two["wall"] / machine,
        "seconds to first result": one["first_result"],
    }
    print(f"{args.trials} trials × {args.epochs} epochs, tiny ReActNet-A on digits, 1 thread each")
    print(f"search, 1 at a time    {one['wall']:7.1f} s")
    print(f"search, 2 at a time    {two['wall']:7.1f} s")
    print(f"plain training, summed {plain:7.1f} s")
    print(f"plain training of trial 1, alone {alone:.1f} s, 2 at once {together:.1f} s")
    print(f"\n{'figure':<40} {'measured':>9} {'target':>8}  ok")
    for name, value in ratios.items():
        target = TARGETS[name]
        if target is None:
            print(f"{name:<40} {value:>9.2f} {'-':>8}")
            continue
        ok = value >= target if name in AT_LEAST else value <= target
        sign = "≥" if name in AT_LEAST else "≤"
        print(f"{name:<40} {value:>9.2f} {sign + format(target, 'g'):>8}  {'yes' if ok else 'NO'}")
    result = {"seconds": {"search_1": one["wall"], "search_2": two["wall"], "plain": plain,
                          "plain_1_alone": alone, "plain_2_at_once": together},
              "ratios": ratios, "targets": TARGETS, "trials": args.trials, "epochs": args.epochs}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
