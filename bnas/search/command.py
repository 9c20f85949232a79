"""``bnas search SPACE.yaml``: run a search locally or on an existing Ray cluster."""

from __future__ import annotations

import argparse
import sys
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
    from bnas.errors import BnasError
    from bnas.search.run_dir import check_resume_trust, check_run_name, load_run_space
    from bnas.space import load_space

    if args.name is not None:
        check_run_name(args.name)
    space = load_space(args.space, overrides=args.overrides)
    name = args.name or space.name
    run_dir = Path(args.storage).resolve() / name
    from bnas.files import SPACE_FILE
    from bnas.search.dispatch import run_search
    from bnas.search.outcome import print_outcome
    from bnas.search.shutdown import SearchInterrupted

    if args.resume:
        if args.overrides:
            raise BnasError("--resume continues a run as it was started: drop --set")
        if not (run_dir / SPACE_FILE).is_file():
            raise BnasError(f"--resume: no run to resume at {run_dir}")
        check_resume_trust(run_dir)  # before reading anything of it
        space = load_run_space(run_dir)  # the space (and --set values) the run started with
    if args.address is not None:
        from bnas.search.cluster import check_address

        check_address(args.address)
    try:
        summary = run_search(
            space, name=name, storage=args.storage, address=args.address, resume=args.resume
        )
    except SearchInterrupted as interrupted:
        again = "" if not (run_dir / SPACE_FILE).is_file() else (
            f"; continue it: bnas search {args.space} --name {name} --storage {args.storage} "
            "--resume")
        print(f"bnas: search interrupted by {interrupted.signal_name}{again}", file=sys.stderr)
        return interrupted.exit_code
    print_outcome(summary, run_dir)
    return 0
