"""``bnas`` command line: one sub-command per room of the data flow.

Each sub-command lives in its room as ``bnas/<room>/command.py`` with two functions,
``add_arguments(parser)`` and ``run(args) -> int``. Those modules import only the standard
library at top level (torch, Ray and timm take seconds to import), so ``bnas --help`` and
``bnas validate`` answer at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from bnas.errors import USER_ERROR_EXIT_CODE, BnasError
from bnas.writing import os_problem

COMMANDS: dict[str, tuple[str, str]] = {
    "profile": ("bnas.space.profile_command",
                "cost of an architecture before training (BOPs, OPs), or its measured latency"),
    "train": ("bnas.train.command", "train one architecture on a dataset"),
    "validate": ("bnas.space.command", "check a search-space YAML and print its size"),
    "search": ("bnas.search.command", "search a space with Ray Tune + Optuna + ASHA"),
    "export": ("bnas.export.command", "export the best / top-k / Pareto trials of a run"),
    "report": ("bnas.report.command", "plots and a Markdown summary of a run"),
    "predict": ("bnas.deploy.command", "top-k classes of images with an exported bit-packed model"),
}


def build_parser() -> argparse.ArgumentParser:
    from bnas import __version__

    parser = argparse.ArgumentParser(
        prog="bnas",
        description="Neural architecture search for binary neural networks: "
        "where do static (RSign) and dynamic (DySign) thresholds go?",
    )
    parser.add_argument("--version", action="version", version=f"bnas {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except BnasError as error:
        print(f"bnas: error: {error}", file=sys.stderr)
        return USER_ERROR_EXIT_CODE
    except OSError as error:  # the file system said no (full disk, permissions): where, briefly
        print(f"bnas: error: {os_problem(error)}", file=sys.stderr)
        return USER_ERROR_EXIT_CODE
    except KeyboardInterrupt:
        print("bnas: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
