"""What ``bnas search`` prints when a search ends, whatever its strategy: counts, the best
trial and where its files are, and a one-shot search's phase costs, rank agreement and
whether its supernet seeds agree on where DySign pays."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bnas.files import SUMMARY_FILE
from bnas.run_record import RunRecord


def print_outcome(summary: dict[str, Any], run_dir: Path, stream: Any = sys.stdout) -> None:
    """The end of a search as a person wants it: counts, the best trial, where its files are."""
    record = RunRecord.from_dict(summary, source=str(run_dir / SUMMARY_FILE))
    print(f"trials: {record.describe_counts()}", file=stream)
    if record.oneshot is not None:
        for line in describe_oneshot(record):
            print(line, file=stream)
    best = record.best
    if best is None:
        print("no trial finished; see summary.json for the errors", file=stream)
        return
    metrics = best.metrics
    print(
        f"best: {best.arch_summary}  val_top1 {metrics['val_top1']:.4f}  "
        f"OPs {metrics['ops']:.4g}  size {metrics['size_mib']:.3f} MiB  "
        + (f"latency {metrics['latency_ms']:.4g} ms  " if metrics.get("latency_ms") is not None
           else "") + f"(trial {best.trial_id})",
        file=stream,
    )
    print(best.architecture().to_yaml().rstrip(), file=stream)
    if best.checkpoint:
        print(f"weights: {run_dir / best.checkpoint}", file=stream)
    print(f"summary: {run_dir / SUMMARY_FILE}", file=stream)
    print(f"export it: bnas export {run_dir} --best --onnx", file=stream)


def describe_oneshot(record: RunRecord) -> list[str]:
    """What a one-shot search's phases cost, and how well the supernet ranked its picks."""
    oneshot = record.oneshot
    assert oneshot is not None
    phases, total = oneshot.phases, oneshot.total
    units = total.candidate_epochs / max(oneshot.standalone_epochs, 1)
    trained = [t for t in record.trained() if t.metrics.get("supernet_val_top1") is not None]
    lines = [
        "one-shot cost: " + ", ".join(
            f"{phase} {cost.candidate_epochs:.1f} candidate-epochs ({cost.seconds:.0f} s)"
            for phase, cost in phases.items())
        + f"; total {total.candidate_epochs:.1f} = {units:.2f} x one stand-alone training "
        f"({oneshot.standalone_epochs} epochs), {total.seconds:.0f} s",
        f"candidates: {oneshot.candidates_scored} scored, {oneshot.candidates_over_budget} over "
        f"budget (all listed in {oneshot.candidates_file})",
    ]
    if oneshot.kendall_tau is not None:
        lines.append(f"supernet vs stand-alone val top-1 of the {len(trained)} retrained: "
                     f"Kendall tau {oneshot.kendall_tau:+.2f} (p {oneshot.kendall_p:.2g})")
    disagreeing = [f"b{e.block}.{e.site}" for e in oneshot.disagreeing_sites]
    if oneshot.seeds > 1:
        lines.append(
            f"supernet seeds: {oneshot.seeds}; they agree in sign at "
            f"{len(oneshot.site_effects) - len(disagreeing)} of {len(oneshot.site_effects)} "
            "sites" + (f"; warning: not at {', '.join(disagreeing)} (where DySign pays is not "
                       "established there; see the report)" if disagreeing else ""))
    elif oneshot.site_effects:
        lines.append("supernet seeds: 1; whether another seed's supernet agrees on where "
                     "DySign pays is unknown (search.supernet.seeds: 2 tells)")
    return lines
