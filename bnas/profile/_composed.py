"""A candidate's cost in milliseconds: composed from measured, cached parts.

Every choice bnas searches lives in the sign sites, and a dynamic site is its static one plus a
generator: :class:`~bnas.nn.DySign` is :class:`~bnas.nn.RSign` (the same α per channel) with a
:class:`~bnas.nn.ThresholdGenerator`. Binary convs, BatchNorm, RPReLU, stem and head do not
depend on the thresholds. So, exactly, for every key of :class:`~bnas.costs.Cost`:

.. math::
    \\mathrm{cost}(a) = \\mathrm{cost}(\\mathrm{static}(a))
        + \\sum_{s \\in \\mathrm{dynamic}(a)} \\mathrm{cost}(\\mathrm{generator}_s),

where static(a) is ``a`` with every site static (same backbone, arguments and RPReLU kind: a
dynamic RPReLU's generators belong to it), and a site's generator depends only on the site's
input channels C and its :class:`~bnas.architecture.Threshold`: it acts on the pooled N×C
statistics, so the image size or the token count never enters.

Both parts are measured by the one FlopCounterMode path (:mod:`bnas.profile._counter`), never
by hand-written MAC formulas, and cached: the static network once per (backbone, arguments,
RPReLU kind), ~0.2–1 s on the meta device; a dynamic site's generator once per
(C, threshold), ~0.5 ms (run for real on one 1×C sample). Composing is then dictionary
look-ups and one pass over the rows. The per-layer rows come out in forward order, each
site's generator rows right after its sign, exactly as
:func:`~bnas.profile.measure_architecture` lists them; the tests check every key and every
row against it on random candidates of every backbone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import torch

from bnas.architecture import Architecture, Threshold
from bnas.costs import Cost, LayerCost
from bnas.nn import ThresholdGenerator, make_sign_site
from bnas.profile._counter import checked_img_size, count_model, input_shape


@dataclass(frozen=True)
class _StaticNetwork:
    """The all-static network's cost, and where each site's sign sits in it."""

    cost: Cost
    signs: dict[tuple[int, str], tuple[str, int]]  # (block, site) → (module path, channels)


@dataclass
class CostParts:
    """What :func:`profile_architecture` has measured: static networks by (backbone,
    arguments as JSON, RPReLU kind), dynamic sites by (channels, threshold). Plain data: a
    search measures the parts of its space once and ships them to its trial workers
    (:func:`add_cost_parts`), which then cost their candidates without measuring."""

    static_networks: dict[tuple[str, str, str], _StaticNetwork] = field(default_factory=dict)
    dynamic_sites: dict[tuple[int, Threshold], Cost] = field(default_factory=dict)  # generators


_MEASURED = CostParts()


def cost_parts() -> CostParts:
    """The parts measured so far in this process."""
    return _MEASURED


def add_cost_parts(parts: CostParts) -> None:
    """Use parts measured elsewhere (the same code measures them the same everywhere)."""
    _MEASURED.static_networks.update(parts.static_networks)
    _MEASURED.dynamic_sites.update(parts.dynamic_sites)


def _static_network(backbone: str, args_json: str, rprelu: str) -> _StaticNetwork:
    key = (backbone, args_json, rprelu)
    if key not in _MEASURED.static_networks:
        _MEASURED.static_networks[key] = _measure_static_network(*key)
    return _MEASURED.static_networks[key]


def _measure_static_network(backbone: str, args_json: str, rprelu: str) -> _StaticNetwork:
    from bnas.models import build_model

    arch = Architecture.from_dict(
        {"backbone": backbone, "args": json.loads(args_json), "rprelu": rprelu,
         "blocks": "static"}
    )
    with torch.device("meta"):
        model = build_model(arch)
    paths = {module: path for path, module in model.named_modules()}
    # bnas.models' convention: blocks[i].<site>.sign is the sign module of that site.
    signs = {
        (index, site): (paths[sign], sign.channels)
        for index, block in enumerate(model.blocks)
        for site in arch.sites
        for sign in [getattr(block, site).sign]
    }
    return _StaticNetwork(count_model(model, input_shape(arch)), signs)


def _dynamic_site(channels: int, threshold: Threshold) -> Cost:
    key = (channels, threshold)
    if key not in _MEASURED.dynamic_sites:
        _MEASURED.dynamic_sites[key] = _measure_dynamic_site(channels, threshold)
    return _MEASURED.dynamic_sites[key]


def _measure_dynamic_site(channels: int, threshold: Threshold) -> Cost:
    """The generator a DySign of ``threshold`` on ``channels`` adds to the static site (its α
    is the RSign's), run for real on one 1×C sample: at this size that is faster than
    building on the meta device, and the rows are named by their path below the sign."""
    with torch.random.fork_rng(devices=[]):  # initialising weights must not move the seed
        sign = make_sign_site(threshold, channels)
    path, generator = next((path, module) for path, module in sign.named_modules()
                           if isinstance(module, ThresholdGenerator))
    cost = count_model(generator, (channels,), for_real=True)
    rows = tuple(replace(row, name=f"{path}.{row.name}") for row in cost.layers)
    return replace(cost, layers=rows)


def profile_architecture(arch: Architecture, img_size: int | None = None) -> Cost:
    """BOPs, FLOPs, OPs, parameters and size of ``arch`` per sample, with per-layer rows.

    The input is one sample of the architecture's ``in_chans`` × ``img_size``² (defaults
    3 and 224). An explicit ``img_size`` replaces ``args.img_size``: token-based models size
    their position embeddings with it, and ``stem: auto`` picks the stem from it.

    Composed from cached parts (module docstring): the first architecture of a backbone and
    its arguments takes as long as measuring it, later ones milliseconds. Equal, key for key
    and row for row, to :func:`~bnas.profile.measure_architecture`.
    """
    args = dict(arch.args)
    if img_size is not None:
        args["img_size"] = checked_img_size(img_size)
    static = _static_network(arch.backbone, json.dumps(args, sort_keys=True), arch.rprelu)
    generator_rows: dict[str, list[LayerCost]] = {}
    generator_params = 0
    for index, block in enumerate(arch.blocks):
        for site, threshold in block.items():
            if not threshold.is_dynamic:
                continue
            path, channels = static.signs[index, site]
            generator = _dynamic_site(channels, threshold)
            generator_rows[path] = [
                replace(row, name=f"{path}.{row.name}") for row in generator.layers
            ]
            generator_params += generator.generator_params
    if not generator_rows:
        return static.cost
    layers: list[LayerCost] = []
    for row in static.cost.layers:
        layers.append(row)
        layers.extend(generator_rows.get(row.name, ()))
    return Cost.from_layers(
        tuple(layers),
        params_binary=static.cost.params_binary,
        params_real=static.cost.params_real + generator_params,
        generator_params=static.cost.generator_params + generator_params,
    )
