"""Command-line flags derived from the declarations, never written twice.

A pydantic field becomes a flag with its type, its choices and its description as help
(:func:`field_flag_options`): ``bnas train``'s settings come from
:class:`~bnas.train_config.TrainConfig`, and the *quick form* of an architecture that
``bnas train`` and ``bnas profile`` share — ``--backbone NAME`` plus one flag per backbone
argument, ``--threshold`` and ``--rd-ratio`` — from :mod:`bnas.backbones`
(:func:`add_architecture_flags`, :func:`quick_architecture`). A bad value is the declaration's
own one-line message, blamed on the flag. Only the standard library is imported at module
level, so ``bnas --help`` stays fast.
"""

from __future__ import annotations

import argparse
from types import UnionType
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

from bnas.errors import BnasError, LocatedError

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

    from bnas.architecture import Architecture

_METAVARS: dict[Any, str] = {int: "N", float: "X"}
DEFAULT_RD_RATIO = 16


def option_name(dest: str) -> str:
    """``data_root`` → ``--data-root``."""
    return "--" + dest.replace("_", "-")


def value_type(name: str, annotation: Any) -> Any:
    """``int | None`` → int; bool, int, float, str or a Literal, else a TypeError."""
    if get_origin(annotation) in (Union, UnionType):
        options = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(options) == 1:
            annotation = options[0]
    if annotation in (bool, int, float, str) or get_origin(annotation) is Literal:
        return annotation
    raise TypeError(f"field {name}: no command-line form for {annotation!r}")


def field_flag_options(name: str, info: FieldInfo, *, default: Any = None) -> dict[str, Any]:
    """argparse options of a pydantic field: its type, metavar and help (description and
    default).

    Every flag defaults to None, "not given", so a file's value (or the declaration's
    default) stands unless the flag overrides it; validation stays the model's, which reports
    a bad value in one line. ``default`` replaces the declaration's default in the help text
    where a command applies its own.
    """
    kind = value_type(name, info.annotation)
    help_text = (info.description or "").replace("%", "%%")
    shown = default if default is not None else (
        None if info.is_required() else info.default)
    if shown is not None:
        shown = ("on" if shown else "off") if kind is bool else shown
        help_text += f" (default {shown})"
    if kind is bool:
        return {"action": argparse.BooleanOptionalAction, "default": None, "help": help_text}
    if get_origin(kind) is Literal:
        return {"metavar": "|".join(map(str, get_args(kind))), "help": help_text}
    return {"type": kind, "metavar": _METAVARS.get(kind, name.upper()), "help": help_text}


# -- the quick form of an architecture ---------------------------------------------------------


def backbone_argument_fields() -> dict[str, FieldInfo]:
    """Every backbone argument of every backbone, in declaration order (one flag each)."""
    from bnas.backbones import BACKBONES

    fields: dict[str, FieldInfo] = {}
    for info in BACKBONES.values():
        for name, field in info.args_model.model_fields.items():
            fields.setdefault(name, field)
    return fields


def add_architecture_flags(
    group: argparse._ArgumentGroup, *, exclude: tuple[str, ...] = (),
    defaults: dict[str, Any] | None = None,
) -> None:
    """``--backbone``, one flag per backbone argument (but ``exclude``), ``--threshold`` and
    ``--rd-ratio``: every site of every block alike. ``defaults`` are the command's own."""
    from bnas.architecture import THRESHOLD_KINDS
    from bnas.backbones import BACKBONES

    defaults = defaults or {}
    group.add_argument("--backbone", metavar="|".join(BACKBONES),
                       help="the quick form: this backbone, every site alike")
    for name, field in backbone_argument_fields().items():
        if name not in exclude:
            group.add_argument(option_name(name), dest=name,
                               **field_flag_options(name, field, default=defaults.get(name)))
    group.add_argument("--threshold", metavar="|".join(THRESHOLD_KINDS),
                       help="threshold of every site (default static)")
    group.add_argument("--rd-ratio", type=int, metavar="R",
                       help=f"generator reduction ratio with --threshold dynamic "
                            f"(default {DEFAULT_RD_RATIO})")


def architecture_flags_given(args: argparse.Namespace, exclude: tuple[str, ...] = ()) -> list[str]:
    """The quick-form flags (``--backbone`` aside) the command line gave, as options."""
    names = [*backbone_argument_fields(), "threshold", "rd_ratio"]
    return [option_name(name) for name in names
            if name not in exclude and getattr(args, name, None) is not None]


def quick_architecture(
    args: argparse.Namespace, *, exclude: tuple[str, ...] = (),
    defaults: dict[str, Any] | None = None,
) -> Architecture:
    """The Architecture the quick-form flags name; a bad value is one line naming its flag."""
    from bnas.architecture import THRESHOLD_KINDS, Architecture
    from bnas.backbones import backbone_info

    info = backbone_info(args.backbone)
    given = {name: getattr(args, name) for name in backbone_argument_fields()
             if name not in exclude and getattr(args, name, None) is not None}
    backbone_args = {**(defaults or {}), **given}
    try:
        info.check_args(backbone_args)
    except LocatedError as error:
        flag = option_name(str(error.loc[0])) if error.loc else "--backbone"
        raise BnasError(f"{flag}: {error.detail}") from None
    threshold = args.threshold or "static"
    if threshold not in THRESHOLD_KINDS:
        raise BnasError(
            f"--threshold: unknown threshold {threshold!r}; valid: {', '.join(THRESHOLD_KINDS)}"
        )
    if threshold == "static" and args.rd_ratio is not None:
        raise BnasError("--rd-ratio applies only with --threshold dynamic")
    blocks: str | dict[str, Any] = "static"
    if threshold == "dynamic":
        blocks = {"kind": "dynamic", "rd_ratio": args.rd_ratio or DEFAULT_RD_RATIO}
    return Architecture.from_dict(
        {"backbone": info.name, "args": backbone_args, "blocks": blocks}, source="--backbone"
    )
