"""``MODEL_CARD.md`` of an exported trial, rendered from its ``export.json`` record.

Plain text from plain data: the card says what the network is (a per-block table of
thresholds), how good it is (the search's numbers and the reloaded weights' own), what it
costs (BOPs, FLOPs, OPs, size and the share of the dynamic-threshold generators), which data
it saw, and how to load, run and retrain it.
"""

from __future__ import annotations

from typing import Any

from bnas.architecture import Architecture, Threshold

_DEFAULT_DYNAMIC = Threshold(kind="dynamic")


def describe_threshold(threshold: Threshold) -> str:
    """``static (RSign)`` or ``DySign r=16 · pool mean · act relu · bound none``."""
    if not threshold.is_dynamic:
        return "static (RSign)"
    text = (f"DySign r={threshold.rd_ratio} · pool {threshold.pool} · act {threshold.act} · "
            f"bound {threshold.bound}")
    if threshold.min_hidden != _DEFAULT_DYNAMIC.min_hidden:
        text += f" · min_hidden {threshold.min_hidden}"
    return text


def block_table(arch: Architecture) -> str:
    """Markdown: one row per block, one column per binarized site."""
    sites = arch.sites
    lines = [
        "| block | token | " + " | ".join(f"`{site}`" for site in sites) + " |",
        "|---|---|" + "---|" * len(sites),
    ]
    for index, block in enumerate(arch.blocks):
        cells = " | ".join(describe_threshold(block[site]) for site in sites)
        lines.append(f"| {index} | `{arch.block_token(index)}` | {cells} |")
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * float(value):.2f} %"


def _epochs(n: object) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "0.0 %"


def _openvino_section(openvino: dict[str, Any] | None) -> list[str]:
    """The bit-packed model: its files, its check against PyTorch, its measured latency."""
    if not openvino:
        return []
    check, latency = openvino["check"], openvino["latency"]
    bitpacked = latency["bitpacked_ms"]
    lines = [
        "Bit-packed, without torch (OpenVINO + numpy + Pillow; `model.xml` / `model.bin`, the "
        f"binary weights 1 bit each, {openvino['weights_bytes']:,} bytes of weights):",
        "",
        "```",
        "bnas predict . IMAGES...          # top-k per image file and a latency line",
        "```",
        "",
        "```python",
        "from bnas.deploy import load",
        'logits = load("model.xml")(batch)  # float32 N×C×H×W, preprocessed as in '
        "preprocessing.json",
        "```",
        "",
        f"Checked on {check['images']} val images: top-1 agrees with PyTorch on "
        f"{check['top1_agree']} (val top-1 {_pct(check['val_top1'])}, PyTorch "
        f"{_pct(check['pytorch_val_top1'])}), max abs logit difference "
        f"{check['max_abs_diff']:.3g}.",
        "",
        f"Latency on the exporting machine ({latency['cpu']}, 1 thread, batch 1, float ops in "
        f"f32, binary convs on `{', '.join(latency['binary_conv_kernels'])}`; median of "
        f"{latency['rounds']} interleaved rounds of {latency['calls_per_round']} calls):",
        "",
        "| model | runtime | ms | vs bit-packed |",
        "|---|---|---|---|",
        f"| bit-packed (`model.xml`) | OpenVINO | {bitpacked:.3g} | 1.0× |",
    ]
    for key, runtime in (("float_openvino_ms", "OpenVINO f32"),
                         ("float_onnxruntime_ms", "ONNX Runtime")):
        lines.append(f"| float twin (`model.onnx`) | {runtime} | {latency[key]:.3g} | "
                     f"{latency[key] / bitpacked:.1f}× |")
    return lines + [""]


def render_model_card(record: dict[str, Any], arch: Architecture) -> str:
    """The card's Markdown text (``record`` is what ``export.json`` holds)."""
    trial, run, metrics = record["trial"], record["run"], record["metrics"]
    verified, cost, data, train = record["verified"], record["cost"], record["data"], record[
        "train"]
    epoch = metrics.get("epoch")
    planned = train.get("epochs")
    lines = [
        f"# {arch.summary()}",
        "",
        f"Binary neural network exported by `bnas export` from search run **{run['name']}**, "
        f"trial `{trial['trial_id']}` ({trial['reason']}). Architecture id `{arch.arch_id}`.",
        "",
        "## Architecture",
        "",
        f"Backbone `{arch.backbone}` with args `{arch.to_dict()['args']}`; binarizer "
        f"`{arch.binarizer}`, RPReLU `{arch.rprelu}`. Each block's binarized sites take a "
        f"static threshold (RSign: sign(x − α_c)) or a dynamic one (DySign: sign(x − τ(x) − α_c), "
        f"τ from a small 32-bit generator with channel reduction r). "
        f"{arch.num_dynamic_sites()} of {sum(len(b) for b in arch.blocks)} sites are dynamic.",
        "",
        block_table(arch),
        "",
        "## Accuracy",
        "",
        "| | value |",
        "|---|---|",
        f"| search: val top-1 (best epoch{f', epoch {epoch}' if epoch else ''}) | "
        f"{_pct(metrics.get('val_top1'))} |",
        f"| search: val top-1 after the last epoch | {_pct(metrics.get('final_val_top1'))} |",
        f"| epochs run / planned | {trial.get('epochs_run', '—')} / {planned} "
        f"({trial['status']}) |",
        f"| these weights, reloaded: val top-1 | {_pct(verified['val_top1'])} on "
        f"{verified['val_images']} val images (recorded {_pct(verified['reference'])}, "
        f"{verified['reference_key']}) |",
    ]
    if record["weights"].get("note"):
        lines.append(f"| note | {record['weights']['note']} |")
    onnx = record.get("onnx")
    if onnx:
        lines.append(
            f"| ONNX vs PyTorch | max abs logit diff {onnx['max_abs_diff']:.3g} on "
            f"{onnx['images']} val images, top-1 agrees on {onnx['top1_agree']} |"
        )
    generator_share = _share(cost["generator_size_mib"], cost["size_mib"])
    lines += [
        "",
        "Validation images are held out of the training set (`val_fraction` per class, drawn "
        "by the seed), so the search chose this trial on them: treat the number as optimistic "
        "and measure the test split for a final figure (`eval_test: true` when retraining).",
        "",
        "## Cost (per image, before training)",
        "",
        "| | value |",
        "|---|---|",
        f"| BOPs (binary MACs) | {cost['bops']:,} |",
        f"| FLOPs (real MACs) | {cost['flops']:,} (generators {cost['generator_flops']:,} = "
        f"{_share(cost['generator_flops'], cost['flops'])}) |",
        f"| OPs = FLOPs + BOPs/64 | {cost['ops']:.4g} |",
        f"| parameters | {cost['params_binary']:,} binary (1 bit) + {cost['params_real']:,} "
        f"real (32 bit), generators {cost['generator_params']:,} |",
        f"| size | {cost['size_mib']:.4g} MiB (generators {cost['generator_size_mib']:.4g} MiB "
        f"= {generator_share}) |",
        *([f"| latency (bit-packed, predicted) | {cost['latency_ms']:.4g} ms per image, by the "
           "search's latency table (measure it here: `bnas profile --latency arch.yaml`) |"]
          if cost.get("latency_ms") is not None else []),
        "",
        "## Data",
        "",
        f"Dataset `{data['name']}`" + (f" at `{data['root']}`" if data.get("root") else "")
        + (f", {data['subset']} training images per class" if data.get("subset") else
           ", all training images")
        + f", {data.get('val_fraction')} of them held out for validation, seed "
        f"{train.get('seed')}. Input "
        f"{' × '.join(map(str, record['input']['shape']))} (C × H × W), "
        f"{record['input']['preprocessing']}.",
        "",
        "## Use it",
        "",
        "```python",
        "import timm, bnas.models  # registers bnas_<backbone> with timm",
        "from safetensors.torch import load_file",
        "",
        f'model = timm.create_model("bnas_{arch.backbone}", arch="arch.yaml")',
        'model.load_state_dict(load_file("model.safetensors"))',
        "model.eval()",
        "```",
        "",
    ]
    lines += _openvino_section(record.get("openvino"))
    if onnx:
        lines += [
            "Without torch (numpy + onnxruntime only):",
            "",
            "```",
            "python -m bnas.export.onnx_runtime model.onnx sample_input.npy "
            "--expect sample_logits.npy",
            "```",
            "",
        ]
    lines += [
        "## Retrain",
        "",
        "`retrain.yaml` is a `bnas train` config with this trial's settings (same data split, "
        "seed, epochs, optimizer). Run from the directory the search ran in:",
        "",
        "```",
        f"bnas train {record['paths']['retrain']}             # repeats the trial's training",
        f"bnas train {record['paths']['retrain']} --two-step --out "
        f"{record['paths']['folder']}/retrain-two-step",
        "```",
        "",
        f"The search reached {_pct(metrics.get('val_top1'))} val top-1 here (best of "
        f"{_epochs(trial.get('epochs_run', '—'))}); the first command trains the same network "
        "the same way (seed, split, schedule and the trial's CPU thread count) and repeats "
        "that run epoch by epoch on a CPU; other thread counts or a GPU give a close but not "
        "identical run. Compare any longer or two-step retraining (real weights first, then "
        "binary) against that number. Output goes to `retrain/` beside this card unless "
        "`--out` says otherwise.",
        "",
    ]
    if trial["status"] == "stopped":
        lines += [
            f"This trial was stopped early by ASHA after {trial.get('epochs_run')} of "
            f"{planned} epochs; the retrain runs all {planned} (a shorter `--epochs` would "
            "change the learning-rate schedule), so expect more than the search's number.",
            "",
        ]
    lines += [
        "## Files",
        "",
        "| file | bytes | sha256 |",
        "|---|---|---|",
    ]
    for name, info in record["files"].items():
        lines.append(f"| `{name}` | {info['bytes']:,} | `{info['sha256'][:16]}…` |")
    lines += ["", f"Exported with bnas {record['bnas_version']}.", ""]
    return "\n".join(lines)
