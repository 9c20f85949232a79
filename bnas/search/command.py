"""``bnas search SPACE.yaml``: run a search locally or on an existing Ray cluster."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("space", type=Path, help="search-space YAML (see search_spaces/)")
    parser.add_argument("--name", help="run name (default: the space's name)")
    parser.add_argument(
        "--storage", default="runs",
        help="folder of run directories; on a multi-node cluster a path every node can "
        "reach (shared filesystem). Default: runs",
    )
    parser.add_argument(
        "--address", help="join an existing Ray cluster, e.g. 10.0.0.5:6379 (default: local)"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted run of the same name"
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a YAML value, e.g. --set search.num_samples=4 (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    from bnas.space import load_space

    space = load_space(args.space, overrides=args.overrides)
    from bnas.search.controller import print_outcome, run_search

    summary = run_search(
        space, name=args.name, storage=args.storage, address=args.address, resume=args.resume
    )
    print_outcome(summary, Path(args.storage).resolve() / (args.name or space.name))
    return 0
