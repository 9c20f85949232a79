"""bnas.nn: binarizers, binary layers, static and dynamic sign sites, RPReLU."""

import pytest
import torch
import torch.nn.functional as F

from bnas.architecture import Threshold
from bnas.errors import BnasError
from bnas.nn import (
    BinaryConv2d,
    BinaryLinear,
    DropPath,
    DyRPReLU,
    DySign,
    RPReLU,
    RSign,
    approx_sign,
    drop_path,
    get_binarizer,
    make_rprelu,
    make_sign_site,
    set_binarization,
    sign,
    ste_sign,
)

SHAPES = {"NCHW": (4, 16, 5, 5), "NLD": (4, 7, 16)}


def grad_of(binarizer, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    binarizer(x).sum().backward()
    return x.grad


def test_approx_sign_backward_is_2_minus_2abs_inside_and_0_outside():
    x = torch.linspace(-2, 2, 401, dtype=torch.float64)
    expected = torch.where(x.abs() < 1, 2 - 2 * x.abs(), torch.zeros_like(x))
    torch.testing.assert_close(grad_of(approx_sign, x), expected)


def test_ste_backward_is_1_on_closed_unit_interval():
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5])
    assert grad_of(ste_sign, x).tolist() == [0, 1, 1, 1, 1, 1, 0]


@pytest.mark.parametrize("binarizer", [sign, approx_sign, ste_sign])
def test_sign_is_plus_minus_one_never_zero(binarizer):
    x = torch.tensor([-3.0, -1e-30, -0.0, 0.0, 1e-30, 2.0])
    expected = [-1, -1, 1, 1, 1, 1]
    assert binarizer(x).tolist() == expected
    assert binarizer(x.clone().requires_grad_(True)).tolist() == expected  # surrogate path


def test_unknown_binarizer_names_the_valid_ones():
    with pytest.raises(BnasError, match="unknown binarizer 'tanh'; valid: approx_sign, ste"):
        get_binarizer("tanh")


# -- DySign ---------------------------------------------------------------------------------


def excited(site: DySign) -> DySign:
    """A DySign whose generator's last layer is no longer zero."""
    torch.nn.init.normal_(site.generator.fc2.weight, std=0.5)
    torch.nn.init.normal_(site.generator.fc2.bias, std=0.5)
    return site


@pytest.mark.parametrize("layout", SHAPES)
def test_dysign_threshold_depends_on_the_input(layout):
    torch.manual_seed(0)
    site = excited(DySign(16, rd_ratio=4))
    a, b = torch.randn(SHAPES[layout]), 3 * torch.randn(SHAPES[layout]) + 1
    assert not torch.allclose(site.dynamic_threshold(a), site.dynamic_threshold(b))
    assert site.dynamic_threshold(a).shape == (4, 16)


def test_dysign_generator_gets_gradient_through_the_binarizer():
    torch.manual_seed(0)
    site = excited(DySign(16, rd_ratio=4))
    x = torch.randn(SHAPES["NCHW"])
    (site(x) * torch.randn_like(x)).sum().backward()
    for param in (site.generator.fc1.weight, site.generator.fc2.weight, site.alpha):
        assert param.grad is not None and param.grad.abs().sum() > 0


@pytest.mark.parametrize("layout", SHAPES)
def test_fresh_dysign_equals_rsign_with_the_same_alpha(layout):
    torch.manual_seed(0)
    static, dynamic = RSign(16), DySign(16, rd_ratio=4, bound="tanh", act="prelu")
    with torch.no_grad():
        static.alpha.normal_()
        dynamic.alpha.copy_(static.alpha)
    x = torch.randn(SHAPES[layout])
    assert torch.equal(static(x), dynamic(x))
    assert torch.equal(dynamic.dynamic_threshold(x), torch.zeros(4, 16))


@pytest.mark.parametrize("layout", SHAPES)
@pytest.mark.parametrize(
    "variant",
    [{"pool": "mean_std"}, {"pool": "constant"}, {"act": "prelu"}, {"bound": "tanh"},
     {"rd_ratio": 2, "min_hidden": 2}],
)
def test_generator_variants_on_images_and_tokens(layout, variant):
    torch.manual_seed(0)
    site = excited(DySign(16, **variant))
    x = torch.randn(SHAPES[layout], requires_grad=True)
    y = site(x)
    assert y.shape == x.shape and set(y.unique().tolist()) == {-1.0, 1.0}
    (y * torch.randn_like(y)).sum().backward()
    assert site.generator.fc2.weight.grad.abs().sum() > 0
    tau_a, tau_b = site.dynamic_threshold(x), site.dynamic_threshold(2 * x + 1)
    if variant.get("pool") == "constant":  # the control: τ ignores the input
        assert torch.equal(tau_a, tau_b)
    else:
        assert not torch.allclose(tau_a, tau_b)
    if variant.get("bound") == "tanh":
        assert tau_a.abs().max() <= 1


def test_make_sign_site_follows_the_threshold():
    assert type(make_sign_site(Threshold(), 8)) is RSign
    site = make_sign_site(Threshold(kind="dynamic", rd_ratio=4, min_hidden=2, pool="mean_std"), 32)
    assert isinstance(site, DySign)
    assert site.generator.fc1.in_features == 64 and site.generator.fc1.out_features == 8


# -- RPReLU -----------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", SHAPES)
def test_dyrprelu_starts_equal_to_rprelu(layout):
    torch.manual_seed(0)
    static, dynamic = RPReLU(16), DyRPReLU(16, rd_ratio=4)
    with torch.no_grad():
        for name in ("gamma", "zeta", "slope"):
            getattr(static, name).normal_()
            getattr(dynamic, name).copy_(getattr(static, name))
    x = torch.randn(SHAPES[layout])
    assert torch.equal(static(x), dynamic(x))
    assert type(make_rprelu("static", 4)) is RPReLU and type(make_rprelu("dynamic", 4)) is DyRPReLU


def test_rprelu_formula():
    act = RPReLU(2)
    with torch.no_grad():
        act.gamma.copy_(torch.tensor([1.0, -1.0]))
        act.zeta.copy_(torch.tensor([0.5, 0.0]))
        act.slope.copy_(torch.tensor([0.1, 0.2]))
    x = torch.tensor([[0.0, -2.0], [3.0, 0.0]])
    expected = torch.tensor([[0.1 * -1 + 0.5, 0.2 * -1], [2 + 0.5, 1.0]])
    torch.testing.assert_close(act(x), expected)


# -- binary layers ------------------------------------------------------------------------


def test_binary_conv_uses_scaled_sign_weights_and_clips_the_gradient():
    torch.manual_seed(0)
    conv = BinaryConv2d(4, 6, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.normal_(std=1.0)  # so that some |W| > 1
    x = torch.randn(2, 4, 5, 5)
    alpha = conv.weight.abs().mean(dim=(1, 2, 3), keepdim=True)
    expected = F.conv2d(x, alpha * sign(conv.weight), padding=1)
    torch.testing.assert_close(conv(x), expected)
    conv(x).sum().backward()
    outside = conv.weight.abs() > 1
    assert outside.any() and (~outside).any()
    assert torch.all(conv.weight.grad[outside] == 0)
    assert conv.weight.grad[~outside].abs().sum() > 0


def test_binary_linear_uses_scaled_sign_weights_and_clips_the_gradient():
    torch.manual_seed(0)
    linear = BinaryLinear(8, 5)
    with torch.no_grad():
        linear.weight.normal_(std=1.0)
    x = torch.randn(3, 7, 8)
    alpha = linear.weight.abs().mean(dim=1, keepdim=True)
    torch.testing.assert_close(linear(x), F.linear(x, alpha * sign(linear.weight), linear.bias))
    linear(x).sum().backward()
    assert torch.all(linear.weight.grad[linear.weight.abs() > 1] == 0)


def test_set_binarization_gives_the_float_twin():
    torch.manual_seed(0)
    model = torch.nn.Sequential(RSign(4), BinaryConv2d(4, 4, 3, padding=1))
    with torch.no_grad():
        model[0].alpha.normal_()
    x = torch.randn(2, 4, 5, 5)
    set_binarization(model, weights=False, activations=False)
    expected = F.conv2d(x - model[0].alpha.view(1, 4, 1, 1), model[1].weight, model[1].bias,
                        padding=1)
    torch.testing.assert_close(model(x), expected)
    set_binarization(model)
    assert set(model[0](x).unique().tolist()) == {-1.0, 1.0}


def test_drop_path_drops_whole_samples_and_keeps_the_expectation():
    torch.manual_seed(0)
    x = torch.ones(4000, 3, 2)
    dropped = drop_path(x, 0.25, training=True)
    per_sample = dropped.flatten(1).unique(dim=1)  # every sample all 0 or all 1 / 0.75
    assert per_sample.shape == (4000, 1)
    assert set(per_sample.flatten().tolist()) == {0.0, torch.tensor(1 / 0.75).item()}
    assert abs(dropped.mean().item() - 1) < 0.05
    module = DropPath(0.25).eval()
    assert module(x) is x and drop_path(x, 0.0, training=True) is x
