"""The frame of one run of an experiment: command line, config, scale, results folder, and
the files every experiment writes (results.csv, summary.csv, results.md, meta.json)."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bnas.errors import BnasError
from bnas.reading import read_yaml
from experiments.common.provenance import REPO, available_cpus, git_commit, machine, versions
from experiments.common.tables import format_seconds, write_csv

CONFIGS = REPO / "experiments" / "configs"
RESULTS = REPO / "experiments" / "results"


class Scale:
    """``--scale``: one multiplier on what an experiment's cost grows with.

    ``count(n, minimum)`` = max(minimum, round(n · factor)): images per class, epochs, seeds,
    trials. 1.0 is sized for ≤ 45 min on 2 cores; 0.05 is a smoke test.
    """

    def __init__(self, factor: float) -> None:
        if not factor > 0:
            raise BnasError(f"--scale: expected a positive number, got {factor}")
        self.factor = factor

    def count(self, n: int, minimum: int = 1) -> int:
        """``n`` scaled and rounded, at least ``minimum``."""
        return max(minimum, int(round(n * self.factor)))


def relative_paths(data: Any) -> Any:
    """Paths under the repository's parent folder rewritten relative to the repository, so
    committed results name no folder of the machine that produced them."""
    if isinstance(data, str) and data.startswith(str(REPO.parent) + os.sep):
        return os.path.relpath(data, REPO)
    if isinstance(data, dict):
        return {key: relative_paths(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [relative_paths(value) for value in data]
    return data


def resolve_root(root: str | None) -> str | None:
    """A dataset root from a config: relative paths are relative to the repository root."""
    if root is None:
        return None
    path = Path(root).expanduser()
    return str(path if path.is_absolute() else (REPO / path).resolve())


def load_config(path: Path) -> dict[str, Any]:
    """An experiment's YAML config as a mapping; a one-line BnasError otherwise."""
    data = read_yaml(path, "experiment config").data
    if not isinstance(data, dict):
        raise BnasError(f"{path}: expected a mapping of experiment settings")
    return data


class Experiment:
    """Arguments, config and results folder of one run of an experiment; writes the outputs."""

    def __init__(self, name: str, argv: Sequence[str], args: argparse.Namespace,
                 config: dict[str, Any]) -> None:
        self.name = name
        self.args = args
        self.config = config
        self.scale = Scale(args.scale)
        self.out: Path = args.out
        self.workers: int = args.workers or int(config.get("workers") or available_cpus())
        self.seeds: list[int] = []
        self.notes: list[str] = []
        self.started = time.time()
        self.code = git_commit()  # at the start: the code that runs, whatever is committed later
        self.command = " ".join(["python -m", f"experiments.{name}", *map(shlex.quote, argv)])
        self.meta: dict[str, Any] = {}

    @classmethod
    def start(cls, name: str, argv: Sequence[str] | None, doc: str | None) -> Experiment:
        """Parse ``argv`` (default: sys.argv), load the config, create the results folder.

        ``doc``: the experiment module's docstring, whose first paragraph is ``--help``'s
        description. A bad config or scale exits with status 2 and one line.
        """
        argv = list(sys.argv[1:] if argv is None else argv)
        parser = argparse.ArgumentParser(
            prog=f"python -m experiments.{name}", description=(doc or "").split("\n\n")[0],
        )
        parser.add_argument("--config", type=Path, default=CONFIGS / f"{name}.yaml",
                            help="experiment config (default: %(default)s)")
        parser.add_argument("--scale", type=float, default=1.0,
                            help="multiplier on images, epochs, seeds, trials (default 1.0)")
        parser.add_argument("--out", type=Path, default=RESULTS / name,
                            help="results folder (default: %(default)s)")
        parser.add_argument("--workers", type=int, default=None,
                            help="training runs at a time (default: config, else CPU cores)")
        args = parser.parse_args(argv)
        try:
            config = load_config(args.config)
            experiment = cls(name, argv, args, config)
        except BnasError as error:
            parser.exit(2, f"{parser.prog}: error: {error}\n")
        args.out.mkdir(parents=True, exist_ok=True)
        print(f"{name}: scale {args.scale}, {experiment.workers} run(s) at a time, "
              f"results in {relative_paths(str(args.out.resolve()))}", flush=True)
        return experiment

    def metadata(self) -> dict[str, Any]:
        """meta.json: command, config, scale, seeds, code, versions, machine, wall time."""
        try:
            config_file = str(self.args.config.resolve().relative_to(REPO))
        except ValueError:
            config_file = str(self.args.config)
        return relative_paths({
            "experiment": self.name,
            "command": self.command,
            "config_file": config_file,
            "config": self.config,
            "scale": self.scale.factor,
            "seeds": self.seeds,
            "workers": self.workers,
            "code": self.code,
            "versions": versions(),
            "machine": machine(),
            "started": datetime.fromtimestamp(self.started, UTC).isoformat(
                timespec="seconds"),
            "wall_seconds": round(time.time() - self.started, 1),
            **self.meta,
        })

    def header(self, meta: dict[str, Any], title: str) -> str:
        """results.md's title and provenance lines."""
        code, ver, mach = meta["code"], meta["versions"], meta["machine"]
        dirty = " + uncommitted changes" if code["dirty"] else ""
        seeds = ", ".join(map(str, meta["seeds"])) or "-"
        return "\n".join([
            f"# {title}",
            "",
            f"- command: `{meta['command']}` (config `{meta['config_file']}`, "
            f"scale {meta['scale']:g})",
            f"- code: bnas {ver['bnas']}, commit {code['commit']}{dirty}",
            f"- machine: {mach['cores']} cores ({mach['cpu_model']}), {mach['platform']}; "
            f"python {ver['python']}, torch {ver['torch']}, ray {ver['ray']}, "
            f"optuna {ver['optuna']}",
            f"- seeds: {seeds}; {meta['workers']} run(s) at a time, 1 torch thread each; "
            f"wall time {format_seconds(meta['wall_seconds'])}",
            "",
        ])

    def finish(self, title: str, body: str, rows: list[dict[str, Any]],
               summary: list[dict[str, Any]]) -> dict[str, Any]:
        """Write results.csv (one row per run), summary.csv, results.md and meta.json."""
        meta = self.metadata()
        write_csv(self.out / "results.csv", rows)
        write_csv(self.out / "summary.csv", summary)
        notes = "".join(f"\n> {note}\n" for note in self.notes)
        (self.out / "results.md").write_text(self.header(meta, title) + notes + "\n" + body)
        (self.out / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
        print(f"{self.name}: done in {format_seconds(meta['wall_seconds'])}; "
              f"{relative_paths(str((self.out / 'results.md').resolve()))}", flush=True)
        return {"meta": meta, "rows": rows, "summary": summary}

