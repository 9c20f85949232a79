"""What every experiment shares, one concept per module.

- :mod:`~experiments.common.frame`: command line, config, scale, results folder, outputs;
- :mod:`~experiments.common.provenance`: commit, machine, versions (meta.json);
- :mod:`~experiments.common.runner`: training runs, several at a time;
- :mod:`~experiments.common.stats`: mean ± sd, paired tests and intervals, Kendall's τ;
- :mod:`~experiments.common.tables`: CSV, Markdown, number formats;
- :mod:`~experiments.common.plots`: matplotlib for figure files;
- :mod:`~experiments.common.searches`: one search inside an experiment, its epoch timeline;
- :mod:`~experiments.common.races`: search variants timed to a common target.

An experiment module defines ``main(argv) -> dict`` and runs as ``python -m experiments.NAME``.
The flow is always the same::

    exp = Experiment.start("dysign_vs_rsign", argv, __doc__)   # args, config, results folder
    rows = run_training(jobs, exp.workers, label)                # 2 at a time, one line each
    exp.finish(title, markdown_body, rows, summary_rows)          # md, csv, meta.json
"""

from experiments.common.frame import CONFIGS, Experiment, resolve_root
from experiments.common.plots import pyplot
from experiments.common.provenance import git_commit, machine, versions, write_report
from experiments.common.races import plot_race, race_tables, search_race
from experiments.common.runner import ACCURACY_COLUMNS, run_jobs, run_training
from experiments.common.searches import (
    build_space,
    local_ray,
    random_candidates,
    run_one_search,
    scaled_space,
)
from experiments.common.stats import compare, kendall_tau, mean_sd, noise_ceiling, verdict
from experiments.common.tables import (
    COMPARISON_COLUMNS,
    comparison_line,
    comparison_rows,
    count,
    flow,
    markdown_table,
    pct,
    pm,
    pvalue,
    write_csv,
)

__all__ = [
    "ACCURACY_COLUMNS", "COMPARISON_COLUMNS", "CONFIGS", "Experiment", "build_space", "compare",
    "comparison_line", "comparison_rows", "count", "flow", "git_commit", "kendall_tau",
    "local_ray", "machine", "markdown_table", "mean_sd", "noise_ceiling", "pct", "pm",
    "plot_race", "pvalue", "pyplot", "race_tables", "random_candidates", "resolve_root",
    "run_jobs", "run_one_search", "run_training", "scaled_space", "search_race", "verdict",
    "versions", "write_csv", "write_report",
]
