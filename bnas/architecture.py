"""``Architecture``: the one currency between search spaces, models, training and export.

An Architecture names a backbone, its arguments, and for every block which of its binarized
*sites* get a static threshold (ReActNet's RSign: a learned per-channel bias) or a dynamic
one (DySign: a per-sample, per-channel threshold from a small generator). It is plain data:
it round-trips through dicts, YAML and JSON, validates itself against the backbone catalog,
hashes to a stable short id, and prints as one line, e.g. ``reactnet_a[S S D16 S/D8]``.

Example::

    >>> arch = Architecture.uniform("reactnet_a", "dynamic", preset="tiny", num_classes=10)
    >>> arch.summary()
    'reactnet_a[D16 D16 D16 D16]'
    >>> Architecture.from_dict(arch.to_dict()) == arch
    True
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bnas.backbones import backbone_info
from bnas.errors import BnasError, LocatedError, explain, validate_as
from bnas.reading import load_yaml, read_text
from bnas.writing import write_text_atomic

ThresholdKind = Literal["static", "dynamic"]
THRESHOLD_KINDS: tuple[str, ...] = ("static", "dynamic")
# The fields of a dynamic threshold's generator: a static threshold has none to set.
GENERATOR_SETTINGS: tuple[str, ...] = ("rd_ratio", "min_hidden", "pool", "act", "bound")


class Threshold(BaseModel):
    """How one binarized site thresholds its input before ``sign``.

    ``static``: sign(x − α_c) with a learned per-channel α (ReActNet RSign).
    ``dynamic``: sign(x − τ(x) − α_c), τ from a generator pool → FC(C→C/rd_ratio) → act → FC
    (DySign); ``pool: constant`` feeds the generator a learned constant instead of the input's
    statistics, an input-independent control for ablations.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ThresholdKind = "static"
    rd_ratio: int = Field(16, gt=0, description="channel reduction ratio of the generator")
    min_hidden: int = Field(8, gt=0, description="lower bound on the generator's hidden width")
    pool: Literal["mean", "mean_std", "constant"] = "mean"
    act: Literal["relu", "prelu"] = "relu"
    bound: Literal["none", "tanh"] = "none"

    @model_validator(mode="before")
    @classmethod
    def _from_shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            if data not in THRESHOLD_KINDS:
                raise ValueError(
                    f"unknown threshold {data!r}; valid: {', '.join(THRESHOLD_KINDS)}"
                )
            return {"kind": data}
        if isinstance(data, dict) and data.get("kind", "static") == "static":
            if any(key not in cls.model_fields for key in data):
                return data  # validation names the unknown key and lists the valid ones
            settings = [key for key in data if key in GENERATOR_SETTINGS]
            if settings:  # a typo'd kind (or none) must not silently turn a generator off
                raise ValueError(
                    f"{', '.join(settings)} set on a static threshold: generator settings "
                    "need kind: dynamic"
                )
        return data

    @property
    def is_dynamic(self) -> bool:
        return self.kind == "dynamic"

    def to_data(self) -> str | dict[str, Any]:
        """``"static"``, or the dynamic settings as a dict (YAML friendly)."""
        if not self.is_dynamic:
            return "static"
        defaults = Threshold(kind="dynamic")
        return {"kind": "dynamic", "rd_ratio": self.rd_ratio} | {
            name: value
            for name, value in self.model_dump().items()
            if value != getattr(defaults, name)
        }

    def token(self) -> str:
        return f"D{self.rd_ratio}" if self.is_dynamic else "S"


STATIC = Threshold()


def _check_threshold(data: Any, loc: tuple[str | int, ...]) -> None:
    """Validate a threshold written once for several sites, so a problem names where it was
    written (``blocks[2]``) rather than each site it was copied to."""
    try:
        Threshold.model_validate(data)
    except ValidationError as error:
        inner, message = explain(error, Threshold)
        raise LocatedError((*loc, *inner), message) from None


class Architecture(BaseModel):
    """A backbone plus, for every block, the threshold of each binarized site."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backbone: str
    args: dict[str, Any] = Field(default_factory=dict)
    binarizer: Literal["approx_sign", "ste"] = "approx_sign"
    rprelu: ThresholdKind = "static"
    blocks: tuple[dict[str, Threshold], ...]

    @model_validator(mode="before")
    @classmethod
    def _expand_blocks(cls, data: Any) -> Any:
        """Fill every block with every site: a block or the whole list may be a shorthand."""
        if not isinstance(data, dict) or not isinstance(data.get("backbone"), str):
            return data
        info = backbone_info(data["backbone"])
        args = data.get("args") or {}
        try:
            info.check_args(args)
        except LocatedError as error:
            raise LocatedError(("args", *error.loc), error.detail) from None
        num_blocks = info.num_blocks(args)
        blocks = data.get("blocks", "static")
        if isinstance(blocks, (str, Threshold)) or (
            isinstance(blocks, dict) and "kind" in blocks
        ):
            _check_threshold(blocks, ("blocks",))  # blamed where written, not per site
            blocks = [blocks] * num_blocks
        if not isinstance(blocks, (list, tuple)):
            return data
        if len(blocks) != num_blocks:
            raise LocatedError(
                ("blocks",), f"{info.name} with these args has {num_blocks} blocks, "
                f"got {len(blocks)}"
            )
        expanded = []
        for index, block in enumerate(blocks):
            if isinstance(block, (str, Threshold)) or (isinstance(block, dict) and "kind" in block):
                _check_threshold(block, ("blocks", index))
                block = {site: block for site in info.sites}
            if isinstance(block, dict):
                wrong = [site for site in block if site not in info.sites]
                if wrong:
                    raise LocatedError(
                        ("blocks", index),
                        f"unknown site {wrong[0]!r}; valid for {info.name}: "
                        f"{', '.join(info.sites)}",
                    )
                block = {site: block.get(site, "static") for site in info.sites}
            expanded.append(block)
        return {**data, "args": args, "blocks": expanded}

    # -- constructors -------------------------------------------------------------------------

    @classmethod
    def uniform(
        cls, backbone: str, threshold: str | Threshold | dict[str, Any] = "static", **args: Any
    ) -> Architecture:
        """Every site of every block with the same threshold."""
        return cls.from_dict({"backbone": backbone, "args": args, "blocks": threshold})

    @classmethod
    def from_dict(cls, data: Any, source: str = "architecture") -> Architecture:
        """Validate plain data; a problem becomes one ``BnasError`` line naming its path."""
        try:
            return validate_as(cls, data, source, "a mapping with 'backbone' and 'blocks'")
        except BnasError as error:
            if str(error).startswith(f"{source}: "):
                raise
            raise BnasError(f"{source}: {error}") from None  # from the catalog: add the source

    @classmethod
    def from_yaml(cls, text: str, source: str = "architecture") -> Architecture:
        """Parse YAML text (safely: plain data only); ``source`` prefixes error messages."""
        return cls.from_dict(load_yaml(text, source).data, source=source)

    @classmethod
    def load(cls, path: str | Path) -> Architecture:
        """Load an ``arch.yaml`` (or ``.json``) file."""
        return cls.from_yaml(read_text(path, "architecture file"), source=str(path))

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (and its folder) atomically: a reader never sees half a file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_text_atomic(path, self.to_yaml())

    # -- plain data ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "backbone": self.backbone,
            "args": dict(self.args),
            "binarizer": self.binarizer,
            "rprelu": self.rprelu,
            "blocks": [
                {site: threshold.to_data() for site, threshold in block.items()}
                for block in self.blocks
            ],
        }

    def to_yaml(self) -> str:
        header = f"# {self.summary()}  id={self.arch_id}\n"
        return header + yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def arch_id(self) -> str:
        """Stable 10-hex-digit id: the same architecture has the same id on every machine."""
        return hashlib.sha1(self.to_json().encode()).hexdigest()[:10]

    def __hash__(self) -> int:
        return hash(self.to_json())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Architecture) and self.to_json() == other.to_json()

    # -- views --------------------------------------------------------------------------------

    @property
    def sites(self) -> tuple[str, ...]:
        return backbone_info(self.backbone).sites

    def block_token(self, index: int) -> str:
        """``S`` all static, ``D16`` all dynamic with r=16, else per site, e.g. ``S/D8``."""
        tokens = [threshold.token() for threshold in self.blocks[index].values()]
        return tokens[0] if len(set(tokens)) == 1 else "/".join(tokens)

    def summary(self) -> str:
        """One line: ``reactnet_a[S S D16 S/D8]``."""
        return f"{self.backbone}[{' '.join(map(self.block_token, range(len(self.blocks))))}]"

    def num_dynamic_sites(self) -> int:
        return sum(t.is_dynamic for block in self.blocks for t in block.values())

    def with_static_thresholds(self) -> Architecture:
        """The same network with every site static (RSign) and static RPReLU."""
        return Architecture.from_dict({**self.to_dict(), "rprelu": "static", "blocks": "static"})

    def with_args(self, **args: Any) -> Architecture:
        """The same thresholds with some backbone arguments replaced (e.g. ``num_classes``)."""
        data = self.to_dict()
        data["args"] = {**data["args"], **args}
        return Architecture.from_dict(data)
