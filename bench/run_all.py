"""All benchmarks in one run: step time (bench/step_time.py) and search overhead
(bench/search_overhead.py), one table of ratios with their targets, written as JSON.

    python bench/run_all.py                          # bench/results/latest.json
    python bench/run_all.py --json /tmp/bench.json --quick

The figures come from one invocation on one machine, so they share its state; the JSON keeps
the raw measurements of both benchmarks, the versions, the machine and the command.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for path in (str(BENCH), str(REPO)):
    if path not in sys.path:
        sys.path.insert(0, path)

import search_overhead  # noqa: E402
import step_time  # noqa: E402

# (label, benchmark, key in its ratios/targets, ≤ or ≥)
FIGURES = [
    ("dynamic / static step time", "step_time", "dynamic/static time", "≤"),
    ("dynamic / static parameters", "step_time", "dynamic/static params", "≤"),
    ("binary / float twin step time", "step_time", "static/float time", "≤"),
    ("search wall / summed plain trainings", "search_overhead", "search / plain time", "≤"),
    ("2 concurrent / 1 trials per hour", "search_overhead", "2 concurrent / 1 (trials/h)", "≥"),
    ("seconds to first result", "search_overhead", "seconds to first result", "≤"),
]
TARGETS = {"step_time": step_time.TARGETS, "search_overhead": search_overhead.TARGETS}


def table(results: dict[str, dict]) -> list[dict]:
    rows = []
    for label, bench, key, sense in FIGURES:
        value = results[bench]["ratios"].get(key)
        target = TARGETS[bench][key]
        ok = None
        if value is not None and not math.isnan(value):
            ok = value <= target if sense == "≤" else value >= target
        rows.append({"figure": label, "benchmark": bench, "measured": value,
                     "target": f"{sense} {target:g}", "ok": ok})
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=BENCH / "results" / "latest.json",
                        help="where to write the results (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds and trials (a smoke test; noisier ratios)")
    args = parser.parse_args(argv)
    from experiments._common import git_commit, machine, versions

    started = time.time()
    step_args = ["--rounds", "2", "--steps", "2"] if args.quick else []
    overhead_args = ["--trials", "2", "--epochs", "2"] if args.quick else []
    print("== step time (bench/step_time.py " + " ".join(step_args) + ")", flush=True)
    results = {"step_time": step_time.main(step_args)}
    print("\n== search overhead (bench/search_overhead.py " + " ".join(overhead_args) + ")",
          flush=True)
    results["search_overhead"] = search_overhead.main(overhead_args)
    rows = table(results)

    print(f"\n{'figure':<38} {'measured':>9} {'target':>8}  ok")
    for row in rows:
        value = "-" if row["measured"] is None else f"{row['measured']:.3f}"
        ok = {True: "yes", False: "NO", None: "?"}[row["ok"]]
        print(f"{row['figure']:<38} {value:>9} {row['target']:>8}  {ok}")
    report = {
        "command": "python bench/run_all.py " + " ".join(map(shlex.quote, argv or sys.argv[1:])),
        "figures": rows,
        "all_ok": all(row["ok"] for row in rows),
        "wall_seconds": round(time.time() - started, 1),
        "code": git_commit(),
        "versions": versions(),
        "machine": machine(),
        "raw": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nwritten: {args.json}  ({report['wall_seconds']:.0f} s)")
    return report


if __name__ == "__main__":
    main()
