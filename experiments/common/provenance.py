"""Where a result came from: the repository's commit, the machine, the library versions."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def available_cpus() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _version(package: str) -> str | None:
    try:
        return importlib_metadata.version(package)
    except importlib_metadata.PackageNotFoundError:
        return None


def git_commit() -> dict[str, Any]:
    """``git rev-parse --short HEAD`` and whether the code (bnas/, experiments/, bench/) has
    uncommitted changes."""

    def git(*args: str) -> str | None:
        try:
            return subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, check=True, timeout=20
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    changed = git("status", "--porcelain", "--", "bnas", ":(glob)experiments/**/*.py",
                  "experiments/configs", ":(glob)bench/*.py")
    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(changed),
            "changed_files": changed.splitlines() if changed else []}


def machine() -> dict[str, Any]:
    """Usable cores, all cores, CPU model and platform."""
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": available_cpus(), "cpu_count": os.cpu_count(), "cpu_model": cpu_model,
            "platform": platform.platform()}


def versions() -> dict[str, Any]:
    """Versions of Python, bnas and the libraries a result depends on."""
    import bnas

    return {"python": platform.python_version(), "torch": _version("torch"),
            "bnas": bnas.__version__, "ray": _version("ray"), "optuna": _version("optuna"),
            "numpy": _version("numpy"), "scipy": _version("scipy")}


def write_report(path: Path, report: dict[str, Any], started: float) -> dict[str, Any]:
    """``report`` with its wall time since ``started``, commit, versions and machine, written
    as JSON to ``path`` (a benchmark's record); returns what was written."""
    report = {**report, "wall_seconds": round(time.time() - started, 1), "code": git_commit(),
              "versions": versions(), "machine": machine()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nwritten: {path}  ({report['wall_seconds']:.0f} s)")
    return report
