"""Train-step time and parameters: all-static vs all-dynamic ReActNet-A vs its float twin.

Targets (issue "Foundation"): dynamic ≤ 1.10× static step time and ≤ +5 % parameters;
binary ≤ 1.25× the float twin (same network, binarization switched off). The three variants
are timed interleaved, round after round, in one process, so the ratios share the machine's
state; each figure is the median over rounds.

    python bench/step_time.py                 # CIFAR-sized (32×32) ReActNet-A, preset small
    python bench/step_time.py --preset full --batch-size 32 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

from bnas.architecture import Architecture
from bnas.models import build_model
from bnas.nn import set_binarization

TARGETS = {"dynamic/static time": 1.10, "dynamic/static params": 1.05, "static/float time": 1.25}


def build_variants(preset: str, rd_ratio: int, img_size: int) -> dict[str, nn.Module]:
    args = {"preset": preset, "num_classes": 10, "in_chans": 3, "img_size": img_size}
    static = build_model(Architecture.uniform("reactnet_a", "static", **args))
    dynamic = build_model(
        Architecture.uniform("reactnet_a", {"kind": "dynamic", "rd_ratio": rd_ratio}, **args)
    )
    float_twin = build_model(Architecture.uniform("reactnet_a", "static", **args))
    set_binarization(float_twin, weights=False, activations=False)
    return {"static": static, "dynamic": dynamic, "float twin": float_twin}


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, images, labels) -> None:
    optimizer.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(images), labels).backward()
    optimizer.step()


def measure(models: dict[str, nn.Module], batch_size: int, img_size: int, rounds: int,
            steps: int) -> dict[str, float]:
    images = torch.randn(batch_size, 3, img_size, img_size)
    labels = torch.randint(0, 10, (batch_size,))
    optimizers = {n: torch.optim.AdamW(m.parameters(), lr=1e-3) for n, m in models.items()}
    for name, model in models.items():  # warm-up: allocator, kernels
        for _ in range(2):
            train_step(model, optimizers[name], images, labels)
    samples: dict[str, list[float]] = {name: [] for name in models}
    for round_index in range(rounds):
        for name, model in models.items():
            start = time.perf_counter()
            for _ in range(steps):
                train_step(model, optimizers[name], images, labels)
            samples[name].append((time.perf_counter() - start) / steps)
        print(f"  round {round_index + 1}/{rounds}", file=sys.stderr, flush=True)
    return {name: statistics.median(values) for name, values in samples.items()}


def top_ops(model: nn.Module, batch_size: int, img_size: int, count: int = 6) -> list[str]:
    """Where one training step of ``model`` spends its CPU time (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    images = torch.randn(batch_size, 3, img_size, img_size)
    labels = torch.randint(0, 10, (batch_size,))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    train_step(model, optimizer, images, labels)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train_step(model, optimizer, images, labels)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1
    return [f"{e.key} {100 * e.self_cpu_time_total / total:.1f}%" for e in events[:count]]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small", choices=["tiny", "small", "full"])
    parser.add_argument("--img-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rd-ratio", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3, help="steps per round and variant")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    models = build_variants(args.preset, args.rd_ratio, args.img_size)
    params = {name: sum(p.numel() for p in m.parameters()) for name, m in models.items()}
    seconds = measure(models, args.batch_size, args.img_size, args.rounds, args.steps)
    ratios = {
        "dynamic/static time": seconds["dynamic"] / seconds["static"],
        "dynamic/static params": params["dynamic"] / params["static"],
        "static/float time": seconds["static"] / seconds["float twin"],
    }
    print(
        f"ReActNet-A preset={args.preset} img={args.img_size} batch={args.batch_size} "
        f"r={args.rd_ratio} threads={args.threads} torch={torch.__version__}"
    )
    print(f"{'variant':<12} {'params':>10} {'s/step':>9} {'img/s':>8}")
    for name in models:
        print(
            f"{name:<12} {params[name]:>10,} {seconds[name]:>9.4f} "
            f"{args.batch_size / seconds[name]:>8.1f}"
        )
    print(f"\n{'ratio':<24} {'measured':>9} {'target':>8}  ok")
    for name, value in ratios.items():
        ok = "yes" if value <= TARGETS[name] else "NO"
        print(f"{name:<24} {value:>9.3f} {'≤' + format(TARGETS[name], '.2f'):>8}  {ok}")
    hotspots = {name: top_ops(models[name], args.batch_size, args.img_size)
                for name in ("static", "dynamic")}
    for name, ops in hotspots.items():
        print(f"\nwhere a {name} step spends its time: " + ", ".join(ops))
    result = {
        "config": vars(args) | {"json": str(args.json) if args.json else None},
        "params": params, "seconds_per_step": seconds, "ratios": ratios, "targets": TARGETS,
        "hotspots": hotspots,
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
