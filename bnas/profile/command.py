"""``bnas profile``: the cost of an architecture before training (BOPs, FLOPs, OPs, size).

Two ways to name the architecture::

    bnas profile architectures/reactnet_a_tiny_mixed.yaml
    bnas profile --backbone reactnet_a --preset full --threshold dynamic --rd-ratio 16

``--json`` prints one JSON object (the totals of :class:`bnas.profile.Cost`) and nothing else
on stdout, for scripts. Only the standard library is imported at module level.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from bnas.errors import BnasError

if TYPE_CHECKING:
    from bnas.architecture import Architecture


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("arch", nargs="?", metavar="ARCH.yaml",
                        help="architecture file (as written by export / Architecture.save)")
    parser.add_argument("--img-size", type=int, default=None, metavar="N",
                        help="input height = width (default: the file's img_size, else 224)")
    parser.add_argument("--json", action="store_true",
                        help="print only the totals as one JSON object")
    quick = parser.add_argument_group("quick form, instead of ARCH.yaml")
    quick.add_argument("--backbone", help="backbone name, e.g. reactnet_a")
    quick.add_argument("--preset", help="layout preset: tiny | small | full (default full)")
    quick.add_argument("--threshold", metavar="static|dynamic",
                       help="threshold of every site (default static)")
    quick.add_argument("--rd-ratio", type=int, metavar="R",
                       help="generator reduction ratio with --threshold dynamic (default 16)")
    quick.add_argument("--num-classes", type=int, metavar="K", help="classes (default 1000)")
    quick.add_argument("--in-chans", type=int, metavar="C", help="input channels (default 3)")


def _positive(value: int | None, flag: str) -> None:
    if value is not None and value < 1:
        raise BnasError(f"{flag} must be a positive integer, got {value}")


def _quick_architecture(args: argparse.Namespace) -> Architecture:
    from bnas.architecture import THRESHOLD_KINDS, Architecture

    threshold = args.threshold or "static"
    if threshold not in THRESHOLD_KINDS:
        raise BnasError(
            f"--threshold: unknown threshold {threshold!r}; valid: {', '.join(THRESHOLD_KINDS)}"
        )
    if threshold == "dynamic":
        threshold_data: str | dict = {"kind": "dynamic"}
        if args.rd_ratio is not None:
            threshold_data["rd_ratio"] = args.rd_ratio
    elif args.rd_ratio is not None:
        raise BnasError("--rd-ratio applies only with --threshold dynamic")
    else:
        threshold_data = "static"
    # Only what the user gave: the rest takes the backbone's defaults (bnas.models).
    backbone_args = {
        name: getattr(args, name)
        for name in ("preset", "num_classes", "in_chans", "img_size")
        if getattr(args, name) is not None
    }
    return Architecture.from_dict(
        {"backbone": args.backbone, "args": backbone_args, "blocks": threshold_data},
        source="--backbone",
    )


def run(args: argparse.Namespace) -> int:
    for flag in ("img_size", "rd_ratio", "num_classes", "in_chans"):
        _positive(getattr(args, flag), "--" + flag.replace("_", "-"))
    quick_flags = [flag for flag in ("preset", "threshold", "rd_ratio", "num_classes", "in_chans")
                   if getattr(args, flag) is not None]
    if args.arch is not None and args.backbone is not None:
        raise BnasError("give either ARCH.yaml or --backbone, not both")
    if args.arch is None and args.backbone is None:
        raise BnasError("give an architecture: ARCH.yaml or --backbone NAME "
                        "(e.g. bnas profile --backbone reactnet_a)")
    if args.arch is not None and quick_flags:
        flag = "--" + quick_flags[0].replace("_", "-")
        raise BnasError(f"{flag} applies only with --backbone; edit {args.arch} instead")

    from bnas.architecture import Architecture

    arch = Architecture.load(args.arch) if args.arch is not None else _quick_architecture(args)

    from bnas.profile._counter import input_shape, measure_architecture

    cost = measure_architecture(arch, img_size=args.img_size)
    if args.json:
        print(json.dumps(cost.to_dict()))
        return 0

    from bnas.profile import format_table

    shape = "×".join(map(str, input_shape(arch, args.img_size)))
    print(f"{arch.summary()}  id={arch.arch_id}  input {shape}")
    print(format_table(cost))
    return 0
