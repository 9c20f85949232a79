"""Trains a space's supernet with :func:`bnas.search.supernet_training.train_supernet_on_ray` in
a process of its own (Ray's driver state, signal handlers and import-time settings stay out of
the test process), for the Ray tests::

    python tests/supernet_ray_driver.py SPACE.yaml RUN_DIR [--address HOST:PORT]
        [--attempts N] [--again]

Attempt 1 starts the training; each further attempt, made only when the one before failed,
resumes it (as ``bnas search --resume`` would). ``--again`` then calls it twice more, resuming
and starting afresh, on the finished run. The last line printed is JSON:
``{"attempts": [{"error": ..., "checkpoint": ...}, ...]}``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bnas.errors import BnasError
from bnas.search.cluster import ray_session
from bnas.search.supernet_training import train_supernet_on_ray
from bnas.space import load_space


def attempt(space: Any, run_dir: Path, address: str | None, resume: bool) -> dict[str, Any]:
    try:
        checkpoint = train_supernet_on_ray(space, run_dir, address_given=address is not None,
                                           resume=resume)
    except BnasError as error:
        return {"error": str(error), "checkpoint": None}
    return {"error": None, "checkpoint": str(checkpoint)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("space", type=Path)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--address")
    parser.add_argument("--attempts", type=int, default=1)
    parser.add_argument("--again", action="store_true")
    args = parser.parse_args(argv)
    space = load_space(args.space)
    attempts: list[dict[str, Any]] = []
    with ray_session(args.address):
        for number in range(args.attempts):
            attempts.append(attempt(space, args.run_dir, args.address, resume=number > 0))
            if attempts[-1]["error"] is None:
                break
        if args.again:
            for resume in (True, False):
                attempts.append(attempt(space, args.run_dir, args.address, resume))
    print(json.dumps({"attempts": attempts}), flush=True)


if __name__ == "__main__":
    main()
