"""The one way a bnas package exports names that live in slow-to-import modules.

``import bnas`` and ``bnas --help`` must not pay for torch, Ray or timm (seconds each), yet a
user should write ``from bnas.train import train``. A package lists what it exports and where
each name is defined; the module is imported on first access (PEP 562)::

    __getattr__, __dir__ = lazy_exports(__name__, {"train": "bnas.train.trainer"})
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``; ``exports`` maps a name to its module."""
    module = import_module(package)
    eager = set(vars(module))

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = getattr(import_module(exports[name]), name)
            setattr(module, name, value)  # later lookups skip this function
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(eager | set(exports) | set(vars(module)))

    return __getattr__, __dir__
