"""bnas.deploy: whole bit-packed networks against PyTorch (every backbone, preset and site
setting, counting sign flips), the saved IR, the torch-free runtime, latency, bad input.
The conversion steps alone: tests/test_deploy_steps.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import openvino as ov
import pytest
import torch

from bnas import Architecture, BnasError
from bnas.deploy import load, measure_latency, profile_ops, save_openvino, to_openvino
from bnas.deploy.runtime import compile_model
from bnas.models import build_model
from bnas.nn import DySign, RSign, set_binarization

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- whole networks against PyTorch -------------------------------------------------------------

VARIANTS = [  # every generator setting of a dynamic site, one per block (cycled)
    {"kind": "dynamic", "rd_ratio": 4},
    {"kind": "dynamic", "rd_ratio": 2, "pool": "mean_std", "act": "prelu"},
    {"kind": "dynamic", "pool": "constant", "bound": "tanh"},
    {"kind": "dynamic", "pool": "mean_std", "bound": "tanh", "min_hidden": 4},
]


def architectures(backbone: str, blocks: int, sites: tuple[str, ...]) -> dict[str, dict]:
    """static, dynamic, and mixed (every generator variant, static and dynamic sites in one
    block, DyRPReLU)."""
    mixed = []
    for index in range(blocks):
        variant = VARIANTS[(index - 1) % len(VARIANTS)]
        mixed.append("static" if index == 0 else {
            site: (variant if (i + index) % 2 else "static") for i, site in enumerate(sites)})
    return {"static": {"blocks": "static"}, "dynamic": {"blocks": "dynamic"},
            "mixed": {"blocks": mixed, "rprelu": "dynamic"}}


@torch.no_grad()
def trained_looking(model: torch.nn.Module, in_chans: int, size: int, seed: int) -> None:
    """Weights that make every threshold matter: BatchNorm statistics from data (so signs
    split their inputs), then α, RPReLU shifts and slopes, generators' last layers and
    affine norms drawn away from their initial values."""
    generator = torch.Generator().manual_seed(seed)

    def draw(like: torch.Tensor, scale: float) -> torch.Tensor:
        return torch.randn(like.shape, generator=generator) * scale

    norms = [module for module in model.modules() if isinstance(module, torch.nn.BatchNorm2d)]
    for module in norms:
        module.momentum = None  # cumulative average over the calibration batches
        module.reset_running_stats()
    if norms:
        model.train()
        for _ in range(2):
            model(torch.randn(8, in_chans, size, size, generator=generator))
    model.eval()
    for name, param in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if leaf in ("alpha", "gamma", "zeta"):
            param.copy_(draw(param, 0.3))
        elif leaf == "slope":
            param.uniform_(0.0, 0.5, generator=generator)
        elif "generator.fc2" in name:
            param.copy_(draw(param, 0.2))
        elif leaf in ("norm_weight", "weight") and param.dim() == 1:
            param.mul_(1 + draw(param, 0.1))
        elif leaf in ("norm_bias", "bias") and param.dim() == 1:
            param.add_(draw(param, 0.1))


def sign_sites(model: torch.nn.Module) -> dict[str, RSign]:
    return {name: module for name, module in model.named_modules() if isinstance(module, RSign)}


@torch.no_grad()
def compare_with_pytorch(model: torch.nn.Module, images: np.ndarray, *,
                         always_probe: bool = True) -> dict[str, object]:
    """Logits of PyTorch and of the bit-packed model, and every sign site's ±1 in both: the
    sign flips (where float rounding put an input on the other side of its threshold), and
    how far from the threshold PyTorch's input was at each first flip of an image."""
    sites = sign_sites(model)
    torch_signs: dict[str, np.ndarray] = {}
    margins: dict[str, np.ndarray] = {}

    def hook(name: str):  # noqa: ANN202
        def record(module: RSign, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
            x = inputs[0]
            shifted = x - module.threshold(x)
            torch_signs[name] = output.numpy()
            margins[name] = (shifted.abs() / x.abs().amax().clamp_min(1e-12)).numpy()
        return record

    handles = [site.register_forward_hook(hook(name)) for name, site in sites.items()]
    expected = model(torch.from_numpy(images)).numpy()
    for handle in handles:
        handle.remove()
    converted = to_openvino(model)
    logits = compile_model(converted, batch=len(images), threads=1, precision="f32")(images)[0]
    close = np.abs(logits - expected).max(1) <= 1e-4 * np.abs(expected).max(1)
    if not always_probe and close.all():  # no flip that matters: spare the probe's compile
        return {"expected": expected, "logits": logits, "flips": np.zeros(len(images), int),
                "elements": sum(out.size for out in torch_signs.values()),
                "flip_margins": np.zeros(0)}
    # The probe: every site's binarization input as an extra output (a FakeQuantize output
    # would run as a general quantizer); the bits are that input > the FakeQuantize's
    # constant, which is the plugin's comparison (the edge tests above check it).
    probe = to_openvino(model)
    by_name = {op.get_friendly_name(): op for op in probe.get_ops()}
    quantizers = [by_name[name] for name in sites]
    probe.add_outputs([fq.input_value(0) for fq in quantizers])
    values = compile_model(probe, batch=len(images), threads=1, precision="f32")(images)
    flips = np.zeros(len(images), np.int64)
    elements, flip_margins = 0, []
    for index, (name, fq) in enumerate(zip(sites, quantizers), start=1):  # in execution order
        threshold = fq.input_value(1).get_node().get_data()
        channels = sites[name].channels
        bits = (values[index] > threshold)[:, :channels] * 2 - 1
        want = torch_signs[name]
        if want.ndim == 3:  # tokens N×L×D; the binary conv's input is N×D×L×1
            bits = bits[..., 0].transpose(0, 2, 1)
        differ = bits != want
        # where no earlier site flipped, a flip is float rounding at this threshold; later
        # flips in that image follow from it (the site's input itself changed)
        first = (flips == 0)[(slice(None),) + (None,) * (differ.ndim - 1)] & differ
        flips += differ.reshape(len(images), -1).sum(1)
        elements += want.size
        flip_margins += margins[name][first].tolist()
    return {"expected": expected, "logits": logits, "flips": flips, "elements": elements,
            "flip_margins": np.array(flip_margins)}


BACKBONE_CASES = [(backbone, config)
                  for backbone in ("reactnet_a", "react_resnet18", "binary_cct")
                  for config in ("static", "dynamic", "mixed")]


@pytest.fixture(scope="module")
def digits_images() -> np.ndarray:
    """The demo's data: scikit-learn's digits, its validation and test images (8×8)."""
    from bnas.data import load_splits

    splits = load_splits("digits", seed=0)
    images = [splits.val[i][0] for i in range(len(splits.val))]
    images += [splits.test[i][0] for i in range(len(splits.test))]
    return torch.stack(images).numpy()


def build(backbone: str, config: str, *, in_chans: int, img_size: int, seed: int = 0,
          **args: object) -> torch.nn.Module:
    from bnas.backbones import backbone_info

    info = backbone_info(backbone)
    args = {"preset": "tiny", "num_classes": 10, "in_chans": in_chans, "img_size": img_size,
            **args}
    arch = Architecture.from_dict({
        "backbone": backbone, "args": args,
        **architectures(backbone, info.num_blocks(args), info.sites)[config]})
    torch.manual_seed(seed)
    model = build_model(arch)
    trained_looking(model, in_chans, img_size, seed)
    return model


def assert_exact(comparison: dict[str, object], what: str) -> None:
    expected, logits, flips = comparison["expected"], comparison["logits"], comparison["flips"]
    relative = np.abs(logits - expected).max(1) / np.abs(expected).max(1)
    agree = float((logits.argmax(1) == expected.argmax(1)).mean())
    flipped = int((flips > 0).sum())
    print(f"{what}: {len(expected)} images, top-1 agrees on {agree:.2%}, max relative logit "
          f"difference {relative.max():.2g} ({relative[flips == 0].max():.2g} without sign "
          f"flips); {int(flips.sum())} sign flips in {comparison['elements']} site outputs "
          f"({flipped} images)")
    assert agree >= 0.999
    assert (relative[flips == 0] <= 1e-4).all()
    # a first flip is float rounding at a threshold, nothing else: PyTorch's input was
    # within float32 rounding of the threshold there
    assert (comparison["flip_margins"] <= 1e-5).all(), comparison["flip_margins"]
    assert flips.sum() <= 1e-4 * comparison["elements"]


@pytest.mark.parametrize(("backbone", "config"), BACKBONE_CASES)
def test_network_matches_pytorch(backbone: str, config: str, digits_images: np.ndarray) -> None:
    model = build(backbone, config, in_chans=1, img_size=8)
    assert_exact(compare_with_pytorch(model, digits_images), f"{backbone} {config}")


@pytest.mark.parametrize("backbone", ["reactnet_a", "react_resnet18", "binary_cct"])
def test_presets_sizes_and_widths(backbone: str) -> None:
    """Every preset; 28 px (7×7 → 4×4 through ceil-mode pooling, as MNIST); the ImageNet
    stems (stride-2 conv, ResNet's max-pool, CCT's 7×7 tokenizer) at 128 px; channel counts
    that are no multiple of 8 (width 1.1: 18 stem channels, CCT dim 70) or odd (17)."""
    rng = np.random.default_rng(0)
    cases = [({"preset": "small", "img_size": 16}), ({"preset": "full", "img_size": 16}),
             ({"img_size": 28}), ({"img_size": 128}),
             ({"img_size": 16, "width": 1.1, **({} if backbone == "binary_cct" else
                                                 {"channel_multiple": 1})})]
    if backbone != "binary_cct":
        cases.append({"img_size": 16, "width": 17 / 16, "channel_multiple": 1})
    for args in cases:
        model = build(backbone, "mixed", in_chans=3, seed=1, **args)
        size = args["img_size"]
        images = rng.standard_normal((3, 3, size, size)).astype(np.float32)
        assert_exact(compare_with_pytorch(model, images, always_probe=False),
                     f"{backbone} {args}")


# -- the IR, the torch-free runtime, latency -----------------------------------------------------


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    model = build("reactnet_a", "mixed", in_chans=1, img_size=8)
    images = np.random.default_rng(0).standard_normal((5, 1, 8, 8)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(images)).numpy()
    path = save_openvino(to_openvino(model), tmp_path_factory.mktemp("ir") / "model.xml")
    return path, images, expected


def test_saved_ir_runs_in_a_process_without_torch(saved_model) -> None:  # noqa: ANN001
    path, images, expected = saved_model
    np.save(path.parent / "images.npy", images)
    code = (
        "import sys, numpy as np\n"
        "from bnas.deploy import load, measure_latency\n"
        "model = load(sys.argv[1])\n"
        "np.save(sys.argv[3], model(np.load(sys.argv[2])))\n"
        "latency = measure_latency(sys.argv[1], warmup=2, repeats=5)\n"
        "assert latency.median_ms > 0\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(path), str(path.parent /
                             "images.npy"), str(path.parent / "out.npy")],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    logits = np.load(path.parent / "out.npy")
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_ir_holds_one_bit_per_binary_weight(saved_model) -> None:  # noqa: ANN001
    path, _, _ = saved_model
    model = ov.Core().read_model(str(path))
    binary = [op for op in model.get_ops() if op.get_type_name() == "BinaryConvolution"]
    assert binary
    for op in binary:
        weights = op.input_value(1).get_node()
        assert weights.get_element_type() == ov.Type.u1
    floats = {op.get_element_type() for op in model.get_ops()
              if op.get_type_name() == "Constant" and op.get_element_type().is_real()}
    assert floats == {ov.Type.f32}  # no f16 compression of the float weights


def test_load_batches_and_settings(saved_model) -> None:  # noqa: ANN001
    path, images, expected = saved_model
    model = load(path, threads=2)
    scale = np.abs(expected).max()
    for batch in (images[:1], images, images[:3]):  # compiled per batch size, then cached
        np.testing.assert_allclose(model(batch), expected[:len(batch)], atol=1e-4 * scale)
    assert model.input_shape == (1, 8, 8)
    with pytest.raises(BnasError, match=r"expects a float32 batch of N×1×8×8"):
        model(images[:, :, :4])
    with pytest.raises(BnasError, match="threads"):
        load(path, threads=0)
    with pytest.raises(BnasError, match="precision"):
        load(path, precision="f16")


def test_measure_latency_and_op_profile(saved_model) -> None:  # noqa: ANN001
    path, _, _ = saved_model
    latency = measure_latency(path, threads=1, batch=2, warmup=2, repeats=9)
    assert latency.repeats == 9 and latency.batch == 2 and latency.runtime_precision == "f32"
    assert 0 < latency.min_ms <= latency.p10_ms <= latency.median_ms <= latency.p90_ms
    ops_ = profile_ops(path, warmup=1, repeats=3)
    kinds = {op.layer_type for op in ops_}
    assert "BinaryConvolution" in kinds and "FakeQuantize" in kinds
    binary = [op for op in ops_ if op.layer_type == "BinaryConvolution"]
    assert all(op.kernel.endswith("_u1") for op in binary), binary  # a JIT kernel, not ref
    # BatchNorm (folded), the residual add and the RPReLU run inside the binary conv
    assert any(any(".add" in name for name in op.fused) for op in binary)
    with pytest.raises(BnasError, match="repeats"):
        measure_latency(path, warmup=0, repeats=0)


def test_bad_models(tmp_path: Path, saved_model) -> None:  # noqa: ANN001
    with pytest.raises(BnasError, match="no such model file"):
        load(tmp_path / "missing.xml")
    damaged = tmp_path / "damaged.xml"
    damaged.write_text("<net><layers>")
    with pytest.raises(BnasError, match="not a readable OpenVINO model"):
        load(damaged)
    with pytest.raises(BnasError, match="expected a bnas backbone"):
        to_openvino(torch.nn.Linear(3, 3))
    model = build("reactnet_a", "static", in_chans=1, img_size=8)
    with pytest.raises(BnasError, match="input channels"):
        to_openvino(model, input_shape=(1, 3, 8, 8))
    set_binarization(model, weights=False, activations=False)
    with pytest.raises(BnasError, match="float twin"):
        to_openvino(model)


def test_dysign_is_a_dysign() -> None:
    """The mixed architectures really hold every generator variant (the cases above test
    what they claim to)."""
    model = build("reactnet_a", "mixed", in_chans=1, img_size=8)
    settings = {(s.generator.pool, type(s.generator.act).__name__, s.generator.bound)
                for s in sign_sites(model).values() if isinstance(s, DySign)}
    assert {pool for pool, _, _ in settings} == {"mean", "mean_std", "constant"}
    assert {act for _, act, _ in settings} == {"ReLU", "PReLU"}
    assert {bound for _, _, bound in settings} == {"none", "tanh"}


def test_no_openvino_or_no_cpu_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the openvino package (blocked in a fresh process) and without a CPU device,
    loading a model is one line, exit 2 from the command line."""
    code = ("import sys\nsys.modules['openvino'] = None\nfrom bnas.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    (tmp_path / "preprocessing.json").write_text(
        '{"dataset": "digits", "channels": 1, "size": 8, "resize": "stretch", "mean": [0.3],'
        ' "std": [0.4], "labels": ["0", "1"]}')
    (tmp_path / "model.xml").write_text("<net/>")
    (tmp_path / "image.png").write_bytes(b"")
    result = subprocess.run([sys.executable, "-c", code, "predict", str(tmp_path),
                             str(tmp_path / "image.png")],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("bnas: error: OpenVINO is not installed"), lines[0]

    from bnas.deploy import runtime

    monkeypatch.setattr(runtime, "DEVICE", "a device this machine lacks")
    runtime.openvino_core.cache_clear()
    try:
        with pytest.raises(BnasError, match="OpenVINO has no a device this machine lacks"):
            load(tmp_path / "model.xml")
    finally:
        runtime.openvino_core.cache_clear()
