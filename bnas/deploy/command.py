"""``bnas predict EXPORT_DIR IMAGES...``: top-k classes of image files with the bit-packed model.

::

    bnas predict runs/demo-digits/export/best digits/            # a folder of images
    bnas predict runs/tiny/export/best cat.jpg dog.png --top-k 3 --threads 2

Runs the export folder's ``model.xml`` (``bnas export --openvino``) with OpenVINO after the
preprocessing its ``preprocessing.json`` declares, and prints one line per image and one
latency line. Imports no torch. Exit codes: 0 done, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
from pathlib import Path

PREDICT_BATCH = 64  # images per inference call
LATENCY_WARMUP, LATENCY_REPEATS = 10, 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("export_dir", type=Path, metavar="EXPORT_DIR",
                        help="a folder written by bnas export --openvino")
    parser.add_argument("images", nargs="+", metavar="IMAGES",
                        help="image files, or folders of them")
    parser.add_argument("--top-k", type=int, default=3, metavar="K",
                        help="classes to print per image (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--precision", default="f32", choices=("f32", "bf16"),
                        help="float ops in f32 (default, as PyTorch) or the CPU's bf16")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from bnas.datasets import Preprocessing
    from bnas.deploy.images import image_files, prepare_images
    from bnas.deploy.latency import measure_latency
    from bnas.deploy.runtime import load
    from bnas.errors import BnasError
    from bnas.files import OPENVINO_FILE, PREPROCESSING_FILE

    folder: Path = args.export_dir
    if args.top_k < 1:
        raise BnasError(f"--top-k: expected a positive number, got {args.top_k}")
    if not folder.is_dir():
        raise BnasError(f"{folder}: no such export folder")
    for name in (OPENVINO_FILE, PREPROCESSING_FILE):
        if not (folder / name).is_file():
            raise BnasError(f"{folder}: no {name} (not written by bnas export --openvino?)")
    preprocessing = Preprocessing.load(folder / PREPROCESSING_FILE)
    model = load(folder / OPENVINO_FILE, threads=args.threads, precision=args.precision)
    expected = (preprocessing.channels, preprocessing.size, preprocessing.size)
    if model.input_shape != expected:
        raise BnasError(f"{folder / PREPROCESSING_FILE}: prepares {expected} inputs, "
                        f"{OPENVINO_FILE} takes {model.input_shape}")
    paths = image_files(args.images)
    labels = preprocessing.labels
    for start in range(0, len(paths), PREDICT_BATCH):
        chunk = paths[start:start + PREDICT_BATCH]
        logits = model(prepare_images(chunk, preprocessing)).astype("float64")
        if logits.shape[1] != len(labels):
            raise BnasError(f"{folder / PREPROCESSING_FILE}: names {len(labels)} classes, the "
                            f"model gives {logits.shape[1]}")
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = exp / exp.sum(axis=1, keepdims=True)
        for path, row in zip(chunk, probabilities):
            best = row.argsort()[::-1][: args.top_k]
            print(f"{path}: " + ", ".join(f"{labels[i]} {row[i]:.1%}" for i in best))
    latency = measure_latency(model.model, threads=args.threads, precision=args.precision,
                              batch=1, warmup=LATENCY_WARMUP, repeats=LATENCY_REPEATS)
    print(f"latency: {latency.describe()} ({len(paths)} image(s) predicted)")
    return 0
