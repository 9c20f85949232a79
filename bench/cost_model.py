"""Cost of one search candidate in milliseconds: counted over the whole network (before) vs
composed from cached parts (after, what a search uses).

For each backbone, random candidates (tiny presets with varied arguments; every site static
or dynamic with random generator settings; RPReLU static or dynamic) are costed both ways,
interleaved, so both see the same machine; each figure is a median over the candidates.
"before" is :func:`bnas.profile.measure_architecture` (FlopCounterMode over the whole network
on the meta device; before the cost model, ``profile_architecture`` did that under
FakeTensorMode, ~2× slower still); "after" is :func:`bnas.profile.profile_architecture`. The
first composed cost of each backbone measures its static network and is also reported on its
own ("first"); a later candidate may still measure a static network for new arguments or a
dynamic site it is the first to use (~1 ms each): all of that stays in the median. Every
composed cost is checked equal to the measured one, key for key and row for row.

    python bench/cost_model.py [--candidates 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

from bnas.architecture import Architecture

TARGETS = {f"{backbone} ms per candidate": 10.0
           for backbone in ("reactnet_a", "react_resnet18", "binary_cct")}
CANDIDATE_ARGS = {  # tiny presets with varied arguments, a few per backbone
    "reactnet_a": [
        {"num_classes": 10, "in_chans": 1, "img_size": 8},
        {"num_classes": 7, "img_size": 16, "width": 1.5, "channel_multiple": 1},
        {"num_classes": 10, "img_size": 32, "stem": "imagenet", "width": 0.5},
    ],
    "react_resnet18": [
        {"num_classes": 10, "in_chans": 1, "img_size": 8},
        {"num_classes": 3, "img_size": 16, "width": 1.25, "channel_multiple": 4},
        {"num_classes": 10, "img_size": 32, "stem": "imagenet"},
    ],
    "binary_cct": [
        {"num_classes": 10, "in_chans": 1, "img_size": 8},
        {"num_classes": 5, "img_size": 16, "width": 1.5, "drop_path_rate": 0.1},
        {"num_classes": 10, "img_size": 32, "stem": "imagenet"},
    ],
}


def random_candidate(backbone: str, rng: random.Random) -> Architecture:
    """Random per-site thresholds (every generator setting varies), RPReLU kind and args."""

    def threshold() -> str | dict:
        if rng.random() < 0.4:
            return "static"
        return {"kind": "dynamic", "rd_ratio": rng.choice([1, 2, 4, 8, 16, 64]),
                "min_hidden": rng.choice([1, 4, 8]),
                "pool": rng.choice(["mean", "mean_std", "constant"]),
                "act": rng.choice(["relu", "prelu"]), "bound": rng.choice(["none", "tanh"])}

    args = {"preset": "tiny", **rng.choice(CANDIDATE_ARGS[backbone])}
    layout = Architecture.uniform(backbone, **args)
    return Architecture.from_dict({
        "backbone": backbone, "args": args, "rprelu": rng.choice(["static", "dynamic"]),
        "blocks": [{site: threshold() for site in layout.sites} for _ in layout.blocks],
    })


def _milliseconds(function, arch: Architecture) -> tuple[float, object]:
    started = time.perf_counter()
    cost = function(arch)
    return 1000 * (time.perf_counter() - started), cost


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=200, help="per backbone")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    from bnas.profile import measure_architecture, profile_architecture

    rng = random.Random(args.seed)
    rows = {}
    for backbone in CANDIDATE_ARGS:
        candidates = [random_candidate(backbone, rng) for _ in range(args.candidates)]
        measure_architecture(candidates[0])  # imports and first-call set-up, not timed
        before, after, exact = [], [], 0
        for arch in candidates:
            before_ms, measured = _milliseconds(measure_architecture, arch)
            after_ms, composed = _milliseconds(profile_architecture, arch)
            before.append(before_ms)
            after.append(after_ms)
            exact += composed == measured
        known = [_milliseconds(profile_architecture, arch)[0] for arch in candidates]
        rows[backbone] = {
            "before_ms": statistics.median(before), "after_ms": statistics.median(after),
            "first_ms": after[0], "parts_known_ms": statistics.median(known),
            "exact": exact, "candidates": len(candidates),
        }
    ratios = {f"{backbone} ms per candidate": row["after_ms"] for backbone, row in rows.items()}

    print(f"{args.candidates} random candidates per backbone (tiny presets, varied args, every "
          "generator setting random); ms per candidate, median")
    print(f"{'backbone':<16} {'before':>8} {'after':>8} {'speed-up':>9} {'first':>8} "
          f"{'parts known':>12}  exact")
    for backbone, row in rows.items():
        print(f"{backbone:<16} {row['before_ms']:>8.1f} {row['after_ms']:>8.2f} "
              f"{row['before_ms'] / row['after_ms']:>8.0f}× {row['first_ms']:>8.1f} "
              f"{row['parts_known_ms']:>12.3f}  {row['exact']}/{row['candidates']}")
    print("after: the composed cost, measuring the parts a candidate is the first to use; "
          "first: the backbone's first candidate; parts known: all parts measured (a search "
          "measures its space's while Ray starts)")
    print(f"\n{'figure':<32} {'measured':>9} {'target':>8}  ok")
    for name, value in ratios.items():
        ok = "yes" if value <= TARGETS[name] else "NO"
        print(f"{name:<32} {value:>9.3f} {'≤' + format(TARGETS[name], 'g'):>8}  {ok}")
    result = {"backbones": rows, "ratios": ratios, "targets": TARGETS,
              "candidates": args.candidates, "seed": args.seed}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
