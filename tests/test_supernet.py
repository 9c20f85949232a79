"""bnas.supernet: elastic sign sites, candidate = extracted model, sampling, BN recalibration."""

from __future__ import annotations

import json
import random

import pytest
import torch
import torch.nn.functional as F
from scipy.stats import chisquare

from bnas.architecture import Architecture
from bnas.backbones import BACKBONES
from bnas.errors import BnasError
from bnas.nn import DyRPReLU, RPReLU, RSign, set_binarization
from bnas.space import parse_space
from bnas.supernet import (
    CandidateSampler,
    ElasticRPReLU,
    ElasticSign,
    Supernet,
    evaluate_candidate,
    evaluate_candidates,
    leading_slice,
)

BACKBONE_NAMES = ("reactnet_a", "react_resnet18", "binary_cct")

# Every generator choice bnas has, on 8×8 digits: the widest generator needs mean_std input,
# PReLU, and hidden = max(C // 2, 8).
EVERY_CHOICE = """\
name: every-choice
backbone: {{name: {backbone}, preset: tiny}}
space:
  blocks:
    threshold: [static, dynamic]
    rd_ratio: [2, 4, 16]
    min_hidden: [4, 8]
    pool: [mean, mean_std, constant]
    act: [relu, prelu]
    bound: [none, tanh]
  binarizer: [approx_sign, ste]
  rprelu: [static, dynamic]
data: {{name: digits}}
search: {{num_samples: 1}}
"""

# Only conv1x1 may be dynamic, block 0 never, generators mean-pooled with ReLU.
NARROW = """\
name: narrow
backbone: {name: reactnet_a, preset: tiny}
space:
  blocks: {threshold: [static, dynamic], rd_ratio: [4, 8], min_hidden: [2, 3],
           sites: [[conv1x1]]}
  overrides: {"0": {threshold: static}}
data: {name: digits}
search: {num_samples: 1}
"""


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def every_choice(backbone: str):
    return parse_space(EVERY_CHOICE.format(backbone=backbone), "every_choice.yaml")


def mixed(space, rotate: int, binarizer: str, rprelu: str) -> Architecture:
    """Static and three dynamic settings (each rd_ratio, pool, act, bound, min_hidden and a
    different site set) interleaved over the blocks."""
    sites = BACKBONES[space.backbone.name].sites
    variants = [
        {"threshold": "static"},
        {"threshold": "dynamic", "rd_ratio": 2, "sites": sites[0], "pool": "mean",
         "act": "prelu", "bound": "none", "min_hidden": 4},
        {"threshold": "dynamic", "rd_ratio": 4, "sites": sites[-1], "pool": "mean_std",
         "act": "relu", "bound": "tanh", "min_hidden": 8},
        {"threshold": "dynamic", "rd_ratio": 16, "sites": "+".join(sites), "pool": "constant",
         "act": "prelu", "bound": "tanh", "min_hidden": 4},
    ]
    params = {"binarizer": binarizer, "rprelu": rprelu}
    for block in space.blocks:
        option = variants[(block.index + rotate) % len(variants)]
        params |= {f"{block.prefix()}.{dim}": value for dim, value in option.items()}
    return space.architecture(params)


def batches(count: int, size: int = 16, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, 1, 8, 8, generator=generator),
             torch.randint(0, 10, (size,), generator=generator)) for _ in range(count)]


def train_a_few_steps(supernet: Supernet, sampler: CandidateSampler, steps: int) -> None:
    """Sandwich steps, so every generator leaves its zero start (W2 = 0: a fresh DySign is an
    RSign) and BatchNorm statistics move."""
    optimizer = torch.optim.AdamW(supernet.parameters(), lr=0.02)
    supernet.train()
    for step, (images, labels) in enumerate(batches(steps, seed=1)):
        for arch in sampler.candidates(step):
            supernet.set_active(arch)
            F.cross_entropy(supernet(images), labels).backward()
        optimizer.step()
        optimizer.zero_grad()


def num_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("backbone", BACKBONE_NAMES)
def test_candidate_and_extracted_model_give_the_same_logits(backbone):
    torch.manual_seed(0)
    space = every_choice(backbone)
    supernet = Supernet(space)
    sampler = CandidateSampler(space, rule="sandwich", num_random=2, seed=0)
    # The largest candidate is the widest setting everywhere: the supernet holds nothing more.
    assert num_parameters(supernet) == num_parameters(supernet.extract(sampler.largest))
    train_a_few_steps(supernet, sampler, steps=3)
    elastic = [m for m in supernet.modules() if isinstance(m, ElasticSign)]
    assert len(elastic) == len(space.blocks) * len(BACKBONES[backbone].sites)
    assert all(m.generator.fc2.weight.abs().sum() > 0 for m in elastic)

    candidates = {
        "static": sampler.smallest,
        "dynamic": sampler.largest,
        "mixed": mixed(space, 0, "approx_sign", "dynamic"),
        "mixed, rotated": mixed(space, 2, "ste", "static"),
        "random": sampler.random(random.Random(5)),
    }
    calibration, held_out = batches(2, seed=2), batches(1, size=8, seed=3)
    images = held_out[0][0]
    outputs = {}
    for name, arch in candidates.items():
        metrics = evaluate_candidate(supernet, arch, calibration, held_out,
                                     device=torch.device("cpu"))
        assert 0 <= metrics["top1"] <= 1 and "top5" in metrics
        assert not supernet.training and supernet.active == arch
        model = supernet.extract(arch)
        assert type(model) is type(supernet.network) and model.arch == arch
        assert not model.training
        supernet.zero_grad()
        outputs[name] = supernet(images)
        logits = model(images)
        difference = (outputs[name] - logits).abs().max().item()
        assert difference <= 1e-5, f"{name} {arch.summary()}: max |Δ| = {difference:.2e}"
        # Backward too (binarizer surrogates, sliced generators): the candidate's gradients
        # are the supernet's, sliced.
        F.cross_entropy(outputs[name], held_out[0][1]).backward()
        F.cross_entropy(logits, held_out[0][1]).backward()
        shared = dict(supernet.network.named_parameters())
        for key, parameter in model.named_parameters():
            torch.testing.assert_close(
                leading_slice(shared[key].grad, parameter.shape), parameter.grad,
                rtol=1e-4, atol=1e-5, msg=lambda m, key=key, name=name: f"{name}: {key}: {m}")
        outputs[name] = outputs[name].detach()
    # The candidates compute different functions, so equal logits are not a coincidence.
    names = list(outputs)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            assert (outputs[first] - outputs[second]).abs().max() > 1e-3, (first, second)


def test_extraction_keeps_the_binarization_switches():
    space = every_choice("reactnet_a")
    supernet = Supernet(space)
    set_binarization(supernet, weights=False, activations=True)  # step 1 of the two-step recipe
    model = supernet.extract(space.extremes()[0])
    assert not model.blocks[0].conv3x3.conv.binarize_weights
    assert model.blocks[0].conv3x3.sign.binarize_activations


def test_a_candidate_outside_the_space_is_refused_in_one_line():
    space = every_choice("reactnet_a")
    supernet = Supernet(space)
    outside = Architecture.uniform(
        "reactnet_a", {"kind": "dynamic", "rd_ratio": 1}, **space.backbone.args
    )
    for method in (supernet.extract, supernet.set_active):
        with pytest.raises(BnasError, match=r"^reactnet_a\[D1 D1 D1 D1\] is not in the space "
                                            r"every-choice: b0.rd_ratio = 1 is not a choice"
                           ) as error:
            method(outside)
        assert "\n" not in str(error.value)
    assert supernet.active == space.extremes()[1]  # a refused candidate changes nothing


def test_generators_are_as_wide_as_the_widest_choice_and_only_where_needed():
    space = parse_space(NARROW, "narrow.yaml")
    supernet = Supernet(space)
    for block_space, block in zip(space.blocks, supernet.network.blocks):
        assert type(block.conv3x3.sign) is RSign  # never dynamic in this space
        sign = block.conv1x1.sign
        if block_space.index == 0:
            assert type(sign) is RSign
            continue
        assert isinstance(sign, ElasticSign)
        channels = sign.channels
        assert sign.generator.fc1.weight.shape == (max(channels // 4, 3), channels)
        assert not any("act" in name for name, _ in sign.named_parameters())  # ReLU only
    assert not any(isinstance(m, (ElasticRPReLU, DyRPReLU)) for m in supernet.modules())
    assert any(isinstance(m, RPReLU) for m in supernet.modules())

    wide = Supernet(every_choice("reactnet_a"))
    sign = wide.network.blocks[1].conv3x3.sign
    hidden = max(sign.channels // 2, 8)
    assert sign.generator.fc1.weight.shape == (hidden, 2 * sign.channels)  # mean_std
    assert sign.generator.act.weight.shape == (hidden,)  # PReLU slope
    assert sum(isinstance(m, ElasticRPReLU) for m in wide.modules()) == 2 * len(space.blocks)


def test_a_candidate_trains_only_its_slice_of_the_shared_generator():
    space = parse_space(NARROW, "narrow.yaml")
    supernet = Supernet(space)
    arch = space.architecture({"b1.threshold": "dynamic", "b1.rd_ratio": 8, "b1.min_hidden": 2,
                               "b2.threshold": "static", "b3.threshold": "static"})
    supernet.set_active(arch)
    generator = supernet.network.blocks[1].conv1x1.sign.generator
    with torch.no_grad():  # W2 starts at zero, which would stop every gradient to W1
        generator.fc2.weight.normal_()
    images, labels = batches(1)[0]
    F.cross_entropy(supernet(images), labels).backward()
    k = max(32 // 8, 2)  # block 1's conv1x1 sees 32 channels; the widest generator has 8 units
    assert generator.fc1.weight.shape[0] == 8
    assert generator.fc1.weight.grad[:k].abs().sum() > 0
    assert generator.fc1.weight.grad[k:].abs().sum() == 0
    assert generator.fc2.weight.grad[:, k:].abs().sum() == 0
    static_generator = supernet.network.blocks[2].conv1x1.sign.generator
    assert all(p.grad is None for p in static_generator.parameters())  # static: bypassed


# -- sampling -----------------------------------------------------------------------------------

SMALL = """\
name: small
backbone: {name: reactnet_a, preset: tiny}
space:
  blocks: {threshold: [static, dynamic], rd_ratio: [2, 4], sites: [[conv3x3, conv1x1]]}
  overrides: {"0": {threshold: static}, "3": {threshold: dynamic}}
data: {name: digits}
search: {num_samples: 1}
"""


def test_uniform_sampling_covers_the_space_evenly_and_honours_overrides():
    space = parse_space(SMALL, "small.yaml")
    everything = {arch.arch_id for arch in space.enumerate()}
    assert len(everything) == 1 * 3 * 3 * 2
    sampler = CandidateSampler(space, rule="uniform", num_random=60, seed=0)
    counts = dict.fromkeys(everything, 0)
    for step in range(30):
        for arch in sampler.candidates(step):
            counts[arch.arch_id] += 1  # a KeyError here: a candidate outside the space
    # 1,800 draws over 18 architectures; drawing static per block half of the time (rather
    # than 1 in 3) would put the statistic far beyond this bound.
    assert chisquare(list(counts.values())).pvalue > 0.01


def test_sampling_is_reproducible_and_the_sandwich_holds_both_ends():
    space = every_choice("reactnet_a")
    sandwich = CandidateSampler(space, rule="sandwich", num_random=2, seed=7)
    smallest, largest = space.extremes()
    first = sandwich.candidates(0)
    assert first[:2] == [largest, smallest] and len(first) == 4
    again = CandidateSampler(space, rule="sandwich", num_random=2, seed=7)
    assert [again.candidates(step) for step in range(3)] == [
        sandwich.candidates(step) for step in range(3)]
    assert sandwich.candidates(1)[2:] != first[2:]
    other_seed = CandidateSampler(space, rule="sandwich", num_random=2, seed=8)
    assert other_seed.candidates(0)[2:] != first[2:]
    fair = CandidateSampler(space, rule="fair", num_random=2, seed=7)
    assert fair.candidates(0) == first[2:]  # the sandwich's random part is a fair pair
    with pytest.raises(BnasError, match="unknown sampling rule 'spos'; valid: uniform, fair, "
                                        "sandwich"):
        CandidateSampler(space, rule="spos")
    with pytest.raises(BnasError, match="uniform: num_random must be >= 1, got 0"):
        CandidateSampler(space, num_random=0)


FAIR = """\
name: fair
backbone: {name: reactnet_a, preset: tiny}
space:
  blocks: {threshold: [static, dynamic], rd_ratio: [2, 4, 8, 16], sites: [conv3x3, conv1x1]}
  overrides: {"0": {threshold: static}, "2": {threshold: dynamic, sites: [[conv1x1]]}}
data: {name: digits}
search: {num_samples: 1}
"""


def dynamic_sites(arch):
    return {(index, site) for index, block in enumerate(arch.blocks)
            for site, threshold in block.items() if threshold.is_dynamic}


def test_fair_sampling_trains_every_site_static_and_dynamic_equally_often():
    space = parse_space(FAIR, "fair.yaml")
    fair = CandidateSampler(space, rule="fair", num_random=4, seed=0)
    uniform = CandidateSampler(space, rule="uniform", num_random=4, seed=0)
    free = [(1, "conv3x3"), (1, "conv1x1"), (3, "conv3x3"), (3, "conv1x1")]
    counts = {site: [0, 0] for site in free}
    uniform_dynamic = dict.fromkeys(free, 0)
    draws = 0
    for step in range(300):
        candidates = fair.candidates(step)
        for first, second in zip(candidates[::2], candidates[1::2]):
            # strict fairness: a pair trains both paths of every free site once
            assert dynamic_sites(first) ^ dynamic_sites(second) >= set(free)
        for arch in candidates:
            sites = dynamic_sites(arch)
            space.params_of(arch)  # every draw is a candidate of the space
            assert (0, "conv3x3") not in sites and (0, "conv1x1") not in sites
            assert (2, "conv1x1") in sites and (2, "conv3x3") not in sites
            for site in free:
                counts[site][site in sites] += 1
            draws += 1
        for arch in uniform.candidates(step):
            for site in free:
                uniform_dynamic[site] += site in dynamic_sites(arch)
    assert all(static == dynamic == draws // 2 for static, dynamic in counts.values())
    # Uniform sampling over the 13 settings of a block makes a site dynamic 8 times in 13.
    assert all(abs(n / draws - 8 / 13) < 0.05 for n in uniform_dynamic.values())
    # Sites are drawn independently: both dynamic in about a quarter of the draws.
    both = sum(all(site in dynamic_sites(arch) for site in free[:2])
               for step in range(300) for arch in fair.candidates(step)[::2])
    assert abs(both / (draws // 2) - 0.25) < 0.05


# -- BatchNorm recalibration --------------------------------------------------------------------


def test_recalibration_takes_the_cumulative_average_of_the_candidate_statistics():
    torch.manual_seed(0)
    space = every_choice("reactnet_a")
    supernet = Supernet(space)
    arch = mixed(space, 1, "approx_sign", "dynamic")
    norm = supernet.network.blocks[2].conv1x1.bn
    norm.running_mean.fill_(5.0)
    seen = []
    hook = norm.register_forward_hook(
        lambda module, inputs, output: seen.append(inputs[0]) if module.training else None)
    supernet.train()
    evaluate_candidate(supernet, arch, batches(3), batches(1, seed=9),
                       device=torch.device("cpu"))
    hook.remove()
    assert len(seen) == 3  # one train-mode forward per calibration batch
    expected_mean = torch.stack([x.mean(dim=(0, 2, 3)) for x in seen]).mean(dim=0)
    expected_var = torch.stack([x.var(dim=(0, 2, 3)) for x in seen]).mean(dim=0)
    torch.testing.assert_close(norm.running_mean, expected_mean)
    torch.testing.assert_close(norm.running_var, expected_var)
    assert int(norm.num_batches_tracked) == 3
    assert norm.momentum == 0.1 and not supernet.training  # momentum restored; eval mode
    assert supernet.active == arch
    assert not any(p.grad is not None for p in supernet.parameters())


@pytest.mark.parametrize("backbone", BACKBONE_NAMES)
def test_candidates_scored_together_score_as_each_alone(backbone):
    """Shared leading blocks are computed once, with the same numbers; candidates whose
    reduction ratios min_hidden clamps to one width are one function, and score alike."""
    torch.manual_seed(0)
    space = every_choice(backbone)
    supernet = Supernet(space)
    sampler = CandidateSampler(space, rule="fair", num_random=2, seed=0)
    train_a_few_steps(supernet, sampler, steps=2)
    rng = random.Random(1)
    archs = [arch for _ in range(5) for arch in sampler.fair_pair(rng)]
    first = archs[0]
    # The same first blocks as the first candidate, another last block: a shared prefix.
    archs.append(Architecture.from_dict({**first.to_dict(), "blocks": [
        *[block for block in first.to_dict()["blocks"][:-1]], "static"]}))
    # rd_ratio 16 instead of 4 in the narrow first two blocks (16 and 32 channels), where
    # both clamp to min_hidden 8: another name, the same network. (CCT is 64 wide throughout.)
    clamped = {"kind": "dynamic", "rd_ratio": 4, "min_hidden": 8}
    twins = backbone != "binary_cct"
    if twins:
        archs += [first_two(space, clamped), first_two(space, {**clamped, "rd_ratio": 16})]
    calibration, ranking = batches(2, seed=2), batches(2, size=8, seed=3)
    together = evaluate_candidates(supernet, archs, calibration, ranking,
                                   device=torch.device("cpu"))
    alone = [evaluate_candidate(supernet, arch, calibration, ranking, device=torch.device("cpu"))
             for arch in archs]
    assert together == alone  # exactly: the same operations in the same order
    if twins:
        assert supernet.stage_keys(archs[-1]) == supernet.stage_keys(archs[-2])
        assert archs[-1] != archs[-2] and together[-1] == together[-2]
    assert len({json.dumps(s, sort_keys=True) for s in together}) > len(archs) // 2


def first_two(space, threshold):
    """The first two blocks ``threshold`` at every site, the others static."""
    return Architecture.from_dict({
        "backbone": space.backbone.name, "args": space.backbone.args,
        "blocks": [threshold] * 2 + ["static"] * (len(space.blocks) - 2)})
