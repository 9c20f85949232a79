"""Which candidates a supernet step trains: uniform (SPOS), fair, or the sandwich rule.

- ``uniform`` (single-path one-shot, Guo et al., ECCV 2020): ``num_random`` candidates drawn
  uniformly over the space's architectures. The space is a product of blocks (with their
  overrides), the binarizer and the RPReLU choice, so uniform over architectures is uniform
  over each factor: block *i* is static with probability 1 / n_i (n_i its distinct settings,
  :meth:`~bnas.space.sampling.BlockSpace.count`). In a space with four reduction ratios and
  three site sets that is 1 in 13: a static path is trained a twelfth as often as the dynamic
  ones, so the supernet learns the static paths worst, exactly the comparison a search of
  thresholds is about.
- ``fair`` (after FairNAS, Chu et al., ICCV 2021): every sign site is static or dynamic with
  probability 1/2 (drawn per site; a block whose draw is not one of its allowed site sets
  draws again), the generator settings of a dynamic block uniformly, so each site's static
  and its dynamic path are trained equally often. Candidates come in **complementary
  pairs**: the second of a pair flips every site of the first (static ↔ dynamic, a fresh
  generator setting), FairNAS's strict fairness for two paths per site: within every pair
  each site's two paths are both trained once. A flip the space does not allow (a block
  that must stay dynamic, a site set it does not offer) is a fresh fair draw of that block.
- ``sandwich`` (BigNAS, Yu et al., ECCV 2020; NAS-BNN, Lin et al., 2024): the largest and
  the smallest candidate (:meth:`~bnas.space.SearchSpace.extremes`, by construction) and
  ``num_random`` fair ones, so both ends of the space are trained at every step. The two
  ends are each other's complement, so the sandwich is fair too.

Draws are a function of ``(seed, step)`` alone: a resumed run and every data-parallel worker
see the same candidates at the same step, without carrying random state around.
"""

from __future__ import annotations

import random
from typing import Any

from bnas.architecture import Architecture
from bnas.backbones import backbone_info
from bnas.errors import BnasError
from bnas.space import SearchSpace
from bnas.space.blocks import SITE_JOIN, BlockSpace

SAMPLING_RULES: tuple[str, ...] = ("uniform", "fair", "sandwich")
_MINIMUM_RANDOM = {"uniform": 1, "fair": 1, "sandwich": 0}


def _sites(block: BlockSpace, order: tuple[str, ...]) -> list[str]:
    """The sites any allowed set of ``block`` covers, in backbone ``order`` (the order in which
    a set is encoded)."""
    covered = {site for subset in block.sites for site in subset.split(SITE_JOIN)}
    return [site for site in order if site in covered]


def _dynamic(block: BlockSpace, sites: list[str], rng: random.Random) -> dict[str, Any] | None:
    """A dynamic option of ``block`` on ``sites`` (in backbone order; generator settings drawn
    uniformly), or None when the block offers no such option."""
    key = SITE_JOIN.join(sites)
    if "dynamic" not in block.threshold or key not in block.sites:
        return None
    option: dict[str, Any] = {"threshold": "dynamic"}
    for dim, choices in block.generator_dims().items():
        option[dim] = key if dim == "sites" else rng.choice(choices)
    return option


def _flip(block: BlockSpace, option: dict[str, Any], order: tuple[str, ...],
          rng: random.Random) -> dict[str, Any] | None:
    """``option`` with every site flipped, or None when the space does not offer that."""
    dynamic = set(option["sites"].split(SITE_JOIN)) if option["threshold"] == "dynamic" else set()
    flipped = [site for site in _sites(block, order) if site not in dynamic]
    if not flipped:
        return {"threshold": "static"} if "static" in block.threshold else None
    return _dynamic(block, flipped, rng)


def _fair_option(block: BlockSpace, order: tuple[str, ...], rng: random.Random
                 ) -> dict[str, Any]:
    """One block: every site dynamic with probability 1/2, drawn again until allowed."""
    if "dynamic" not in block.threshold:
        return {"threshold": "static"}
    sites = _sites(block, order)
    while True:
        drawn = [site for site in sites if rng.random() < 0.5]
        if not drawn:
            if "static" in block.threshold:
                return {"threshold": "static"}
            continue
        option = _dynamic(block, drawn, rng)
        if option is not None:
            return option


def _params(block: BlockSpace, option: dict[str, Any]) -> dict[str, Any]:
    return {f"{block.prefix()}.{key}": value for key, value in option.items()}


class CandidateSampler:
    """Seeded candidates of ``space`` for each supernet training step.

    >>> from bnas.space import parse_space
    >>> space = parse_space('''
    ... name: demo
    ... backbone: {name: reactnet_a, preset: tiny}
    ... space: {blocks: {threshold: [static, dynamic], rd_ratio: [2, 4]}}
    ... data: {name: digits}
    ... search: {num_samples: 1}
    ... ''')
    >>> sampler = CandidateSampler(space, rule="sandwich", num_random=2, seed=0)
    >>> [arch.summary() for arch in sampler.candidates(step=0)][:2]
    ['reactnet_a[D2 D2 D2 D2]', 'reactnet_a[S S S S]']
    >>> pair = CandidateSampler(space, rule="fair", num_random=2, seed=0).candidates(step=0)
    >>> [arch.summary() for arch in pair]      # each site flipped in the second
    ['reactnet_a[S D2/S D4/S D2/S]', 'reactnet_a[D2 S/D2 S/D2 S/D4]']
    """

    def __init__(
        self, space: SearchSpace, *, rule: str = "uniform", num_random: int = 1, seed: int = 0
    ) -> None:
        if rule not in SAMPLING_RULES:
            raise BnasError(f"unknown sampling rule {rule!r}; valid: {', '.join(SAMPLING_RULES)}")
        if num_random < _MINIMUM_RANDOM[rule]:
            raise BnasError(f"{rule}: num_random must be >= {_MINIMUM_RANDOM[rule]}, "
                            f"got {num_random}")
        self.space, self.rule, self.num_random, self.seed = space, rule, num_random, seed
        self.smallest, self.largest = space.extremes()
        self._site_order = backbone_info(space.backbone.name).sites

    def random(self, rng: random.Random) -> Architecture:
        """One candidate drawn uniformly over the space's architectures with ``rng``."""
        params = {}
        for block in self.space.blocks:
            static = "static" in block.threshold and rng.randrange(block.count()) == 0
            params[f"{block.prefix()}.threshold"] = "static" if static else "dynamic"
            if not static:
                for dim, choices in block.generator_dims().items():
                    params[f"{block.prefix()}.{dim}"] = rng.choice(choices)
        for name in ("binarizer", "rprelu"):
            params[name] = rng.choice(getattr(self.space.space, name))
        return self.space.architecture(params)

    def fair_pair(self, rng: random.Random) -> tuple[Architecture, Architecture]:
        """A fair candidate and its complement (see the module docstring) drawn with ``rng``."""
        first: dict[str, Any] = {}
        second: dict[str, Any] = {}
        for block in self.space.blocks:
            order = self._site_order
            option = _fair_option(block, order, rng)
            flipped = _flip(block, option, order, rng) or _fair_option(block, order, rng)
            first.update(_params(block, option))
            second.update(_params(block, flipped))
        binarizers, rprelus = self.space.space.binarizer, self.space.space.rprelu
        first["binarizer"], second["binarizer"] = rng.choice(binarizers), rng.choice(binarizers)
        first["rprelu"] = rng.choice(rprelus)
        others = [kind for kind in rprelus if kind != first["rprelu"]]
        second["rprelu"] = others[0] if others else first["rprelu"]
        return self.space.architecture(first), self.space.architecture(second)

    def candidates(self, step: int) -> list[Architecture]:
        """The candidates of training step ``step`` (the same for the same seed and step)."""
        rng = random.Random(f"{self.seed}:{step}")
        if self.rule == "uniform":
            return [self.random(rng) for _ in range(self.num_random)]
        drawn: list[Architecture] = []
        while len(drawn) < self.num_random:
            drawn += self.fair_pair(rng)
        drawn = drawn[:self.num_random]
        return [self.largest, self.smallest, *drawn] if self.rule == "sandwich" else drawn
