"""TPE vs random sampling: trial-epochs and wall time to reach the random search's best.

Per seed s, the config's ``space`` is searched with Optuna's TPE and with random sampling,
both seeded with s and without early stopping (the sampler is the only difference). Optuna's
TPE starts with ``n_startup_trials`` = 10 random suggestions from its own RandomSampler(seed),
the same ones the random search makes with that seed, so the two diverge from trial 11 on.
Target of seed s: the random search's best val top-1. Reported per search and as the median
over seeds: trial-epochs and wall seconds until some trial reached it (every epoch any trial
finished until then, in completion order: see :func:`experiments.common.searches.epoch_events`).

    python -m experiments.tpe_vs_random            # ≤ 45 min on 2 cores
"""

from __future__ import annotations

import sys
from typing import Any

from experiments.common import Experiment, flow, plot_race, race_tables, search_race, write_csv

NAME = "tpe_vs_random"
TITLE = "TPE vs random sampling: trial-epochs and wall time to the random search's best"


def finite(value: float | None) -> str:
    return "∞ (not reached)" if value is None else f"{value:.0f}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    exp = Experiment.start(NAME, argv, __doc__)
    race = search_race(exp, {"random": {"algorithm": "random"}, "tpe": {"algorithm": "tpe"}},
                       reference="random")
    write_csv(exp.out / "events.csv", race["events"])
    plot_race(race, exp.out / f"{NAME}.png", TITLE)
    s = race["sections"]
    rnd, tpe = (next(m for m in race["medians"] if m["variant"] == v) for v in ("random", "tpe"))
    lines = [
        f"Space: `{flow(s['backbone'])}`, per block `{flow(s['space']['blocks'])}`; data "
        f"`{flow(s['data'])}`; train `{flow(s['train'])}`. {s['search']['num_samples']} "
        f"trials per search, {s['search'].get('max_concurrent', 1)} at a time, no early "
        "stopping. Seeds "
        f"{exp.seeds}; target = the random search's best val top-1 of the same seed. "
        "Trial-epochs count every epoch any trial finished, in completion order (Ray's "
        "per-trial result.json times); seconds run from the call to bnas.search.run_search.",
        "",
        race_tables(race),
        "## Reading",
        "",
        f"- TPE reached the random search's best in {tpe['reached']}/{tpe['seeds']} seeds; "
        f"median trial-epochs to target: TPE {finite(tpe['median_epochs_to_target'])} vs "
        f"random {finite(rnd['median_epochs_to_target'])}; median seconds: TPE "
        f"{finite(tpe['median_seconds_to_target'])} vs random "
        f"{finite(rnd['median_seconds_to_target'])}.",
        f"- Best val top-1 (median over seeds): TPE {100 * tpe['median_best_val_top1']:.2f} %, "
        f"random {100 * rnd['median_best_val_top1']:.2f} %.",
        "",
        f"![best-so-far curves]({NAME}.png)",
        "",
    ]
    return exp.finish(TITLE, "\n".join(lines), race["rows"], race["medians"])


if __name__ == "__main__":
    main(sys.argv[1:])
