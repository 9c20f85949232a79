"""Supernet step time: a sampled candidate's training step vs the all-dynamic network's.

Target (issue "One-shot search"): training one sampled candidate of the supernet (forward and
backward pass of one batch, and the optimizer step) costs ≤ 1.3× the same step of the
stand-alone all-dynamic network, the dearest candidate of the space. The supernet steps are
:class:`bnas.supernet.training.CandidateStep`, the stand-alone one
:func:`bnas.train.loop.plain_backward`, both followed by bnas.train's clipping and AdamW step:
what training runs. Three variants, timed interleaved round after round in one process (the
ratios share the machine's state), each figure the median over rounds, in CPU time of this
process (the ratios judged) and in wall time, on one torch thread by default (a Ray Train
worker's default: ``resources_per_trial.cpu`` 1). CPU time is the cost that other processes
on a shared machine do not distort (under load, wall times of one step varied 10× between
rounds here); one thread keeps it so, as idle OpenMP threads spin on busy cores and bill it.

- ``all-dynamic``: ``build_model`` of the space's largest candidate (DySign at the smallest
  reduction ratio on every site);
- ``supernet, largest``: the supernet with that candidate active (the same function): the cost
  of the elastic machinery alone;
- ``supernet, sampled``: a new uniformly drawn candidate every step, as supernet training
  does (drawing it and switching to it included).

    python bench/supernet_step.py                  # CIFAR-sized (32×32) ReActNet-A, preset small
    python bench/supernet_step.py --preset tiny --img-size 8 --batch-size 16 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from bnas.models import build_model
from bnas.space import parse_space
from bnas.supernet import CandidateSampler, Supernet
from bnas.supernet.training import CandidateStep
from bnas.train.loop import apply_gradients, plain_backward
from bnas.train.optimizer import build_optimizer
from bnas.train_config import TrainConfig

TARGETS = {"supernet sampled / dynamic time": 1.3, "supernet largest / dynamic time": 1.3}

SPACE = """\
name: supernet-bench
backbone: {{name: reactnet_a, preset: {preset}}}
space: {{blocks: {{threshold: [static, dynamic], rd_ratio: {rd_ratios}}}}}
data: {{name: cifar10, img_size: {img_size}}}
search: {{strategy: oneshot}}
"""


class OneCandidate:
    """A sampler that always draws ``arch`` (duck-types CandidateSampler for CandidateStep)."""

    def __init__(self, arch) -> None:  # noqa: ANN001
        self.arch = arch

    def candidates(self, step: int) -> list:
        return [self.arch]


Step = Callable[[torch.Tensor, torch.Tensor, int], None]


def build_steps(preset: str, img_size: int, rd_ratios: list[int]) -> tuple[dict[str, Step], str]:
    """The three variants' training steps, and the largest candidate's summary."""
    space = parse_space(SPACE.format(preset=preset, img_size=img_size, rd_ratios=rd_ratios),
                        "supernet-bench.yaml")
    config = TrainConfig.from_dict({"data": {"name": "cifar10"}})
    largest = space.extremes()[1]

    def training(model: torch.nn.Module, backward) -> Step:  # noqa: ANN001
        optimizer = build_optimizer(model, config)
        model.train()

        def step(images: torch.Tensor, labels: torch.Tensor, number: int) -> None:
            optimizer.zero_grad(set_to_none=True)
            backward(images, labels, number)
            apply_gradients(model, optimizer, config.grad_clip)

        return step

    standalone = build_model(largest)
    supernets = {name: Supernet(space) for name in ("largest", "sampled")}
    samplers = {"largest": OneCandidate(largest),
                "sampled": CandidateSampler(space, rule="uniform", num_random=1, seed=0)}
    steps = {"all-dynamic": training(standalone, plain_backward(standalone, config))}
    for name, supernet in supernets.items():
        steps[f"supernet, {name}"] = training(supernet, CandidateStep(
            supernet, supernet, samplers[name], config, teacher=None, distil_from_largest=False))
    return steps, largest.summary()


def measure(steps: dict[str, Step], batch_size: int, img_size: int, rounds: int,
            per_round: int) -> dict[str, dict[str, float]]:
    """Median seconds per step of every variant: ``{"cpu": {...}, "wall": {...}}``."""
    images = torch.randn(batch_size, 3, img_size, img_size)
    labels = torch.randint(0, 10, (batch_size,))
    number = 0
    for step in steps.values():  # warm-up: allocator, kernels
        for _ in range(2):
            step(images, labels, number)
            number += 1
    samples: dict[str, dict[str, list[float]]] = {
        clock: {name: [] for name in steps} for clock in ("cpu", "wall")}
    for round_index in range(rounds):
        for name, step in steps.items():
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(per_round):
                step(images, labels, number)
                number += 1  # the sampled supernet draws a new candidate every step
            samples["cpu"][name].append((time.process_time() - cpu) / per_round)
            samples["wall"][name].append((time.perf_counter() - wall) / per_round)
        print(f"  round {round_index + 1}/{rounds}", file=sys.stderr, flush=True)
    return {clock: {name: statistics.median(values) for name, values in per_variant.items()}
            for clock, per_variant in samples.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small", choices=["tiny", "small", "full"])
    parser.add_argument("--img-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rd-ratios", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4, help="steps per round and variant")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    steps, largest = build_steps(args.preset, args.img_size, args.rd_ratios)
    seconds = measure(steps, args.batch_size, args.img_size, args.rounds, args.steps)
    cpu, wall = seconds["cpu"], seconds["wall"]
    ratios = {"supernet sampled / dynamic time": cpu["supernet, sampled"] / cpu["all-dynamic"],
              "supernet largest / dynamic time": cpu["supernet, largest"] / cpu["all-dynamic"]}
    print(f"ReActNet-A preset={args.preset} img={args.img_size} batch={args.batch_size} "
          f"rd_ratio {args.rd_ratios} threads={args.threads} torch={torch.__version__}; "
          f"all-dynamic = {largest}")
    print(f"{'variant':<20} {'CPU s/step':>10} {'wall s/step':>11} {'wall ratio':>10}")
    for name in cpu:
        print(f"{name:<20} {cpu[name]:>10.4f} {wall[name]:>11.4f} "
              f"{wall[name] / wall['all-dynamic']:>10.3f}")
    print(f"\n{'ratio (CPU time)':<34} {'measured':>9} {'target':>8}  ok")
    for name, value in ratios.items():
        ok = "yes" if value <= TARGETS[name] else "NO"
        print(f"{name:<34} {value:>9.3f} {'≤' + format(TARGETS[name], '.2f'):>8}  {ok}")
    result = {"config": vars(args) | {"json": str(args.json) if args.json else None},
              "largest": largest, "seconds_per_step": seconds, "ratios": ratios,
              "targets": TARGETS}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
