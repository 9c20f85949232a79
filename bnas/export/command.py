"""``bnas export RUN_DIR``: the best / top-k / Pareto trials of a search as deployable folders.

::

    bnas export runs/demo-digits                  # best trial → runs/demo-digits/export/best/
    bnas export runs/demo-digits --top-k 3 --onnx # top1/ top2/ top3/, each with model.onnx
    bnas export runs/demo-digits --pareto --out exported/
    bnas export runs/demo-digits --openvino       # + model.xml/.bin: the bit-packed model

Exit codes: 0 exported, 2 bad input or a failed check (one line on stderr). Only the standard
library is imported at module level.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR",
                        help="a search run directory (holds summary.json)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--best", dest="mode", action="store_const", const="best",
                       help="the run's best trial (default) → OUT/best/")
    which.add_argument("--top-k", type=int, metavar="K",
                       help="the K best trials by val_top1 → OUT/top1/ … OUT/topK/")
    which.add_argument("--pareto", dest="mode", action="store_const", const="pareto",
                       help="every trial of the run's Pareto set → OUT/pareto1/ … (by OPs)")
    parser.add_argument("--onnx", action="store_true",
                        help="also write model.onnx, checked with onnxruntime on val images")
    parser.add_argument("--openvino", action="store_true",
                        help="also write model.xml/.bin, the bit-packed model (1-bit weights, "
                        "OpenVINO), checked against PyTorch and timed against the float twin; "
                        "implies --onnx")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="output folder (default RUN_DIR/export)")
    parser.add_argument("--data-root", metavar="DIR",
                        help="where the trials' dataset lives now, if not at the recorded root")
    parser.add_argument("--tolerance", type=float, default=0.1, metavar="PT",
                        help="allowed |reloaded − recorded| val top-1 in percentage points "
                        "(default 0.1)")
    parser.add_argument("--onnx-atol", type=float, default=1e-3, metavar="X",
                        help="allowed max |ONNX − PyTorch| logit difference (default 1e-3)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset, >= 17 (default 17)")


def run(args: argparse.Namespace) -> int:
    from bnas.errors import BnasError

    mode = "top-k" if args.top_k is not None else (args.mode or "best")
    for flag, value in (("--tolerance", args.tolerance), ("--onnx-atol", args.onnx_atol)):
        if not value >= 0:
            raise BnasError(f"{flag}: expected a number >= 0, got {value}")
    from bnas.export.exporter import export_run

    records = export_run(
        args.run_dir, mode=mode, k=args.top_k if mode == "top-k" else 1, onnx=args.onnx,
        openvino=args.openvino, out=args.out,
        data_root=args.data_root, tolerance_pt=args.tolerance, onnx_atol=args.onnx_atol,
        opset=args.opset,
    )
    if records:
        first = records[0]["paths"]["retrain"]
        print(f"exported {len(records)} trial(s); retrain one with: bnas train {first}")
    for record in records:
        if record.get("openvino"):
            latency = record["openvino"]["latency"]
            bitpacked, float_twin = latency["bitpacked_ms"], latency["float_onnxruntime_ms"]
            print(f"bit-packed model {record['paths']['folder']}/model.xml: {bitpacked:.3g} ms "
                  f"vs its float twin's {float_twin:.3g} ms in ONNX Runtime "
                  f"({float_twin / bitpacked:.1f}x) on this machine ({latency['cpu']}, 1 thread, "
                  "batch 1)")
    return 0
