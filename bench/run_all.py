"""All benchmarks in one run: step time (bench/step_time.py), the supernet's step
(bench/supernet_step.py), the cost of a search candidate (bench/cost_model.py), search
overhead (bench/search_overhead.py), one-shot scoring (bench/scoring_cost.py, on digits
here: its 32×32 setting runs alone), the latency model (bench/latency_model.py) and validating
what must not hang (bench/space_validation.py), one table of figures with their targets,
written as JSON.

    python bench/run_all.py                          # bench/results/latest.json
    python bench/run_all.py --json /tmp/bench.json --quick

The figures come from one invocation on one machine, so they share its state; the JSON keeps
the raw measurements of every benchmark, the versions, the machine and the command.
"""

from __future__ import annotations

import argparse
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

import cost_model  # noqa: E402
import latency_model  # noqa: E402
import scoring_cost  # noqa: E402
import search_overhead  # noqa: E402
import space_validation  # noqa: E402
import step_time  # noqa: E402
import supernet_step  # noqa: E402

TARGETS = {"step_time": step_time.TARGETS, "supernet_step": supernet_step.TARGETS,
           "cost_model": cost_model.TARGETS, "search_overhead": search_overhead.TARGETS,
           "scoring_cost": scoring_cost.TARGETS, "latency_model": latency_model.TARGETS,
           "space_validation": space_validation.TARGETS}
AT_LEAST = (*search_overhead.AT_LEAST, *latency_model.TARGETS)  # figures judged as floors
# Readable names for the benchmarks' own keys; a key not named here is shown as it is.
LABELS = {
    "dynamic/static time": "dynamic / static step time",
    "dynamic/static params": "dynamic / static parameters",
    "static/float time": "binary / float twin step time",
    "supernet sampled / dynamic time": "supernet / all-dynamic step (sampled)",
    "supernet largest / dynamic time": "  the same, largest candidate active",
    "search / plain time": "search wall / summed plain trainings",
    "search / plain, after start-up": "  the same, after start-up",
    "2 concurrent / 1 (trials/h)": "2 concurrent / 1 trials per hour",
    "2 concurrent / 1, after start-up": "  the same, after start-up",
    "machine: 2 plain trainings at once / 1": "  the machine: 2 plain trainings / 1",
    "2 concurrent / 1 ÷ the machine's": "  search's 2-vs-1 ÷ the machine's",
    **{key: f"candidate cost, {key.split()[0]} (ms)" for key in cost_model.TARGETS},
}


def table(results: dict[str, dict]) -> list[dict]:
    """Every figure of the benchmarks in ``results`` with its target (None if not measured;
    a figure without a target is shown beside the others and not judged)."""
    rows = []
    for bench, result in results.items():
        for key, target in TARGETS[bench].items():
            value = result["ratios"].get(key)
            sense = "≥" if key in AT_LEAST else "≤"
            ok = None
            if target is not None and value is not None and not math.isnan(value):
                ok = value >= target if sense == "≥" else value <= target
            rows.append({"figure": LABELS.get(key, key), "benchmark": bench, "key": key,
                         "measured": value,
                         "target": "-" if target is None else f"{sense} {target:g}", "ok": ok})
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=BENCH / "results" / "latest.json",
                        help="where to write the results (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds and trials (a smoke test; noisier ratios)")
    args = parser.parse_args(argv)
    from experiments.common import write_report

    started = time.time()
    step_args = ["--rounds", "2", "--steps", "2"] if args.quick else []
    cost_args = ["--candidates", "20"] if args.quick else []
    overhead_args = ["--trials", "2", "--epochs", "2"] if args.quick else []
    print("== step time (bench/step_time.py " + " ".join(step_args) + ")", flush=True)
    results = {"step_time": step_time.main(step_args)}
    print("\n== supernet step (bench/supernet_step.py " + " ".join(step_args) + ")", flush=True)
    results["supernet_step"] = supernet_step.main(step_args)
    print("\n== candidate cost (bench/cost_model.py " + " ".join(cost_args) + ")", flush=True)
    results["cost_model"] = cost_model.main(cost_args)
    print("\n== search overhead (bench/search_overhead.py " + " ".join(overhead_args) + ")",
          flush=True)
    results["search_overhead"] = search_overhead.main(overhead_args)
    scoring_args = ["--space", "digits", "--candidates", "32" if args.quick else "96"]
    print("\n== one-shot scoring (bench/scoring_cost.py " + " ".join(scoring_args) + ")",
          flush=True)
    results["scoring_cost"] = scoring_cost.main(scoring_args)
    latency_args = ["--candidates", "20", "--seconds", "3"] if args.quick else []
    print("\n== latency model (bench/latency_model.py " + " ".join(latency_args) + ")",
          flush=True)
    results["latency_model"] = latency_model.main(latency_args)
    space_args = ["--choices", "70000"] if args.quick else []
    print("\n== validating what must not hang (bench/space_validation.py "
          + " ".join(space_args) + ")", flush=True)
    results["space_validation"] = space_validation.main(space_args)
    rows = table(results)

    print(f"\n{'figure':<46} {'measured':>9} {'target':>8}  ok")
    for row in rows:
        value = "-" if row["measured"] is None else f"{row['measured']:.3f}"
        ok = {True: "yes", False: "NO", None: "?" if row["target"] != "-" else ""}[row["ok"]]
        print(f"{row['figure']:<46} {value:>9} {row['target']:>8}  {ok}")
    report = {
        "command": " ".join(["python bench/run_all.py",
                             *map(shlex.quote, sys.argv[1:] if argv is None else argv)]),
        "figures": rows,
        "all_ok": all(row["ok"] for row in rows if row["target"] != "-"),
        "raw": results,
    }
    report = write_report(args.json, report, started)
    return report


if __name__ == "__main__":
    main()
