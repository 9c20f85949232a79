"""Seconds to validate what must not hang: a 5 MB space of 700,000 choices, and a grid of
3.3e13 points (refused by its counted size, never listed).

The large space is one ``rd_ratio`` list of 700,000 integers (5.5 MB of YAML), validated as
``bnas validate --no-ops`` does it (:func:`bnas.space.load_space`: parse with the located
loader, the schema, the cross checks). Beside it, in the same run, PyYAML's pure-Python
``SafeLoader`` parsing the same text alone: what the located loader cost before its events
came from LibYAML (a lower bound of the old figure, which also composed and checked).

    python bench/space_validation.py [--choices 700000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

TARGETS = {"large space: validate (s)": 20.0, "grid of 3.3e13 points: refused (s)": 2.0,
           "large space: PyYAML SafeLoader parse alone (s)": None}
GRID = """\
name: huge-grid
backbone: {name: reactnet_a, preset: small}
space:
  blocks: {threshold: [static, dynamic], rd_ratio: [2, 4, 8, 16], sites: [conv3x3, conv1x1],
           pool: [mean, mean_std], act: [relu, prelu]}
data: {name: digits}
search: {algorithm: grid, num_samples: 8}
"""


def large_space(choices: int) -> str:
    values = ", ".join(str(value) for value in range(1, choices + 1))
    return ("name: large\nbackbone: {name: reactnet_a, preset: tiny}\nspace:\n  blocks:\n"
            f"    threshold: [static, dynamic]\n    rd_ratio: [{values}]\n"
            "data: {name: digits}\nsearch: {num_samples: 4}\n")


def _seconds(function) -> float:  # noqa: ANN001
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--choices", type=int, default=700_000)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    import yaml

    from bnas.errors import BnasError
    from bnas.space import load_space, parse_space

    text = large_space(args.choices)

    def refuse_grid() -> None:
        try:
            parse_space(GRID, "grid.yaml")
        except BnasError:
            return
        raise AssertionError("the grid was not refused")

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "large.yaml"
        path.write_text(text)
        ratios = {
            "large space: validate (s)": _seconds(lambda: load_space(path)),
            "grid of 3.3e13 points: refused (s)": _seconds(refuse_grid),
            "large space: PyYAML SafeLoader parse alone (s)": _seconds(
                lambda: yaml.load(text, Loader=yaml.SafeLoader)),  # noqa: S506
        }
    result = {"ratios": ratios, "megabytes": len(text) / 1e6, "choices": args.choices}
    print(f"{'figure':<48} {'seconds':>8}")
    for key, value in ratios.items():
        print(f"{key:<48} {value:>8.2f}")
    print(f"({result['megabytes']:.1f} MB, {args.choices:,} choices)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
