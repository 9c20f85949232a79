"""A latency table: what a backbone's bit-packed model takes on one CPU, as plain data.

The latency model is built like the composed cost model (:mod:`bnas.profile`): every choice
bnas searches lives in the sign sites, and a dynamic site is its static one plus a generator,
so a candidate's latency is

.. math::
    \\mathrm{latency}(a) = \\mathrm{static\\_ms}[r] + [\\mathrm{dynamic}(a) \\ne \\emptyset]
        \\cdot \\mathrm{shared\\_ms}[r]
        + \\sum_{s \\in \\mathrm{dynamic}(a)} \\mathrm{extra\\_ms}[r, s, \\mathrm{threshold}_s(a)],
    \\qquad r = \\mathrm{rprelu}(a):

the all-static network's measured latency; a cost that dynamic sites share, paid once when
any site is dynamic; and each dynamic site's own extra for its generator setting, measured in
context (the whole network with that one site dynamic, against the all-static one). Unlike
the cost model this is an approximation (``bench/latency_model.py`` checks it against
whole-network measurements); without ``shared_ms`` the sum of single-site extras
overestimated networks with many dynamic sites by up to 12 %.

A table is measured by :func:`bnas.profile.latency_table` on the machine where the model will
run, and says where: the CPU, its ISA flags, the binary-convolution kernel OpenVINO ran, the
OpenVINO version, threads, precision and batch. It holds one backbone with its arguments
resolved (every default filled), so a table measured for other arguments is refused rather
than silently mispredicting. On disk it is JSON; :meth:`LatencyTable.load` validates it and
names the line of the first problem.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from bnas.architecture import Architecture, Threshold, ThresholdKind
from bnas.backbones import backbone_info
from bnas.errors import BnasError, LocatedError, describe_location, explain
from bnas.reading import load_yaml, read_json, read_text
from bnas.writing import write_text_atomic

TABLE_FORMAT = "bnas-latency-table/1"
PRECISIONS = ("f32", "bf16")
# How the numbers are estimated from timed calls (bnas.profile's latency measurement says why).
STATISTIC = ("a network's latency: its fastest call (CPU time of the calling thread with 1 "
             "thread, else wall time) over interleaved rounds; static_ms: the median over the "
             "site probes of the fastest all-static call timed right before each; extras: "
             "static_ms x (median of probe / all-static timed right before it, over the "
             "eighth of the rounds where the pair was fastest - 1)")


class SiteSetting(NamedTuple):
    """One dynamic site of one block, with its generator setting, in a network whose RPReLUs
    are ``rprelu``: what one extra of a table is measured for."""

    rprelu: str
    block: int
    site: str
    threshold: Threshold

    def describe(self) -> str:
        settings = ", ".join(f"{key}={value}" for key, value in self.threshold.to_data().items()
                             if key != "kind")
        rprelu = ", dynamic RPReLU" if self.rprelu == "dynamic" else ""
        return f"blocks[{self.block}].{self.site} dynamic ({settings}){rprelu}"


def site_settings(arch: Architecture) -> list[SiteSetting]:
    """The dynamic sites of ``arch``, each with its setting."""
    return [SiteSetting(arch.rprelu, index, site, threshold)
            for index, block in enumerate(arch.blocks)
            for site, threshold in block.items() if threshold.is_dynamic]


def resolved_args(backbone: str, args: dict[str, Any]) -> dict[str, Any]:
    """Every argument of ``backbone`` with its default filled: two argument sets describe the
    same network exactly when these are equal."""
    return backbone_info(backbone).check_args(dict(args)).model_dump()


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LatencyDevice(_Record):
    """Where and how a table was measured."""

    cpu: str  # the CPU's model name
    isa: tuple[str, ...]  # the ISA flags the binary-convolution kernels choose between
    kernel: str  # the BinaryConvolution kernel the CPU plugin ran: jit_avx512_u1, jit_avx2_u1, …
    openvino: str
    threads: int = Field(gt=0)
    precision: Literal["f32", "bf16"]  # asked for
    runtime_precision: str  # what the CPU plugin ran float ops in
    batch: int = Field(gt=0)

    def describe(self) -> str:
        return (f"{self.cpu} ({self.kernel}), OpenVINO {self.openvino.split('-')[0]}, "
                f"{self.threads} thread{'s' if self.threads > 1 else ''}, "
                f"{self.runtime_precision}, batch {self.batch}")


class SiteExtra(_Record):
    """What one site made dynamic with one setting adds to the whole network, in ms."""

    rprelu: ThresholdKind = "static"
    block: int = Field(ge=0)
    site: str
    threshold: Threshold
    extra_ms: float

    @property
    def setting(self) -> SiteSetting:
        return SiteSetting(self.rprelu, self.block, self.site, self.threshold)


class LatencyTable(_Record):
    """The latency model of one backbone with its arguments on one device (module docstring)."""

    format: Literal["bnas-latency-table/1"] = TABLE_FORMAT
    device: LatencyDevice
    backbone: str
    args: dict[str, Any]  # resolved: every argument, defaults filled
    statistic: str = STATISTIC
    rounds: int = Field(gt=0)  # interleaved timing rounds behind each number (the most of a group)
    static_ms: dict[ThresholdKind, float]  # the all-static network, per RPReLU kind
    shared_ms: dict[ThresholdKind, float] = {}  # paid once when any site is dynamic, per kind
    extras: tuple[SiteExtra, ...] = ()
    seconds: float = Field(0.0, ge=0)  # spent measuring it, over every build that added to it
    load_average: float | None = None  # the machine's 1-minute load when it was measured
    _source: str | None = PrivateAttr(None)  # the file it was read from or saved to

    @model_validator(mode="after")
    def _consistent(self) -> LatencyTable:
        info = backbone_info(self.backbone)
        try:
            resolved = resolved_args(self.backbone, self.args)
        except LocatedError as error:
            raise LocatedError(("args", *error.loc), error.detail) from None
        if resolved != self.args:
            missing = [key for key in resolved if key not in self.args]
            raise LocatedError(("args",), f"not resolved: missing {', '.join(missing)}")
        if not self.static_ms:
            raise LocatedError(("static_ms",), "no all-static latency")
        for kind, value in self.static_ms.items():
            if not math.isfinite(value) or value <= 0:
                raise LocatedError(("static_ms", kind), f"{value} is not a positive latency")
        for kind, value in self.shared_ms.items():
            if not math.isfinite(value):
                raise LocatedError(("shared_ms", kind), f"{value} is not finite")
            if kind not in self.static_ms:
                raise LocatedError(("shared_ms", kind), f"no static_ms for rprelu {kind!r}")
        blocks = info.num_blocks(self.args)
        seen = set()
        for index, extra in enumerate(self.extras):
            where = ("extras", index)
            if extra.block >= blocks:
                raise LocatedError((*where, "block"), f"{extra.block}: {self.backbone} with "
                                   f"these args has {blocks} blocks")
            if extra.site not in info.sites:
                raise LocatedError((*where, "site"), f"unknown site {extra.site!r}; valid for "
                                   f"{self.backbone}: {', '.join(info.sites)}")
            if not extra.threshold.is_dynamic:
                raise LocatedError((*where, "threshold"), "a static site adds nothing: "
                                   "extras are for dynamic thresholds")
            if not math.isfinite(extra.extra_ms):
                raise LocatedError((*where, "extra_ms"), f"{extra.extra_ms} is not finite")
            if extra.rprelu not in self.static_ms:
                raise LocatedError((*where, "rprelu"), f"no static_ms for rprelu "
                                   f"{extra.rprelu!r} to add it to")
            if extra.setting in seen:
                raise LocatedError(where, f"{extra.setting.describe()} is listed twice")
            seen.add(extra.setting)
        return self

    # -- the model ----------------------------------------------------------------------------

    def extras_by_setting(self) -> dict[SiteSetting, float]:
        return {extra.setting: extra.extra_ms for extra in self.extras}

    def check_network(self, backbone: str, args: dict[str, Any]) -> None:
        """A BnasError unless this table was measured for ``backbone`` with ``args``."""
        if backbone != self.backbone:
            raise BnasError(f"the latency table is for {self.backbone}, not {backbone}")
        wanted = resolved_args(backbone, args)
        differ = [f"{key}={self.args[key]!r} (here {wanted[key]!r})" for key in wanted
                  if wanted[key] != self.args.get(key)]
        if differ:
            raise BnasError(f"the latency table was measured for {self.backbone} with other "
                            f"arguments: {', '.join(differ)}")

    def missing(self, rprelus: Iterable[str], settings: Iterable[SiteSetting]) -> list[str]:
        """What a prediction over ``rprelus`` and ``settings`` needs that the table lacks, one
        description each (empty: the table covers them)."""
        known = self.extras_by_setting()
        missing = [f"the all-static network with {kind} RPReLU" for kind in dict.fromkeys(rprelus)
                   if kind not in self.static_ms]
        missing += [setting.describe() for setting in dict.fromkeys(settings)
                    if setting not in known]
        return missing

    def predict(self, arch: Architecture) -> float:
        """``arch``'s latency in ms: the all-static network plus each dynamic site's extra."""
        self.check_network(arch.backbone, arch.args)
        settings = site_settings(arch)
        missing = self.missing([arch.rprelu], settings)
        if missing:
            raise BnasError(f"the latency table lacks {missing[0]}"
                            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                            + f" for {arch.summary()}")
        if not settings:
            return self.static_ms[arch.rprelu]
        known = self.extras_by_setting()
        return (self.static_ms[arch.rprelu] + self.shared_ms.get(arch.rprelu, 0.0)
                + sum(known[setting] for setting in settings))

    def with_measurements(self, other: LatencyTable) -> LatencyTable:
        """This table plus what ``other`` (measured for the same network and device, with this
        table's ``shared_ms``) adds; what this table knows already is kept."""
        known = self.extras_by_setting()
        added = [extra for extra in other.extras if extra.setting not in known]
        return self.model_copy(update={
            "static_ms": {**other.static_ms, **self.static_ms},
            "shared_ms": {**other.shared_ms, **self.shared_ms},
            "extras": (*self.extras, *added),
            "rounds": max(self.rounds, other.rounds),
            "seconds": self.seconds + other.seconds,
        })

    @property
    def source(self) -> str | None:
        """The file this table was read from or last saved to (None: only in memory)."""
        return self._source

    def describe(self) -> str:
        static = ", ".join(f"{value:.4g} ms" + (f" ({kind} RPReLU)" if len(self.static_ms) > 1
                                                 else "")
                           for kind, value in self.static_ms.items())
        return (f"{self.backbone} all-static {static}, {len(self.extras)} site extras; "
                f"{self.device.describe()}")

    # -- files --------------------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=1) + "\n"

    def save(self, path: str | Path) -> Path:
        """Write ``path`` atomically (its folder created): a reader never sees half a table."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, self.to_json())
        self._source = str(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        """Read and validate a table; any problem is one line, ``table.json:LINE path: what``."""
        read_json(path, "latency table")  # bad JSON: its own line and message
        located = load_yaml(read_text(path, "latency table"), str(path))  # JSON is YAML
        data = located.data
        if not isinstance(data, dict) or data.get("format") != TABLE_FORMAT:
            raise BnasError(f"{located.where(('format',))} not a bnas latency table (expected "
                            f"format {TABLE_FORMAT!r}; bnas profile --latency --out writes one)")
        try:
            table = cls.model_validate(data)
            table._source = str(path)
            return table
        except ValidationError as error:
            loc, message = explain(error, cls)
        except LocatedError as error:  # raised by the checks above, inside pydantic
            loc, message = error.loc, error.detail
        except BnasError as error:  # e.g. an unknown backbone, from the catalog
            loc, message = ("backbone",), str(error)
        raise BnasError(f"{located.where(loc)} {describe_location(loc)}: {message}")
