"""The weight-sharing supernet over a search space's threshold choices.

One network holds every candidate of a space (Once-for-All, Cai et al., ICLR 2020; SPOS,
Guo et al., ECCV 2020; for binary networks NAS-BNN, Lin et al., 2024). It is the backbone
built by :func:`bnas.models.build_model` with its sign sites (and, where the space offers
DyRPReLU, its RPReLUs) replaced by the elastic modules of :mod:`bnas.supernet.elastic`; the
binary convs / linears, norms, stem and head are those of every candidate already.

- :meth:`Supernet.set_active` selects one candidate for the next forwards. The slice sizes
  are worked out there, once, so a forward does no more than a plain network plus a few
  tensor views.
- :meth:`Supernet.extract` returns a plain ``build_model(arch)`` network holding the
  candidate's weights. The two module trees have the same names, and every tensor of the
  candidate is the leading slice of the supernet's tensor of that name
  (``W[:k, :c]`` for a generator's first layer, all of a binary conv), so extraction is one
  rule: for each name of the candidate's state dict, copy ``shared[name][:n₀, :n₁, ...]``.
  The extracted network computes the same function as the active supernet.
- :meth:`Supernet.stages` and :meth:`Supernet.stage_keys` cut the network into the stem,
  one stage per block and the head, and say which candidates compute the same in each, so
  scoring (:mod:`bnas.supernet.evaluation`) computes what candidates share once.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

from torch import Tensor, nn

from bnas.architecture import Architecture
from bnas.backbones import backbone_info
from bnas.models import BinaryBackbone, build_model
from bnas.nn import RPReLU, RSign
from bnas.space import SearchSpace
from bnas.space.sampling import SITE_JOIN
from bnas.supernet.elastic import ElasticRPReLU, ElasticSign, use_binarizer

# Switches of bnas.nn.set_binarization (two-step recipe, float twin), kept on extraction.
_BINARIZATION_FLAGS = ("binarize_weights", "binarize_activations")


class Stage(NamedTuple):
    """One piece of the network's forward pass: ``run`` maps the previous stage's output to
    this one's; ``module`` holds the BatchNorms whose statistics the stage's output uses."""

    run: Callable[[Any], Any]
    module: nn.Module


def leading_slice(tensor: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``tensor[:shape[0], :shape[1], ...]``: the elastic-width slice of a shared tensor."""
    return tensor[tuple(slice(0, size) for size in shape)]


class Supernet(nn.Module):
    """Every candidate of ``space`` in one network; the largest is active at first.

    >>> from bnas.space import parse_space
    >>> space = parse_space('''
    ... name: demo
    ... backbone: {name: reactnet_a, preset: tiny}
    ... space: {blocks: {threshold: [static, dynamic], rd_ratio: [2, 4]}}
    ... data: {name: digits}
    ... search: {num_samples: 1}
    ... ''')
    >>> supernet = Supernet(space)
    >>> smallest, largest = space.extremes()
    >>> supernet.set_active(smallest)
    >>> supernet.extract(smallest).arch.summary()
    'reactnet_a[S S S S]'
    """

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space
        binarizer = space.space.binarizer[0]
        self.network = build_model(  # the skeleton: every site static, then made elastic
            Architecture.from_dict({"backbone": space.backbone.name,
                                    "args": space.backbone.args, "binarizer": binarizer})
        )
        self.num_classes: int = self.network.num_classes
        sites = backbone_info(space.backbone.name).sites
        self._signs: list[tuple[int, str, RSign]] = []
        for block_space, block in zip(space.blocks, self.network.blocks):
            dynamic_sites = set()
            if "dynamic" in block_space.threshold:
                dynamic_sites = {s for subset in block_space.sites for s in subset.split(SITE_JOIN)}
            for site in sites:
                unit = getattr(block, site)
                if site in dynamic_sites:  # a site the space never makes dynamic stays RSign
                    unit.sign = ElasticSign(unit.sign.channels, block_space, binarizer)
                self._signs.append((block_space.index, site, unit.sign))
        self._rprelus: list[ElasticRPReLU] = []
        if "dynamic" in space.space.rprelu:
            for name, module in list(self.network.named_modules()):
                if isinstance(module, RPReLU):
                    elastic = ElasticRPReLU(module.channels)
                    self.network.set_submodule(name, elastic)
                    self._rprelus.append(elastic)
        self.active: Architecture
        self.set_active(space.extremes()[1])

    def set_active(self, arch: Architecture) -> None:
        """Run candidate ``arch`` from the next forward on; a BnasError if it is not in the
        space (its generator could be wider than the shared one)."""
        self.space.params_of(arch)
        for index, site, sign in self._signs:
            if isinstance(sign, ElasticSign):
                sign.activate(arch.blocks[index][site], arch.binarizer)
            else:
                use_binarizer(sign, arch.binarizer)
        for rprelu in self._rprelus:
            rprelu.activate(arch.rprelu)
        self.active = arch

    def forward(self, x: Tensor) -> Tensor:
        return self.network(x)

    def stages(self) -> list[Stage]:
        """The forward pass in pieces: stem, each block, head, for a backbone whose features
        are its stem then its blocks (:class:`~bnas.models.BinaryBackbone`'s own
        ``forward_features``: ReActNet-A, ReAct-ResNet18); else the whole network as one
        stage (binary CCT: no BatchNorm to recalibrate, nothing to share)."""
        network = self.network
        if type(network).forward_features is not BinaryBackbone.forward_features:
            return [Stage(network, network)]
        return [Stage(network.stem, network.stem),
                *[Stage(block, block) for block in network.blocks],
                Stage(network.forward_head, network.head)]

    def stage_keys(self, arch: Architecture) -> list[Hashable]:
        """Per stage of :meth:`stages`, what of ``arch`` that stage computes with: two
        candidates whose keys agree up to a stage give the same output there, whatever their
        names (reduction ratios clamped to the same hidden width are one function). Every
        sign site binarizes with ``arch.binarizer`` and every RPReLU follows ``arch.rprelu``, so
        both belong to the first stage."""
        per_block: list[list[Hashable]] = [[] for _ in arch.blocks]
        for index, site, sign in self._signs:
            threshold = arch.blocks[index][site]
            if isinstance(sign, ElasticSign):
                per_block[index].append(sign.slice_for(threshold))
        network_wide = (arch.binarizer, arch.rprelu)
        if len(self.stages()) == 1:
            return [(network_wide, *map(tuple, per_block))]
        return [network_wide, *map(tuple, per_block), ()]

    def extract(self, arch: Architecture) -> nn.Module:
        """``build_model(arch)`` holding ``arch``'s slices of the shared weights (copies) and
        BatchNorm statistics, on the supernet's device, in its train / eval mode and with its
        binarization switches: the same function as the supernet with ``arch`` active."""
        self.space.params_of(arch)
        model = build_model(arch)
        shared = self.network.state_dict()
        model.load_state_dict(
            {name: leading_slice(shared[name], value.shape)
             for name, value in model.state_dict().items()}
        )
        for name, module in model.named_modules():
            source = self.network.get_submodule(name)
            for flag in _BINARIZATION_FLAGS:
                if hasattr(module, flag):
                    setattr(module, flag, getattr(source, flag))
        device = next(self.parameters()).device
        return model.to(device).train(self.training)

    def extra_repr(self) -> str:
        return f"space={self.space.name}, active={self.active.summary()}"
