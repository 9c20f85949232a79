"""bnas.site_effects: per-site effects from known synthetic scores, and the seeds' agreement."""

from __future__ import annotations

import random

import pytest

from bnas.site_effects import seed_agreement, site_effects
from bnas.space import parse_space
from bnas.supernet import CandidateSampler

SPACE = """\
name: effects
backbone: {name: reactnet_a, preset: tiny}
space:
  blocks: {threshold: [static, dynamic], rd_ratio: [2, 4], sites: [conv3x3, conv1x1]}
  overrides: {"3": {threshold: static}, "2": {sites: [[conv3x3, conv1x1]]}}
data: {name: digits}
search: {num_samples: 1}
"""
# Block 3 never varies (no effect to estimate); block 2's two sites only change together.
TRUE = {"b0.conv3x3": 0.02, "b0.conv1x1": -0.01, "b1.conv3x3": 0.0, "b1.conv1x1": 0.005,
        "b2.conv3x3+conv1x1": -0.03}


def candidates(count: int, seed: int = 0) -> list:
    space = parse_space(SPACE, "effects.yaml")
    sampler, rng = CandidateSampler(space, rule="fair", seed=seed), random.Random(seed)
    return [arch for _ in range(count // 2) for arch in sampler.fair_pair(rng)]


def synthetic(archs, effects: dict[str, float], noise: float, seed: int) -> list[float]:
    """0.6 + Σ effect × [site dynamic] + Gaussian noise (sd ``noise``)."""
    rng = random.Random(seed)
    scores = []
    for arch in archs:
        dynamic = {f"b{i}.{site}" for i, block in enumerate(arch.blocks)
                   for site, threshold in block.items() if threshold.is_dynamic}
        total = 0.6 + rng.gauss(0, noise)
        for key, effect in effects.items():
            if set(f"{key.split('.')[0]}.{s}" for s in key.split(".")[1].split("+")) <= dynamic:
                total += effect
        scores.append(total)
    return scores


def test_effects_recover_known_signs_and_their_intervals_cover_them():
    archs = candidates(400)
    effects = {e.key: e for e in site_effects(archs, synthetic(archs, TRUE, 0.01, seed=1))}
    assert list(effects) == list(TRUE)  # block 3 left out, block 2 as one joint site
    for key, truth in TRUE.items():
        e = effects[key]
        assert e.low < truth < e.high, (key, e)
        assert e.high - e.low < 0.006  # 400 candidates at noise 1 pt pin it to ±0.3 pt
        assert e.n_dynamic + e.n_static == len(archs) and min(e.n_dynamic, e.n_static) > 100
        if truth:
            assert (e.effect > 0) == (truth > 0) and e.excludes_zero
        else:
            assert not e.excludes_zero
    # Without noise the fit is exact, and the intervals collapse onto it.
    exact = site_effects(archs, synthetic(archs, TRUE, 0.0, seed=1))
    for e in exact:
        assert e.effect == pytest.approx(TRUE[e.key], abs=1e-9)
        assert e.high - e.low == pytest.approx(0, abs=1e-9)


def test_a_confounded_sampler_does_not_fool_the_fit():
    """Candidates that are dynamic at b0.conv3x3 mostly where b0.conv1x1 is too: the marginal
    means would credit conv3x3 with conv1x1's effect, the joint fit does not."""
    archs = [a for a in candidates(600, seed=2)
             if a.blocks[0]["conv3x3"].is_dynamic == a.blocks[0]["conv1x1"].is_dynamic
             or random.Random(a.arch_id).random() < 0.2]
    truth = {"b0.conv3x3": 0.0, "b0.conv1x1": 0.03}
    scores = synthetic(archs, truth, 0.005, seed=3)
    effect = {e.key: e for e in site_effects(archs, scores)}["b0.conv3x3"]
    assert effect.low < 0 < effect.high
    dynamic = [s for a, s in zip(archs, scores) if a.blocks[0]["conv3x3"].is_dynamic]
    static = [s for a, s in zip(archs, scores) if not a.blocks[0]["conv3x3"].is_dynamic]
    assert sum(dynamic) / len(dynamic) - sum(static) / len(static) > 0.015  # confounded


def test_seed_agreement_names_the_sites_whose_sign_flips():
    archs = candidates(300)
    first = synthetic(archs, TRUE, 0.005, seed=4)
    flipped = {**TRUE, "b0.conv1x1": +0.01}  # the other seed's supernet says the opposite
    second = synthetic(archs, flipped, 0.005, seed=5)
    agreement = seed_agreement(archs, [first, second])
    assert agreement.disagreeing == ["b0.conv1x1"]
    assert agreement.agreeing_sites == len(TRUE) - 1
    site = agreement.sites["b0.conv1x1"]
    assert site["effects"][0] < 0 < site["effects"][1] and site["excludes_zero"] == [True, True]
    (pair,) = agreement.rank
    assert pair["seeds"] == [0, 1] and pair["n"] == len(archs) and pair["tau"] > 0.3
    # A site without an effect has noise for a sign: agreement there is chance, and says so
    # only through its interval.
    assert not any(agreement.sites["b1.conv3x3"]["excludes_zero"])
