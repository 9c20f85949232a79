"""``bnas train``: train one architecture on a dataset, print and save a summary.

Three ways to say what to train::

    bnas train --arch architectures/reactnet_a_tiny_mixed.yaml --data digits --epochs 15
    bnas train --backbone reactnet_a --preset tiny --threshold dynamic --data digits
    bnas train experiments/configs/train_digits.yaml --seed 1     # flags override the file

A config file holds ``arch:`` (a path relative to the file, or an inline mapping), optionally
``out:``, and the :class:`bnas.train.TrainConfig` fields (``data:``, ``epochs``, ``lr``, ...).
Every run folder's ``config.yaml`` is such a file. Exit codes: 0 trained, 1 diverged (the
summary says so), 2 bad input (nothing written). The training flags are generated from
TrainConfig's and DataConfig's fields (help: their descriptions), so a new setting needs no
line here. Only the standard library is imported at module level.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bnas.cli_options import (
    add_architecture_flags,
    architecture_flags_given,
    field_flag_options,
    option_name,
    quick_architecture,
)
from bnas.costs import format_count
from bnas.errors import BnasError

if TYPE_CHECKING:

    from bnas.architecture import Architecture
    from bnas.train.result import TrainResult

DEFAULT_OUT_ROOT = Path("runs") / "train"
# The quick form trains a tiny network by default; its input arguments come from the data.
QUICK_DEFAULTS = {"preset": "tiny"}
FROM_DATA = ("num_classes", "in_chans", "img_size")
# DataConfig fields whose flag is not their own name: the dataset is --data NAME.
DATA_FLAG_NAMES = {"name": "data", "root": "data_root"}
# Optional settings whose null ("off") is written 0 on the command line.
ZERO_IS_NULL = ("grad_clip",)


@dataclass(frozen=True)
class ConfigFlag:
    """The flag of one TrainConfig field, or of one DataConfig field (``section`` "data")."""

    dest: str  # argparse's attribute, e.g. data_root
    field: str  # the field's name, e.g. root
    section: str | None = None  # the TrainConfig field holding the DataConfig

    @property
    def option(self) -> str:
        return option_name(self.dest)


def config_flags() -> list[ConfigFlag]:
    """One flag per TrainConfig field and per field of its DataConfig, in declaration order."""
    from bnas.train_config import DataConfig, TrainConfig

    flags = []
    for name, info in TrainConfig.model_fields.items():
        if info.annotation is DataConfig:
            flags += [ConfigFlag(DATA_FLAG_NAMES.get(field, field), field, name)
                      for field in DataConfig.model_fields]
        else:
            flags.append(ConfigFlag(name, name))
    return flags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bnas.train_config import DataConfig, TrainConfig

    parser.add_argument("config", nargs="?", metavar="CONFIG.yaml",
                        help="config file: arch: + training settings (flags override it)")
    what = parser.add_argument_group("architecture (or arch: in CONFIG.yaml)")
    what.add_argument("--arch", metavar="ARCH.yaml", help="architecture file")
    add_architecture_flags(what, exclude=FROM_DATA, defaults=QUICK_DEFAULTS)

    groups = {"data": parser.add_argument_group("data"),
              None: parser.add_argument_group("training (bnas.train.TrainConfig)")}
    for flag in config_flags():
        model = DataConfig if flag.section else TrainConfig
        groups[flag.section].add_argument(
            flag.option, dest=flag.dest,
            **field_flag_options(flag.field, model.model_fields[flag.field])
        )

    run_group = parser.add_argument_group("run folder")
    run_group.add_argument("--out", metavar="DIR",
                           help=f"output folder (default {DEFAULT_OUT_ROOT}/<data>-<arch id>)")
    run_group.add_argument("--resume", action="store_true",
                           help="continue from OUT/last when it exists")
    run_group.add_argument("--init-weights", metavar="WEIGHTS.safetensors",
                           help="start from these weights of the architecture (warm start, "
                           "e.g. a candidate extracted from a supernet) instead of a seeded "
                           "initialisation")
    run_group.add_argument("--overwrite", action="store_true",
                           help="start over in an OUT that holds a previous run")
    run_group.add_argument("--no-progress", action="store_true", help="no progress bar")
    run_group.add_argument("--json", action="store_true",
                           help="print the summary as JSON (without history) instead of text")


# -- reading the inputs ---------------------------------------------------------------------


def _read_config_file(path: Path) -> dict[str, Any]:
    from bnas.reading import read_yaml

    data = read_yaml(path, "config file").data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BnasError(f"{path}: expected a mapping with arch: and training settings")
    return data


def _architecture(args: argparse.Namespace, file_arch: Any, base: Path | None) -> Architecture:
    from bnas.architecture import Architecture

    quick = architecture_flags_given(args, exclude=FROM_DATA)
    if args.arch is not None and args.backbone is not None:
        raise BnasError("give either --arch ARCH.yaml or --backbone NAME, not both")
    if quick and args.backbone is None:
        raise BnasError(f"{quick[0]} applies only with --backbone (the quick form)")
    if args.backbone is not None:
        return quick_architecture(args, exclude=FROM_DATA, defaults=QUICK_DEFAULTS)
    if args.arch is not None:
        return Architecture.load(args.arch)
    if file_arch is None:
        raise BnasError("give an architecture: --arch ARCH.yaml, --backbone NAME, "
                        "or arch: in a config file")
    if isinstance(file_arch, str):
        path = Path(file_arch)
        if base is not None and not path.is_absolute():
            path = base / path
        return Architecture.load(path)
    return Architecture.from_dict(file_arch, source="config arch")


def build_inputs(args: argparse.Namespace) -> tuple[Architecture, Any, Path]:
    """(architecture, TrainConfig, output folder) from a config file and the flags."""
    from bnas.train_config import TrainConfig

    file_data: dict[str, Any] = {}
    base = None
    source = "command line"
    if args.config is not None:
        path = Path(args.config)
        file_data = _read_config_file(path)
        base = path.parent
        source = str(path)
    file_arch = file_data.pop("arch", None)
    file_out = file_data.pop("out", None)
    file_data.pop("reference", None)  # read by load_reference: a number to compare with
    arch = _architecture(args, file_arch, base)

    settings = dict(file_data)
    data = settings.get("data")
    settings["data"] = dict(data) if isinstance(data, dict) else ({} if data is None else data)
    for flag in config_flags():
        value = getattr(args, flag.dest)
        if value is None:
            continue
        if flag.field in ZERO_IS_NULL and value == 0:
            value = None
        if flag.section is None:
            settings[flag.field] = value
        elif isinstance(settings[flag.section], dict):  # else TrainConfig reports it
            settings[flag.section][flag.field] = value
    if isinstance(settings["data"], dict) and "name" not in settings["data"]:
        raise BnasError("give a dataset: --data NAME (e.g. --data digits) or data: in a "
                        "config file")
    config = TrainConfig.from_dict(settings, source=source)

    if args.out is not None:
        out = Path(args.out)
    elif file_out is not None:
        out = Path(file_out) if base is None or Path(file_out).is_absolute() else base / file_out
    else:
        out = DEFAULT_OUT_ROOT / f"{config.data.name}-{arch.backbone}-{arch.arch_id}"
    return arch, config, out


def load_reference(args: argparse.Namespace) -> dict[str, Any] | None:
    """A config file's ``reference: {val_top1: 0.91, source: "..."}``: the number this run is
    compared with (``bnas export`` writes the search trial's accuracy there)."""
    if args.config is None:
        return None
    reference = _read_config_file(Path(args.config)).get("reference")
    if reference is None:
        return None
    value = reference.get("val_top1") if isinstance(reference, dict) else None
    if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise BnasError(
            f"{args.config}: reference: expected {{val_top1: a fraction in [0, 1], source: text}}"
        )
    return {"val_top1": float(value), "source": str(reference.get("source", ""))}


# -- reporting ------------------------------------------------------------------------------


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f} %"


def format_summary(
    result: TrainResult, summary_path: Path, reference: dict[str, Any] | None = None
) -> str:
    """The few lines a person reads after a run."""
    history = result.history
    speed = (sum(row["images_per_second"] for row in history) / len(history)) if history else 0
    cost = result.cost
    final = result.final.get("val_top1") if result.final else None
    best = (f"{_percent(result.best_val_top1)} (best, epoch {result.best_epoch})"
            if result.best_epoch is not None else "—")
    lines = [
        f"{result.arch.summary()} on {result.dataset}: {result.status}, "
        f"{len(history)} epochs in {result.seconds:.1f} s ({speed:,.0f} img/s training)",
        f"  val top-1   {best}, final {_percent(final)}",
    ]
    if reference is not None and result.best_val_top1 is not None:
        delta = 100 * (result.best_val_top1 - reference["val_top1"])
        lines.append(
            f"  reference   {_percent(reference['val_top1'])} {reference['source']} "
            f"(this run {delta:+.2f} pt)"
        )
    if result.test is not None:
        top5 = f", top-5 {_percent(result.test['top5'])}" if "top5" in result.test else ""
        lines.append(f"  test top-1  {_percent(result.test['top1'])}{top5} (final model)")
    lines.append(
        f"  cost        OPs {format_count(cost['ops'])} (BOPs {format_count(cost['bops'])}, "
        f"FLOPs {format_count(cost['flops'])}), size {cost['size_mib']:.3f} MiB, params "
        f"{format_count(cost['params_binary'])} binary + {format_count(cost['params_real'])} real"
    )
    lines.append(f"  wrote       {summary_path}")
    return "\n".join(lines)


def _write_summary(
    result: TrainResult, out: Path, error: str | None, reference: dict[str, Any] | None
) -> Path:
    summary = result.to_dict()
    if error is not None:
        summary["error"] = error
    if reference is not None:
        summary["reference"] = reference
    from bnas.files import SUMMARY_FILE
    from bnas.writing import write_text_atomic

    out.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(out / SUMMARY_FILE, json.dumps(summary, indent=1) + "\n")


def run(args: argparse.Namespace) -> int:
    from bnas.writing import check_folder_target

    arch, config, out = build_inputs(args)
    reference = load_reference(args)
    if args.resume and args.overwrite:
        raise BnasError("give --resume or --overwrite, not both")
    check_folder_target(out, "--out" if args.out is not None else "output folder")

    from bnas.files import LAST_DIR
    from bnas.train import TrainingDiverged, train
    from bnas.train.checkpoint import find_checkpoint

    resume_from = None
    if args.resume:
        resume_from = find_checkpoint(out / LAST_DIR)
        if resume_from is None:
            print(f"bnas train: nothing to resume in {out}; starting from epoch 1",
                  file=sys.stderr)
    try:
        result = train(arch, config, out_dir=out, resume_from=resume_from,
                       init_weights=args.init_weights, progress=not args.no_progress,
                       overwrite=args.overwrite)
        error, code = None, 0
    except TrainingDiverged as diverged:
        if diverged.result is None:
            raise
        result, error, code = diverged.result, str(diverged), 1
    path = _write_summary(result, out, error, reference)
    if args.json:
        summary = result.to_dict()
        summary.pop("history")
        print(json.dumps(summary, indent=1))
    else:
        print(format_summary(result, path, reference))
    if error is not None:
        print(f"bnas train: diverged: {error}", file=sys.stderr)
    return code
