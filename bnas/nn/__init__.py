"""Binary building blocks: binarizers, binary conv/linear, static and dynamic sign sites, and
stochastic depth."""

from bnas.nn.binarize import BINARIZERS, approx_sign, get_binarizer, sign, ste_sign
from bnas.nn.drop_path import DropPath, drop_path
from bnas.nn.layers import BinaryConv2d, BinaryLinear, binarize_weight
from bnas.nn.thresholds import (
    DyRPReLU,
    DySign,
    RPReLU,
    RSign,
    ThresholdGenerator,
    channel_statistics,
    make_rprelu,
    make_sign_site,
    set_binarization,
)

__all__ = [
    "BINARIZERS",
    "BinaryConv2d",
    "BinaryLinear",
    "DropPath",
    "DyRPReLU",
    "DySign",
    "RPReLU",
    "RSign",
    "ThresholdGenerator",
    "approx_sign",
    "binarize_weight",
    "channel_statistics",
    "drop_path",
    "get_binarizer",
    "make_rprelu",
    "make_sign_site",
    "set_binarization",
    "sign",
    "ste_sign",
]
