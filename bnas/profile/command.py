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

from bnas.cli_options import add_architecture_flags, architecture_flags_given, quick_architecture
from bnas.errors import BnasError

# ``--img-size`` applies to a file too (the cost at another resolution): not a quick-form flag.
IMG_SIZE = ("img_size",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("arch", nargs="?", metavar="ARCH.yaml",
                        help="architecture file (as written by export / Architecture.save)")
    parser.add_argument("--img-size", type=int, default=None, metavar="N",
                        help="input height = width (default: the file's img_size, else 224)")
    parser.add_argument("--json", action="store_true",
                        help="print only the totals as one JSON object")
    add_architecture_flags(parser.add_argument_group("quick form, instead of ARCH.yaml"),
                           exclude=IMG_SIZE)


def run(args: argparse.Namespace) -> int:
    if args.img_size is not None and args.img_size < 1:
        raise BnasError(f"--img-size must be a positive integer, got {args.img_size}")
    quick_flags = architecture_flags_given(args, exclude=IMG_SIZE)
    if args.arch is not None and args.backbone is not None:
        raise BnasError("give either ARCH.yaml or --backbone, not both")
    if args.arch is None and args.backbone is None:
        raise BnasError("give an architecture: ARCH.yaml or --backbone NAME "
                        "(e.g. bnas profile --backbone reactnet_a)")
    if args.arch is not None and quick_flags:
        raise BnasError(f"{quick_flags[0]} applies only with --backbone; edit {args.arch} instead")

    from bnas.architecture import Architecture

    arch = (Architecture.load(args.arch) if args.arch is not None
            else quick_architecture(args, exclude=IMG_SIZE))

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
