"""``bnas profile``: :mod:`bnas.profile.command`, plus the one mode that reads a search space.

::

    bnas profile --latency search_spaces/demo_digits.yaml              # build or load its table
    bnas profile --latency SPACE.yaml --threads 2 --out edge_table.json  # on the edge box

For a search space, ``--latency`` builds its latency table on this CPU (or loads it from the
cache, measuring what the cache lacks; or reads the space's ``search.latency.table``) and
prints it with the time it took; ``--out`` writes it where a search elsewhere can use it
(``search.latency.table``). Flags override the space's ``search.latency`` settings. Any other
file, or the quick form, is an architecture: :mod:`bnas.profile.command` runs it. Only the
standard library is imported at module level.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bnas.errors import BnasError
from bnas.profile import command as architecture_command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    architecture_command.add_arguments(
        parser, file_help="architecture file (as written by export / Architecture.save), or "
                          "with --latency a search space")


def run(args: argparse.Namespace) -> int:
    if args.latency and args.arch is not None and is_space_file(args.arch):
        return space_latency(args)
    return architecture_command.run(args)


def is_space_file(path: str) -> bool:
    """Whether ``path`` reads as a search space (a ``backbone:`` section, or ``space:`` /
    ``search:`` / ``data:``) rather than an architecture (``backbone: NAME``, ``blocks``)."""
    from bnas.reading import read_yaml

    data = read_yaml(path, "architecture or search-space file").data
    return isinstance(data, dict) and (isinstance(data.get("backbone"), dict)
                                       or any(key in data for key in ("space", "search", "data")))


def space_latency(args: argparse.Namespace) -> int:
    architecture_command.check_latency_flags(args)
    for flag, value in (("--img-size", args.img_size), ("--backbone", args.backbone)):
        if value is not None:
            raise BnasError(f"{flag} applies to an architecture; a search space's backbone "
                            "section says what to measure")
    from bnas.profile import format_latency_table, latency_table
    from bnas.space import load_space
    from bnas.space.sections import LatencySettings

    space = load_space(args.arch)
    settings = space.search.latency or LatencySettings()
    progress = None if args.json else _progress
    started = time.monotonic()
    table = latency_table(space.backbone.name, space.backbone.args, space.space.rprelu,
                          space.latency_settings(), path=args.table or settings.table,
                          threads=settings.threads if args.threads is None else args.threads,
                          precision=args.precision or settings.precision,
                          batch=settings.batch, progress=progress)
    seconds = time.monotonic() - started
    if args.out is not None:
        table.save(Path(args.out))
    if args.json:
        print(table.to_json(), end="")
        return 0
    print(format_latency_table(table))
    fastest, slowest = space.latency_range(table)
    print(f"space {space.name}: {fastest:.4g} .. {slowest:.4g} ms predicted")
    print(f"table: {table.source}; measured in {table.seconds:.1f} s, "
          f"this command took {seconds:.1f} s")
    return 0


def _progress(line: str) -> None:
    print(line, flush=True)
