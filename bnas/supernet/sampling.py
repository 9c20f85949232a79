"""Which candidates a supernet step trains: uniform (SPOS) or the sandwich rule (BigNAS).

- ``uniform`` (single-path one-shot, Guo et al., ECCV 2020): ``num_random`` candidates drawn
  uniformly over the space's architectures. The space is a product of blocks (with their
  overrides), the binarizer and the RPReLU choice, so uniform over architectures is uniform
  over each factor: block *i* is static with probability 1 / n_i (n_i its distinct settings,
  :meth:`~bnas.space.sampling.BlockSpace.count`) and otherwise draws every generator dimension
  uniformly, which gives each of its n_i settings probability 1 / n_i.
- ``sandwich`` (BigNAS, Yu et al., ECCV 2020; NAS-BNN): the largest and the smallest
  candidate (:meth:`~bnas.space.SearchSpace.extremes`, by construction) and ``num_random``
  uniform ones, so both ends of the space are trained at every step.

Draws are a function of ``(seed, step)`` alone: a resumed run and every data-parallel worker
see the same candidates at the same step, without carrying random state around.
"""

from __future__ import annotations

import random

from bnas.architecture import Architecture
from bnas.errors import BnasError
from bnas.space import SearchSpace

SAMPLING_RULES: tuple[str, ...] = ("uniform", "sandwich")


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
    >>> sampler = CandidateSampler(space, rule="sandwich", num_random=1, seed=0)
    >>> [arch.summary() for arch in sampler.candidates(step=0)][:2]
    ['reactnet_a[D2 D2 D2 D2]', 'reactnet_a[S S S S]']
    """

    def __init__(
        self, space: SearchSpace, *, rule: str = "uniform", num_random: int = 1, seed: int = 0
    ) -> None:
        if rule not in SAMPLING_RULES:
            raise BnasError(f"unknown sampling rule {rule!r}; valid: {', '.join(SAMPLING_RULES)}")
        if num_random < (0 if rule == "sandwich" else 1):
            raise BnasError(f"{rule}: num_random must be >= {0 if rule == 'sandwich' else 1}, "
                            f"got {num_random}")
        self.space, self.rule, self.num_random, self.seed = space, rule, num_random, seed
        self.smallest, self.largest = space.extremes()

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

    def candidates(self, step: int) -> list[Architecture]:
        """The candidates of training step ``step`` (the same for the same seed and step)."""
        rng = random.Random(f"{self.seed}:{step}")
        drawn = [self.random(rng) for _ in range(self.num_random)]
        return [self.largest, self.smallest, *drawn] if self.rule == "sandwich" else drawn
