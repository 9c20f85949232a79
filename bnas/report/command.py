"""``bnas report RUN_DIR``: PNG plots and a Markdown summary of a search run.

::

    bnas report runs/demo-digits            # → runs/demo-digits/report/report.md + *.png
    bnas report runs/demo-digits --out docs/demo-report

Reads only ``summary.json`` and ``study.db`` (``study.journal`` and ``candidates.csv`` for a
one-shot run). Exit codes: 0 written, 2 bad input. Only the standard library is imported at
module level.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR",
                        help="a search run directory (holds summary.json)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="output folder (default RUN_DIR/report)")


def run(args: argparse.Namespace) -> int:
    from bnas.report.builder import build_report

    report = build_report(args.run_dir, args.out)
    for path in report["figures"]:
        print(f"wrote {path}")
    print(f"wrote {report['markdown']}")
    if report["importance_note"]:
        print(f"importance: {report['importance_note']}")
    return 0
