"""What the search framework costs over plain training, measured in one run.

1. overhead: wall time of a search (1 trial at a time, no early stopping) ÷ the time to
   train the very same architectures one after another in one plain process (target ≤ 1.10);
   also after start-up (everything before the first reported epoch: Ray, worker processes,
   imports), the part that grows with the number of trials;
2. concurrency: trials per hour with 2 concurrent trials ÷ with 1 (target ≥ 1.8 on 2 cores),
   also after start-up;
3. latency: seconds from launching ``bnas search`` to its first reported epoch (target ≤ 20).

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
TARGETS = {"search / plain time": 1.10, "search / plain, after start-up": 1.10,
           "2 concurrent / 1 (trials/h)": 1.8, "2 concurrent / 1, after start-up": 1.8,
           "seconds to first result": 20.0}
AT_LEAST = ("2 concurrent / 1 (trials/h)", "2 concurrent / 1, after start-up")  # others: ceilings


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


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as storage:
        one = timed_search(Path(storage), "one", args.trials, args.epochs, concurrent=1)
        two = timed_search(Path(storage), "two", args.trials, args.epochs, concurrent=2)
    plain, first_epoch = plain_training_seconds(one["summary"])
    ratios = {
        "search / plain time": one["wall"] / plain,
        "search / plain, after start-up": (one["wall"] - one["first_result"])
        / (plain - first_epoch),
        "2 concurrent / 1 (trials/h)": one["wall"] / two["wall"],
        "2 concurrent / 1, after start-up": (one["wall"] - one["first_result"])
        / (two["wall"] - two["first_result"]),
        "seconds to first result": one["first_result"],
    }
    print(f"{args.trials} trials × {args.epochs} epochs, tiny ReActNet-A on digits, 1 thread each")
    print(f"search, 1 at a time    {one['wall']:7.1f} s")
    print(f"search, 2 at a time    {two['wall']:7.1f} s")
    print(f"plain training, summed {plain:7.1f} s")
    print(f"\n{'figure':<34} {'measured':>9} {'target':>8}  ok")
    for name, value in ratios.items():
        target = TARGETS[name]
        ok = value >= target if name in AT_LEAST else value <= target
        sign = "≥" if name in AT_LEAST else "≤"
        print(f"{name:<34} {value:>9.2f} {sign + format(target, 'g'):>8}  {'yes' if ok else 'NO'}")
    result = {"seconds": {"search_1": one["wall"], "search_2": two["wall"], "plain": plain},
              "ratios": ratios, "targets": TARGETS, "trials": args.trials, "epochs": args.epochs}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
