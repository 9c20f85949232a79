"""Export trials of a search run: architecture, verified weights, ONNX, model card, retrain.

For each chosen trial (see :mod:`bnas.export.selection`) the export folder holds::

    arch.yaml            the Architecture, args filled from the data (num_classes, ...)
    model.safetensors    the trial's checkpoint weights (best epoch when recorded)
    retrain.yaml         `bnas train` config file: this architecture, the trial's settings
    model.onnx           (--onnx) opset ≥ 17, dynamic batch, checked against PyTorch
    sample_input.npy     (--onnx) a few normalized validation images ...
    sample_logits.npy    (--onnx) ... and PyTorch's logits for them
    model.xml, model.bin (--openvino) the bit-packed model, checked and timed against the
                         float twin (see bnas.export.openvino_export)
    preprocessing.json   what a runtime does to an image file before the model sees it
    MODEL_CARD.md        what it is, how good, what it costs, how to use and retrain it
    export.json          the same as data (trial, metrics, cost, checks, file hashes)

Nothing is trusted blindly: the weights are loaded into the rebuilt model and evaluated on
the trial's validation split (rebuilt from name, root, subset, val_fraction and seed); the
accuracy must match the recorded one within ``tolerance_pt`` percentage points, and
onnxruntime must match PyTorch within ``onnx_atol``. A folder is written under a temporary
name and renamed into place only when every check passed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bnas import __version__
from bnas.architecture import Architecture
from bnas.errors import BnasError
from bnas.export.checkpoints import TrialWeights, trial_weights
from bnas.export.model_card import render_model_card
from bnas.export.selection import Choice, select_trials
from bnas.files import (
    ARCH_FILE,
    CARD_FILE,
    EXPORT_DIR,
    MODEL_FILE,
    ONNX_FILE,
    OPENVINO_FILE,
    OPENVINO_WEIGHTS_FILE,
    PREPROCESSING_FILE,
    RECORD_FILE,
    RETRAIN_FILE,
    RETRAIN_OUT,
    SAMPLE_INPUT_FILE,
    SAMPLE_LOGITS_FILE,
    STATE_FILE,
)
from bnas.run_lock import RunLock
from bnas.run_paths import inside, inside_run
from bnas.run_record import RunRecord, TrialRecord
from bnas.writing import check_folder_target, staged_folder

DEFAULT_TOLERANCE_PT = 0.1
DEFAULT_ATOL = 1e-3  # = bnas.export.onnx_export.DEFAULT_ATOL (that module imports torch)
DEFAULT_OPSET = 17
MIN_OPSET = 17  # from 17 on, LayerNorm (binary CCT) is one ONNX op, not a decomposition
PARITY_IMAGES = 32  # validation images for the ONNX check
SAMPLE_IMAGES = 8  # of them saved as sample_input.npy / sample_logits.npy

Log = Callable[[str], None]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _retrain_text(arch: Architecture, config: Any, trial: TrialRecord, run_name: str) -> str:
    import yaml

    metrics = trial.metrics
    val = metrics.get("val_top1")
    lines = [
        f"# Retrain {arch.summary()} (id {arch.arch_id}) from scratch with the settings of",
        f"# trial {trial.trial_id} of search run {run_name}.",
        f"# Search result: val_top1 {val:.4f} (best of {trial.epochs_run} "
        f"epoch(s), status {trial.status})." if val is not None
        else "# Search result: unknown.",
        "# Same data split and seed, so `bnas train retrain.yaml` repeats the trial's training;",
        "# flags override this file, e.g. --two-step --epochs 60 --out retrain-long.",
    ]
    if trial.status == "stopped":
        lines.append(f"# The trial was stopped by ASHA after {trial.epochs_run} of "
                     f"{config.epochs} epochs; this runs all {config.epochs}.")
    if config.threads is not None:
        lines.append(f"# threads: {config.threads} as in the trial: the thread count changes the "
                     "order of float sums, so")
        lines.append("# another count trains a slightly different network (raise it for speed).")
    body: dict[str, Any] = {"arch": ARCH_FILE, "out": RETRAIN_OUT}
    if val is not None:
        body["reference"] = {
            "val_top1": val, "source": f"search {run_name}, trial {trial.trial_id}",
        }
    body.update(config.to_dict())
    return "\n".join(lines) + "\n" + yaml.safe_dump(body, sort_keys=False)


def export_trial(
    run_dir: Path,
    summary: RunRecord,
    choice: Choice,
    weights: TrialWeights,
    out: Path,
    *,
    onnx: bool = False,
    openvino: bool = False,
    data_root: str | None = None,
    tolerance_pt: float = DEFAULT_TOLERANCE_PT,
    onnx_atol: float = DEFAULT_ATOL,
    opset: int = DEFAULT_OPSET,
    log: Log = print,
) -> dict[str, Any]:
    """Verify and write one trial's export folder ``out/choice.name``; return its record."""
    import torch

    from bnas.data import class_labels
    from bnas.datasets import Preprocessing
    from bnas.export.onnx_export import export_onnx, onnx_parity
    from bnas.export.openvino_export import export_openvino
    from bnas.models import build_model, load_model_weights
    from bnas.profile import profile_architecture
    from bnas.train import TrainConfig, prepare_data
    from bnas.train.evaluation import evaluate
    from bnas.train.loop import eval_loader
    from bnas.train.runtime import torch_runtime

    trial = choice.trial
    trial_id = trial.trial_id
    where = f"summary.json trial {trial_id}"
    config = TrainConfig.from_dict(trial.config.train,
                                   source=f"{where} config.train")
    if data_root is not None:
        config = config.model_copy(update={"data": config.data.model_copy(
            update={"root": data_root})})
    arch = Architecture.from_dict(trial.arch, source=f"{where} arch")
    log(f"{choice.name}  <-  trial {trial_id}  {arch.summary()}  ({choice.reason})")

    # ---- rebuild the trial's model and validation split, load and verify the weights ----------
    prepared = prepare_data(arch, config)
    arch, splits, info = prepared.arch, prepared.splits, prepared.info
    trained_arch = weights.state.get("arch")
    if trained_arch is not None and Architecture.from_dict(
            trained_arch, source=f"{weights.checkpoint_dir / STATE_FILE} arch") != arch:
        raise BnasError(
            f"trial {trial_id}: checkpoint {weights.checkpoint_dir} was trained as "
            f"{Architecture.from_dict(trained_arch).summary()}, summary.json says "
            f"{arch.summary()}"
        )
    model = build_model(arch)
    load_model_weights(model, weights.weights, what=f"trial {trial_id}")
    model.eval()
    # Evaluate as the trial ran: its thread count (float sums depend on it), deterministic
    # kernels.
    threads = (weights.state.get("config") or {}).get("threads")
    cpu = torch.device("cpu")
    with torch_runtime(threads if isinstance(threads, int) and threads > 0 else None, cpu):
        val = evaluate(model, eval_loader(splits.val, config), cpu, info.num_classes)
    diff_pt = 100 * abs(val["top1"] - weights.reference)
    log(f"  weights     {weights.weights.relative_to(run_dir)}")
    log(f"  val_top1    recorded {weights.reference:.4f} ({weights.reference_key}), reloaded "
        f"{val['top1']:.4f} on {len(splits.val)} val images (|Δ| {diff_pt:.2f} pt)")
    if weights.note:
        log(f"  note        {weights.note}")
    if diff_pt > tolerance_pt + 1e-9:
        raise BnasError(
            f"trial {trial_id}: the weights in {weights.weights} reach val_top1 "
            f"{val['top1']:.4f}, summary records {weights.reference:.4f} "
            f"(|Δ| {diff_pt:.2f} pt > {tolerance_pt} pt); wrong checkpoint, data root or "
            f"device? (--data-root, --tolerance)"
        )
    cost = profile_architecture(arch, info.img_size).to_dict()
    recorded_ops = trial.metrics.get("ops")
    if recorded_ops is not None and abs(cost["ops"] - recorded_ops) > 1e-6 * max(1.0, cost["ops"]):
        log(f"  warning     OPs now {cost['ops']:.6g}, the search recorded {recorded_ops:.6g} "
            "(bnas.profile changed since?)")
    if trial.metrics.get("latency_ms") is not None:  # predicted by the search's latency table
        cost["latency_ms"] = float(trial.metrics["latency_ms"])
    log(f"  cost        OPs {cost['ops']:.4g}, BOPs {cost['bops']:.4g}, FLOPs "
        f"{cost['flops']:.4g}, size {cost['size_mib']:.4g} MiB"
        + (f", latency {cost['latency_ms']:.4g} ms" if "latency_ms" in cost else ""))

    # ---- write into a staging folder, renamed into place when complete ---------------------
    final = out / choice.name
    # Files of an earlier export with --onnx / --openvino go when this one has none; anything
    # else a user put there (e.g. a retrain/ run) stays.
    optional_files = (ONNX_FILE, SAMPLE_INPUT_FILE, SAMPLE_LOGITS_FILE, OPENVINO_FILE,
                      OPENVINO_WEIGHTS_FILE)
    with staged_folder(final, owned=optional_files) as stage:
        arch.save(stage / ARCH_FILE)
        preprocessing = Preprocessing.for_data(config.data.name, info,
                                               class_labels(config.data.name, config.data.root))
        (stage / PREPROCESSING_FILE).write_text(
            json.dumps(preprocessing.to_dict(), indent=2) + "\n")
        shutil.copyfile(weights.weights, stage / MODEL_FILE)
        # The trial's own thread count (from its checkpoint) makes the retrain repeat it
        # exactly; summary.json's config does not record it.
        retrain = config
        if retrain.threads is None and isinstance(threads, int) and threads > 0:
            retrain = config.model_copy(update={"threads": threads})
        (stage / RETRAIN_FILE).write_text(
            _retrain_text(arch, retrain, trial, summary.name))
        onnx_record = None
        if onnx:
            count = min(PARITY_IMAGES, len(splits.val))
            images = torch.stack([splits.val[i][0] for i in range(count)])
            export_onnx(model, images[: min(2, count)], stage / ONNX_FILE, opset=opset)
            parity, logits = onnx_parity(model, stage / ONNX_FILE, images, atol=onnx_atol)
            import numpy as np

            np.save(stage / SAMPLE_INPUT_FILE, images[:SAMPLE_IMAGES].numpy())
            np.save(stage / SAMPLE_LOGITS_FILE, logits[:SAMPLE_IMAGES])
            log(f"  onnx        max |Δ logit| {parity.max_abs_diff:.3g} vs PyTorch on "
                f"{parity.images} val images (atol {onnx_atol:g}), top-1 agrees on "
                f"{parity.top1_agree}/{parity.images}")
            if not parity.ok:
                raise BnasError(
                    f"trial {trial_id}: ONNX model differs from PyTorch: max |Δ logit| "
                    f"{parity.max_abs_diff:.3g} > atol {onnx_atol:g} on {parity.images} val "
                    f"images (top-1 agrees on {parity.top1_agree}); raise --onnx-atol to accept"
                )
            onnx_record = {"file": ONNX_FILE, "opset": opset, **parity.to_dict()}
        openvino_record = None
        if openvino:
            openvino_record = export_openvino(model, stage, splits.val, stage / ONNX_FILE,
                                              trial_id=trial_id, log=log)

        metrics = dict(trial.metrics)
        record: dict[str, Any] = {
            "format": 1,
            "bnas_version": __version__,
            "run": {"name": summary.name, "dir": str(run_dir),
                    "objectives": summary.objectives},
            "selection": choice.name,
            "trial": {"trial_id": trial_id, "reason": choice.reason,
                      "status": trial.status, "epochs_run": trial.epochs_run,
                      "arch_id": arch.arch_id, "arch_summary": arch.summary(),
                      "params": trial.config.params},
            "weights": {"source": str(weights.weights.relative_to(run_dir)),
                        "reference_key": weights.reference_key,
                        "reference": weights.reference, "note": weights.note},
            "metrics": metrics,
            "verified": {"val_top1": val["top1"], "val_loss": val["loss"],
                         "reference": weights.reference,
                         "reference_key": weights.reference_key, "diff_pt": diff_pt,
                         "tolerance_pt": tolerance_pt, "val_images": len(splits.val)},
            "cost": cost,
            "data": config.to_dict()["data"],
            "input": {"shape": [info.in_chans, info.img_size, info.img_size],
                      "preprocessing": preprocessing.describe(), "file": PREPROCESSING_FILE},
            "train": config.to_dict(),
            "onnx": onnx_record,
            "openvino": openvino_record,
            "paths": {"folder": str(final), "retrain": str(final / RETRAIN_FILE)},
        }
        record["files"] = {
            entry.name: {"bytes": entry.stat().st_size, "sha256": _sha256(entry)}
            for entry in sorted(stage.iterdir())
        }
        (stage / CARD_FILE).write_text(render_model_card(record, arch))
        record["files"][CARD_FILE] = {"bytes": (stage / CARD_FILE).stat().st_size,
                                      "sha256": _sha256(stage / CARD_FILE)}
        (stage / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n")
    log(f"  wrote       {final}/ ({', '.join(sorted(record['files']))}, {RECORD_FILE})")
    return record


def export_run(
    run_dir: str | Path,
    *,
    mode: str = "best",
    k: int = 1,
    onnx: bool = False,
    openvino: bool = False,
    out: str | Path | None = None,
    data_root: str | None = None,
    tolerance_pt: float = DEFAULT_TOLERANCE_PT,
    onnx_atol: float = DEFAULT_ATOL,
    opset: int = DEFAULT_OPSET,
    log: Log = print,
) -> list[dict[str, Any]]:
    """Export the ``best`` / ``top-k`` (``k``) / ``pareto`` trials of a run; return the records.

    ``openvino`` adds the bit-packed model and implies ``onnx`` (its float twin, which it is
    timed against).

    Every chosen trial's checkpoint is located and its weights file checked before any model
    is built, so a missing or truncated file stops the export before it writes anything.
    """
    onnx = onnx or openvino
    if openvino:  # no OpenVINO or no CPU device: one line now, before any work
        from bnas.deploy.runtime import openvino_core

        openvino_core()
    if onnx and opset < MIN_OPSET:
        raise BnasError(f"--opset: bnas exports need opset >= {MIN_OPSET}, got {opset}")
    run_dir = Path(run_dir)
    out_dir = Path(out) if out is not None else inside_run(run_dir, EXPORT_DIR, "export folder")
    lock = RunLock(run_dir, "bnas export", reads_only=not inside(out_dir, run_dir))
    if run_dir.is_dir():
        lock.check_free()
    summary = RunRecord.load(run_dir)
    check_folder_target(out_dir, "--out" if out is not None else "export folder")
    choices = select_trials(summary, mode, k)
    located = [(choice, trial_weights(run_dir, choice.trial)) for choice in choices]
    with lock:  # checked: from here on it writes
        records = []
        for choice, weights in located:
            records.append(export_trial(
                run_dir, summary, choice, weights, out_dir, onnx=onnx, openvino=openvino,
                data_root=data_root,
                tolerance_pt=tolerance_pt, onnx_atol=onnx_atol, opset=opset, log=log))
            sys.stdout.flush()
    return records
