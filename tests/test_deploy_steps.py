"""bnas.deploy's conversion steps, each alone: pack (1-bit weights) against an integer
reference, threshold against PyTorch's sign at the equality edge, fold against BatchNorm, and
the runtime's image preprocessing against bnas.data's evaluation transforms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset1 as ops1
import openvino.opset13 as ops
import pytest
import torch

from bnas.deploy.fold import batch_norm_terms, fold_scale
from bnas.deploy.pack import binary_weights, pack_signs, unpack_signs
from bnas.deploy.threshold import binarize, shift, strict_threshold
from bnas.nn import RSign

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _compile(outputs: list[ov.Output], inputs: list[ov.Node]) -> ov.CompiledModel:
    return ov.Core().compile_model(ov.Model(outputs, inputs), "CPU", {
        "INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": "f32"})


# -- pack: 1-bit weights in the CPU plugin's bit order -----------------------------------------


def reference_binary_conv(signs: np.ndarray, weights: np.ndarray, stride: int, pad: int,
                          pad_value: int) -> np.ndarray:
    """Σ ±1 · ±1 over each window in int64: the definition of an xnor-popcount conv."""
    n, c, h, w = signs.shape
    o, _, k, _ = weights.shape
    padded = np.pad(signs.astype(np.int64), ((0, 0), (0, 0), (pad, pad), (pad, pad)),
                    constant_values=pad_value)
    out_h, out_w = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    out = np.zeros((n, o, out_h, out_w), np.int64)
    for i in range(k):
        for j in range(k):
            window = padded[:, :, i:i + stride * out_h:stride, j:j + stride * out_w:stride]
            out += np.einsum("nchw,oc->nohw", window, weights[:, :, i, j].astype(np.int64))
    return out


def binary_conv_graph(weights: np.ndarray, shape: tuple[int, ...], stride: int, pad: int,
                      pad_value: float, packed: ov.Node | None = None) -> ov.CompiledModel:
    x = ops.parameter(list(shape), np.float32)
    bits = binarize(x.output(0), np.zeros(shape[1], np.float32))
    constant = packed if packed is not None else binary_weights(weights)
    conv = ops1.binary_convolution(bits, constant, [stride, stride], [pad, pad], [pad, pad],
                                   [1, 1], "xnor-popcount", pad_value)
    return _compile([conv.output(0)], [x])


def test_pack_round_trip_and_byte_order() -> None:
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((5, 7, 3, 3)).astype(np.float32)
    weight[0, 0, 0, 0] = 0.0  # sign(0) = +1, as bnas.nn.sign
    weight[0, 0, 0, 1] = -0.0
    signs = unpack_signs(pack_signs(weight), weight.shape)
    assert signs[0, 0, 0, 0] == 1 and signs[0, 0, 0, 1] == 1
    np.testing.assert_array_equal(signs, np.where(weight >= 0, 1, -1))
    # the first element lives in the least significant bit of the first byte
    assert pack_signs(np.array([1, -1, -1, -1, -1, -1, -1, -1]))[0] == 0b00000001


@pytest.mark.parametrize("pad_value", [0.0, -1.0])
@pytest.mark.parametrize(("channels", "out", "size", "kernel", "stride"), [
    (32, 19, 7, 3, 1),   # odd side, output channels no multiple of 8
    (64, 40, 9, 3, 2),   # several 32-channel blocks, stride 2 with an odd side
    (40, 24, 5, 1, 1),   # 1x1 (binary CCT's linears)
])
def test_binary_conv_matches_integer_reference(pad_value: float, channels: int, out: int,
                                               size: int, kernel: int, stride: int) -> None:
    """The plugin's kernel, both pad values (zero padding is what bnas trains)."""
    rng = np.random.default_rng(channels + out)
    weights = rng.standard_normal((out, channels, kernel, kernel)).astype(np.float32)
    x = rng.standard_normal((2, channels, size, size)).astype(np.float32)
    pad = kernel // 2
    compiled = binary_conv_graph(weights, x.shape, stride, pad, pad_value)
    expected = reference_binary_conv(np.where(x > 0, 1, -1), np.where(weights >= 0, 1, -1),
                                     stride, pad, int(pad_value))
    np.testing.assert_array_equal(compiled(x)[0], expected)


@torch.no_grad()
@pytest.mark.parametrize(("channels", "out", "size", "kernel", "stride"), [
    (13, 19, 7, 3, 1),   # odd channel count: one unpaired padding channel
    (12, 8, 6, 3, 2),    # even, no multiple of 8
    (17, 9, 5, 1, 1),    # 1x1
    (24, 16, 5, 3, 1),   # aligned: no padding
])
def test_binary_site_any_channel_count(channels: int, out: int, size: int, kernel: int,
                                       stride: int) -> None:
    """A sign site and its binary conv as converted (channels padded to a multiple of 8 where
    needed), exact against the integer reference, with the site's threshold in between."""
    from bnas.deploy.sites import binary_product
    from bnas.nn import BinaryConv2d

    torch.manual_seed(channels)
    site = RSign(channels)
    site.alpha.normal_()
    conv = BinaryConv2d(channels, out, kernel, stride, padding=kernel // 2, bias=False)
    x = torch.randn(2, channels, size, size)
    node = ops.parameter(list(x.shape), np.float32)
    compiled = _compile([binary_product(site, conv, node.output(0), node.output(0), "unit")],
                        [node])
    expected = reference_binary_conv(site(x).numpy(), np.where(conv.weight >= 0, 1, -1),
                                     stride, kernel // 2, 0)
    np.testing.assert_array_equal(compiled(x.numpy())[0], expected)


def test_unaligned_channels_are_read_wrong_without_padding() -> None:
    """The trap the padding avoids: a standalone binarization of 12 channels is not laid out
    the way the binary conv reads it."""
    rng = np.random.default_rng(2)
    weights = np.ones((8, 12, 1, 1), np.float32)
    x = rng.standard_normal((1, 12, 3, 3)).astype(np.float32)
    expected = reference_binary_conv(np.where(x > 0, 1, -1), np.ones((8, 12, 1, 1)), 1, 0, 0)
    assert not np.array_equal(binary_conv_graph(weights, x.shape, 1, 0, 0.0)(x)[0], expected)


def test_msb_first_bytes_are_read_reversed() -> None:
    """The trap pack avoids: OpenVINO's own u1 packing (the first element in the most
    significant bit) is read by the CPU plugin with each byte's bits reversed."""
    rng = np.random.default_rng(1)
    weights = rng.standard_normal((16, 32, 1, 1)).astype(np.float32)
    msb_first = np.packbits((weights >= 0).reshape(-1), bitorder="big")
    constant = ov.op.Constant(ov.Tensor(msb_first, ov.Shape(list(weights.shape)), ov.Type.u1),
                              shared_memory=False)
    x = rng.standard_normal((1, 32, 4, 4)).astype(np.float32)
    expected = reference_binary_conv(np.where(x > 0, 1, -1), np.where(weights >= 0, 1, -1), 1,
                                     0, 0)
    wrong = binary_conv_graph(weights, x.shape, 1, 0, 0.0, packed=constant)(x)[0]
    right = binary_conv_graph(weights, x.shape, 1, 0, 0.0)(x)[0]
    assert not np.array_equal(wrong, expected)
    np.testing.assert_array_equal(right, expected)


# -- threshold: FakeQuantize agrees with torch's sign(x - t) at the edge ------------------------


def _edge_inputs(threshold: np.ndarray) -> np.ndarray:
    """Per channel: t itself, one ulp either side, ±0, far values, a subnormal."""
    t = threshold.astype(np.float32)
    columns = [t, np.nextafter(t, np.float32(-np.inf)), np.nextafter(t, np.float32(np.inf)),
               np.zeros_like(t), -np.zeros_like(t), t - 1, t + 1, np.full_like(t, 1e-40)]
    return np.stack(columns, axis=-1)[None, :, :, None].astype(np.float32)  # 1×8×8×1


def signs_seen_by_a_binary_conv(bits: ov.Output, inputs: list[ov.Node],
                                feed: list[np.ndarray]) -> np.ndarray:
    """The ±1 a binary conv reads from ``bits`` (8 channels). A FakeQuantize whose output is a
    model output runs as a general quantizer, not as binarization, so the signs are read back
    through a 1×1 binary conv with weights +1 on the diagonal, −1 elsewhere:
    out_o = 2·s_o − Σ s, hence s = (out + Σ s) / 2 with Σ s = Σ out / (2 − 8)."""
    weights = np.where(np.eye(8, dtype=bool), 1.0, -1.0).reshape(8, 8, 1, 1)
    conv = ops1.binary_convolution(bits, binary_weights(weights), [1, 1], [0, 0], [0, 0],
                                   [1, 1], "xnor-popcount", 0.0)
    out = _compile([conv.output(0)], inputs)(feed)[0]
    total = out.sum(axis=1, keepdims=True) / (2 - 8)
    return (out + total) / 2


@torch.no_grad()
def test_static_threshold_equality_edge() -> None:
    threshold = np.array([0.0, 0.25, -1.5, 1e-40, 3.0, -0.0, 1e-3, -7.0], np.float32)
    x = _edge_inputs(threshold)
    node = ops.parameter(list(x.shape), np.float32)
    bits = binarize(node.output(0), threshold).output(0)
    site = RSign(len(threshold))
    site.alpha.copy_(torch.from_numpy(threshold))
    expected = site(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(signs_seen_by_a_binary_conv(bits, [node], [x]), expected)
    assert (strict_threshold(threshold) < threshold).all()


@torch.no_grad()
def test_dynamic_threshold_equality_edge() -> None:
    """A computed threshold: x − t as torch computes it, binarized at the constant 0⁻."""
    threshold = np.array([0.0, 0.75, -2.0, 5e-41, 1.0, -1e-3, 2.5, 0.1], np.float32)
    x = _edge_inputs(threshold)
    node = ops.parameter(list(x.shape), np.float32)
    computed = ops.parameter([1, len(threshold), 1, 1], np.float32)
    bits = binarize(shift(node.output(0), computed.output(0)), np.float32(0)).output(0)
    shifted = torch.from_numpy(x) - torch.from_numpy(threshold).view(1, -1, 1, 1)
    expected = torch.where(shifted >= 0, 1.0, -1.0).numpy()
    got = signs_seen_by_a_binary_conv(bits, [node, computed],
                                      [x, threshold.reshape(1, -1, 1, 1)])
    np.testing.assert_array_equal(got, expected)


# -- fold: weight scale x BatchNorm = one affine -------------------------------------------------


@torch.no_grad()
def test_fold_matches_batch_norm() -> None:
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm2d(6).eval()
    bn.running_mean.normal_()
    bn.running_var.uniform_(0.1, 3)
    bn.weight.normal_()
    bn.bias.normal_()
    alpha = torch.rand(6) + 0.1
    popcount = torch.randint(-50, 51, (2, 6, 3, 3)).float()
    expected = bn(popcount * alpha.view(1, -1, 1, 1)).double()
    terms = fold_scale(alpha.numpy(), batch_norm_terms(
        bn.weight.numpy(), bn.bias.numpy(), bn.running_mean.numpy(), bn.running_var.numpy(),
        bn.eps))
    folded = popcount.double() * torch.from_numpy(terms.scale).double().view(1, -1, 1, 1) \
        + torch.from_numpy(terms.shift).double().view(1, -1, 1, 1)
    torch.testing.assert_close(folded, expected, rtol=1e-6, atol=1e-5)


# -- images: the runtime's preprocessing equals bnas.data's evaluation transform ----------------


@pytest.mark.parametrize(("dataset", "native", "size", "channels"), [
    ("digits", 8, 8, 1),           # native size: only the normalization
    ("mnist", 28, 16, 1),          # downsized: antialiased bilinear in float
    ("cifar10", 32, 40, 3),        # upsized
])
def test_stretch_preprocessing_equals_training_transform(dataset: str, native: int, size: int,
                                                         channels: int, tmp_path: Path) -> None:
    from PIL import Image

    from bnas.data._transforms import TensorTransform
    from bnas.datasets import DATASETS, DatasetInfo, Preprocessing
    from bnas.deploy.images import prepare_image

    pixels = np.random.default_rng(size).integers(0, 256, (native, native, channels), np.uint8)
    path = tmp_path / "image.png"
    Image.fromarray(pixels[..., 0] if channels == 1 else pixels).save(path)
    facts = DATASETS[dataset]
    preprocessing = Preprocessing.for_data(dataset, DatasetInfo(10, channels, size))
    expected = TensorTransform((facts.mean, facts.std), size)(
        torch.from_numpy(pixels).permute(2, 0, 1).contiguous()).numpy()
    np.testing.assert_allclose(prepare_image(path, preprocessing), expected, atol=2e-5)


def test_crop_preprocessing_equals_imagefolder_transform(tmp_path: Path) -> None:
    from PIL import Image

    from bnas.data._transforms import image_transforms
    from bnas.datasets import DATASETS, DatasetInfo, Preprocessing
    from bnas.deploy.images import prepare_image

    facts = DATASETS["imagefolder"]
    for width, height in ((80, 64), (50, 90), (32, 32)):
        pixels = np.random.default_rng(width).integers(0, 256, (height, width, 3), np.uint8)
        path = tmp_path / f"{width}x{height}.jpg"
        Image.fromarray(pixels).save(path)
        _, evaluate = image_transforms((facts.mean, facts.std), 32, augment=False)
        with Image.open(path) as image:
            expected = evaluate(image.convert("RGB")).numpy()
        got = prepare_image(path, Preprocessing.for_data("imagefolder", DatasetInfo(3, 3, 32),
                                                         ("a", "b", "c")))
        np.testing.assert_allclose(got, expected, atol=1e-6)
