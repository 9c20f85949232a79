"""Reproducible experiments behind the README's "Results": one module per question.

Each is one command, ``python -m experiments.NAME [--scale S] [--config FILE] [--out DIR]``,
reads ``experiments/configs/NAME.yaml`` and writes ``results.md``, ``results.csv``,
``summary.csv``, PNG plots and ``meta.json`` (seeds, versions, machine, command, wall time)
into ``experiments/results/NAME/``. What they share (the frame, runner, statistics, tables,
search races) is :mod:`experiments.common`.
"""
