"""Binary building blocks: binarizers, binary conv/linear, static and dynamic sign sites."""

from bnas.nn.binarize import BINARIZERS, approx_sign, get_binarizer, sign, ste_sign
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
    "DyRPReLU",
    "DySign",
    "RPReLU",
    "RSign",
    "ThresholdGenerator",
    "approx_sign",
    "binarize_weight",
    "channel_statistics",
    "get_binarizer",
    "make_rprelu",
    "make_sign_site",
    "set_binarization",
    "sign",
    "ste_sign",
]
