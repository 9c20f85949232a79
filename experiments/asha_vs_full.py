"""ASHA early stopping vs training every trial fully: what does it cost to find as good a
network?

Per seed s, the config's ``space`` is searched twice with the same sampler and seed s:
``full`` (no scheduler: every trial trains all E epochs) and ``asha`` (ASHA stops weak trials
at its rungs). The sampler defaults to ``random``, whose suggestions do not depend on results,
so both searches propose the same architectures in the same order and differ only in early
stopping. Target of seed s: the full search's best val top-1. Reported per search and as the
median over seeds: trial-epochs and wall seconds until some trial reached the target (every
epoch any trial finished until then, in completion order: see
:func:`experiments.common.searches.epoch_events`), and the whole search's cost.

    python -m experiments.asha_vs_full             # ≤ 45 min on 2 cores
"""

from __future__ import annotations

import sys
from typing import Any

from experiments.common import Experiment, flow, plot_race, race_tables, search_race, write_csv

NAME = "asha_vs_full"
TITLE = "ASHA vs full-budget search: trial-epochs and wall time to the full search's best"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    exp = Experiment.start(NAME, argv, __doc__)
    asha = exp.config.get("asha") or {"grace_period": 1, "reduction_factor": 2}
    race = search_race(exp, {"full": {"scheduler": "none"}, "asha": {"scheduler": {
        "asha": asha}}}, reference="full")
    write_csv(exp.out / "events.csv", race["events"])
    plot_race(race, exp.out / f"{NAME}.png", TITLE)
    s = race["sections"]
    full, fast = (next(m for m in race["medians"] if m["variant"] == v) for v in ("full", "asha"))
    lines = [
        f"Space: `{flow(s['backbone'])}`, per block `{flow(s['space']['blocks'])}`; data "
        f"`{flow(s['data'])}`; train `{flow(s['train'])}`. Sampler "
        f"`{s['search'].get('algorithm', 'tpe')}`, {s['search']['num_samples']} trials, "
        f"{s['search'].get('max_concurrent', 1)} at a time; ASHA `{flow(asha)}` "
        f"(max_t = {s['train']['epochs']} epochs). Seeds {exp.seeds}; "
        "target = the full search's best val top-1 of the same seed. Trial-epochs count every "
        "epoch any trial finished, in completion order (Ray's per-trial result.json times); "
        "seconds run from the call to bnas.search.run_search (one Ray cluster per "
        "experiment, started before).",
        "",
        race_tables(race),
        "## Reading",
        "",
    ]
    if full["median_epochs_to_target"] and fast["median_epochs_to_target"]:
        lines.append(
            f"- ASHA reached the full search's best after a median "
            f"{fast['median_epochs_to_target']:g} trial-epochs vs "
            f"{full['median_epochs_to_target']:g} "
            f"({full['median_epochs_to_target'] / fast['median_epochs_to_target']:.2f}× fewer),"
            f" {fast['median_seconds_to_target']:.0f} s vs "
            f"{full['median_seconds_to_target']:.0f} s wall.")
    else:
        lines.append(f"- ASHA reached the target in {fast['reached']}/{fast['seeds']} seeds "
                     "(it stopped the best trial before its best epoch otherwise).")
    lines.append(f"- Whole searches: ASHA {fast['median_trial_epochs']:g} trial-epochs / "
                 f"{fast['median_wall_seconds']:.0f} s vs full {full['median_trial_epochs']:g}"
                 f" / {full['median_wall_seconds']:.0f} s (medians).")
    lines += ["", f"![best-so-far curves]({NAME}.png)", ""]
    return exp.finish(TITLE, "\n".join(lines), race["rows"], race["medians"])


if __name__ == "__main__":
    main(sys.argv[1:])
