"""``bnas profile``: the cost of an architecture before training (BOPs, FLOPs, OPs, size).

Two ways to name the architecture::

    bnas profile architectures/reactnet_a_tiny_mixed.yaml
    bnas profile --backbone reactnet_a --preset full --threshold dynamic --rd-ratio 16

``--json`` prints one JSON object (the totals of :class:`bnas.profile.Cost`) and nothing else
on stdout, for scripts. ``--latency`` measures the architecture's bit-packed model on this
CPU instead: its latency, what the latency table predicts (the table is loaded from the cache,
or measured for what it lacks, or ``--table`` given) and where the time goes per op. (``bnas
profile --latency SPACE.yaml``, a space's table, is :mod:`bnas.space.profile_command`'s: the
space room reads spaces.) Only the standard library is imported at module level.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from bnas.cli_options import add_architecture_flags, architecture_flags_given, quick_architecture
from bnas.errors import BnasError

if TYPE_CHECKING:
    from bnas.architecture import Architecture

# ``--img-size`` applies to a file too (the cost at another resolution): not a quick-form flag.
IMG_SIZE = ("img_size",)


def add_arguments(parser: argparse.ArgumentParser, *, file_help: str | None = None) -> None:
    parser.add_argument("arch", nargs="?", metavar="FILE.yaml",
                        help=file_help or "architecture file (as written by export / "
                                          "Architecture.save)")
    parser.add_argument("--img-size", type=int, default=None, metavar="N",
                        help="input height = width (default: the file's img_size, else 224)")
    parser.add_argument("--json", action="store_true",
                        help="print only the totals (with --latency: the latencies) as one JSON "
                             "object")
    latency = parser.add_argument_group("measured latency of the bit-packed model (OpenVINO)")
    latency.add_argument("--latency", action="store_true",
                         help="an architecture: measure it whole, print the latency table's "
                              "prediction and the time per op; a search space: build (or load) "
                              "its latency table")
    latency.add_argument("--threads", type=int, default=None, metavar="N",
                         help="CPU threads of the bit-packed model (default 1)")
    latency.add_argument("--precision", choices=("f32", "bf16"), default=None,
                         help="float ops in f32 (default, as PyTorch) or the CPU's bf16")
    latency.add_argument("--table", default=None, metavar="TABLE.json",
                         help="predict with this latency table (measured elsewhere) instead "
                              "of this machine's")
    latency.add_argument("--out", default=None, metavar="TABLE.json",
                         help="a search space: also write its latency table here (to search "
                              "with it elsewhere: search.latency.table)")
    add_architecture_flags(parser.add_argument_group("quick form, instead of ARCH.yaml"),
                           exclude=IMG_SIZE)


def check_latency_flags(args: argparse.Namespace) -> None:
    """Latency flags need ``--latency``; their values are checked where they are used."""
    given = [flag for flag, value in (("--threads", args.threads),
                                      ("--precision", args.precision),
                                      ("--table", args.table), ("--out", args.out))
             if value is not None]
    if given and not args.latency:
        raise BnasError(f"{given[0]} applies only with --latency")


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

    check_latency_flags(args)
    from bnas.architecture import Architecture

    arch = (Architecture.load(args.arch) if args.arch is not None
            else quick_architecture(args, exclude=IMG_SIZE))
    if args.latency:
        return profile_latency(arch, args)

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


def profile_latency(arch: Architecture, args: argparse.Namespace) -> int:
    """``--latency`` for one architecture: measured whole, predicted, and the time per op."""
    if args.out is not None:
        raise BnasError("--out writes a search space's latency table: give SPACE.yaml")
    if args.img_size is not None:
        arch = arch.with_args(img_size=args.img_size)
    from bnas.deploy import profile_ops
    from bnas.latency_table import site_settings
    from bnas.profile import format_op_times, latency_table, measure_networks
    from bnas.profile._latency import bit_packed

    progress = None if args.json else _progress
    table = latency_table(arch.backbone, arch.args, [arch.rprelu], site_settings(arch),
                          path=args.table, threads=args.threads, precision=args.precision,
                          progress=progress)
    device = table.device
    if progress is not None:
        progress(f"measuring {arch.summary()} whole")
    measured, = measure_networks([arch], threads=device.threads, precision=device.precision,
                                 batch=device.batch)
    predicted = table.predict(arch)
    if args.json:
        print(json.dumps({"arch": arch.summary(), "arch_id": arch.arch_id,
                          "measured_ms": measured, "predicted_ms": predicted,
                          "device": device.model_dump(mode="json")}))
        return 0
    ops = profile_ops(bit_packed(arch), threads=device.threads, precision=device.precision,
                      batch=device.batch)
    print(f"{arch.summary()}  id={arch.arch_id}")
    print(f"latency    {measured:.4g} ms measured here (fastest call over interleaved rounds)")
    print(f"predicted  {predicted:.4g} ms by the latency table ({predicted / measured - 1:+.1%}"
          f"; {table.source or 'not saved'})")
    print(f"device     {device.describe()}")
    print("per op (OpenVINO's profiling counters, median of 20 calls; their sum is not the "
          "call's wall time):")
    print(format_op_times(ops))
    return 0


def _progress(line: str) -> None:
    print(line, flush=True)
