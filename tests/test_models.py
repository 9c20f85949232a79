"""bnas.models: the three backbones built from Architectures, the registry and timm entry points."""

import io
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
import yaml

from bnas.architecture import Architecture
from bnas.backbones import BACKBONES
from bnas.errors import BnasError
from bnas.models import build_model, register_backbone, registered_backbones
from bnas.nn import BinaryConv2d, BinaryLinear, DyRPReLU, DySign, RPReLU, set_binarization

BACKBONE_NAMES = ("reactnet_a", "react_resnet18", "binary_cct")
VARIANTS = [
    "static",
    {"kind": "dynamic", "rd_ratio": 4, "pool": "mean_std"},
    {"kind": "dynamic", "rd_ratio": 8, "act": "prelu", "bound": "tanh"},
    {"kind": "dynamic", "pool": "constant", "min_hidden": 4},
]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def mixed(backbone: str, **args) -> Architecture:
    """Static and all generator variants interleaved over blocks and sites, DyRPReLU, STE."""
    args = {"preset": "tiny", "num_classes": 10, "img_size": 32} | args
    num_blocks = BACKBONES[backbone].num_blocks(args)
    sites = BACKBONES[backbone].sites
    blocks = [
        {site: VARIANTS[(i + j) % len(VARIANTS)] for j, site in enumerate(sites)}
        for i in range(num_blocks)
    ]
    return Architecture.from_dict(
        {"backbone": backbone, "args": args, "blocks": blocks, "rprelu": "dynamic",
         "binarizer": "ste"}
    )


def arch_of(backbone: str, kind: str, **args) -> Architecture:
    if kind == "mixed":
        return mixed(backbone, **args)
    args = {"preset": "tiny", "num_classes": 10, "img_size": 32} | args
    return Architecture.uniform(backbone, kind, **args)


def binary_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in model.modules() if isinstance(m, (BinaryConv2d, BinaryLinear))]


def test_registry_holds_every_catalog_backbone():
    assert registered_backbones() == tuple(sorted(BACKBONES))
    with pytest.raises(BnasError, match="unknown backbone 'vgg'; valid: binary_cct"):
        register_backbone("vgg")


@pytest.mark.parametrize("kind", ["static", "dynamic", "mixed"])
@pytest.mark.parametrize("backbone", BACKBONE_NAMES)
@pytest.mark.parametrize(("in_chans", "img_size"), [(3, 32), (1, 8)])
def test_tiny_preset_trains_forward_and_backward(backbone, kind, in_chans, img_size):
    torch.manual_seed(0)
    arch = arch_of(backbone, kind, in_chans=in_chans, img_size=img_size)
    model = build_model(arch)
    assert model.arch == arch and len(model.blocks) == len(arch.blocks)
    out = model(torch.randn(3, in_chans, img_size, img_size))
    assert out.shape == (3, 10)
    out.logsumexp(dim=1).sum().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient reaches {missing[:3]}"


@pytest.mark.parametrize("backbone", BACKBONE_NAMES)
def test_every_site_is_the_threshold_the_architecture_asks_for(backbone):
    arch = mixed(backbone)
    model = build_model(arch)
    for block, thresholds in zip(model.blocks, arch.blocks):
        for site, threshold in thresholds.items():
            sign = getattr(block, site).sign
            assert isinstance(sign, DySign) == threshold.is_dynamic
            assert sign.binarizer_name == "ste"
            if threshold.is_dynamic:
                assert sign.generator.pool == threshold.pool
                assert isinstance(sign.generator.act, torch.nn.PReLU) == (threshold.act == "prelu")
                hidden = max(sign.channels // threshold.rd_ratio, threshold.min_hidden)
                assert sign.generator.fc1.out_features == hidden
    rprelus = [m for m in model.modules() if isinstance(m, RPReLU)]
    assert rprelus and all(isinstance(m, DyRPReLU) for m in rprelus)


@pytest.mark.parametrize("backbone", BACKBONE_NAMES)
def test_binary_layers_see_only_signs_and_the_float_twin_does_not(backbone):
    torch.manual_seed(0)
    model = build_model(mixed(backbone))
    seen: list[torch.Tensor] = []
    for layer in binary_layers(model):
        layer.register_forward_pre_hook(lambda _, inputs: seen.append(inputs[0]))
    x = torch.randn(2, 3, 32, 32)
    binary = model(x)
    assert len(seen) == sum(len(block) for block in model.arch.blocks)  # one per site
    assert all(set(t.unique().tolist()) <= {-1.0, 1.0} for t in seen)
    seen.clear()
    set_binarization(model, weights=False, activations=False)
    assert not torch.allclose(model(x), binary)
    assert all(len(t.unique()) > 2 for t in seen)


@pytest.mark.parametrize("backbone", BACKBONE_NAMES)
def test_builds_on_the_meta_device(backbone):  # how bnas.profile counts costs without weights
    with torch.device("meta"):
        model = build_model(mixed(backbone))
        assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("backbone", BACKBONE_NAMES)
def test_tiny_presets_are_tiny(backbone):
    model = build_model(arch_of(backbone, "static"))
    assert 0.05e6 <= sum(p.numel() for p in model.parameters()) <= 0.4e6


@pytest.mark.parametrize(
    ("backbone", "img_size", "stride"),
    [("reactnet_a", 224, 2), ("reactnet_a", 64, 1), ("react_resnet18", 128, 2),
     ("react_resnet18", 28, 1)],
)
def test_stem_auto_picks_by_image_size(backbone, img_size, stride):
    model = build_model(arch_of(backbone, "static", img_size=img_size, in_chans=1))
    assert model.stem[0].stride == (stride, stride)
    assert model(torch.randn(1, 1, img_size, img_size)).shape == (1, 10)


def test_cct_tokens_follow_stem_and_image_size():
    cifar = build_model(arch_of("binary_cct", "static", img_size=28, in_chans=1))
    assert cifar.pos_embed.shape == (1, 14 * 14, 64)
    imagenet = build_model(arch_of("binary_cct", "static", img_size=224))
    assert imagenet.pos_embed.shape == (1, 14 * 14, 64)  # CCT-x/7x2: 224 / 16
    with pytest.raises(BnasError, match="built for 28x28 inputs .args.img_size., got 32x32"):
        cifar(torch.zeros(1, 1, 32, 32))


@pytest.mark.parametrize("backbone", ["reactnet_a", "react_resnet18"])
def test_width_scales_channels_to_multiples_of_8(backbone):
    full_width = build_model(arch_of(backbone, "static")).num_features
    assert build_model(arch_of(backbone, "static", width=0.5)).num_features == full_width // 2
    narrowest = build_model(arch_of(backbone, "static", width=0.01))
    convs = [m for m in narrowest.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(m.out_channels % 8 == 0 for m in convs)
    assert narrowest(torch.randn(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize("backbone", ["reactnet_a", "react_resnet18"])
def test_channel_multiple_sets_the_rounding_of_widened_channels(backbone):
    default = build_model(arch_of(backbone, "static", width=1.1))
    fine = build_model(arch_of(backbone, "static", width=1.1, channel_multiple=1))
    assert default.stem[0].out_channels == 16  # 16 · 1.1 = 17.6 → a multiple of 8
    assert fine.stem[0].out_channels == 18
    assert fine(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    with pytest.raises(BnasError, match="args.channel_multiple: 0 is not a positive integer"):
        build_model(arch_of(backbone, "static", channel_multiple=0))


def test_cct_width_scales_embed_dim_to_multiples_of_heads():
    assert build_model(arch_of("binary_cct", "static", width=1.0)).num_features == 64
    wider = build_model(arch_of("binary_cct", "static", width=1.1, preset="small"))
    assert wider.num_features == 140 and wider.pos_embed.shape[-1] == 140  # 128·1.1 → 2 heads
    assert all(block.head_dim * block.num_heads == 140 for block in wider.blocks)
    static, widened, dynamic = (
        sum(p.numel() for p in build_model(arch).parameters())
        for arch in (arch_of("binary_cct", "static"), arch_of("binary_cct", "static", width=1.06),
                     arch_of("binary_cct", "dynamic"))
    )
    assert static < widened and abs(widened / dynamic - 1) < 0.03  # a params-matched control
    assert wider(torch.randn(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize("backbone", BACKBONE_NAMES)
def test_timm_create_model_takes_any_form_of_arch(backbone, tmp_path):
    arch = mixed(backbone)
    path = arch.save(tmp_path / "arch.yaml")
    for given in (arch, arch.to_dict(), str(path), path, None):
        model = timm.create_model(
            f"bnas_{backbone}", arch=given, num_classes=7, img_size=32, preset="tiny"
        )
        expected = arch if given is not None else arch_of(backbone, "static")
        assert model.arch.blocks == expected.blocks
        assert model.arch.args["num_classes"] == 7 and model.num_classes == 7
    assert model.pretrained_cfg["input_size"] == (3, 32, 32)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 7)


def test_timm_errors_are_one_line():
    with pytest.raises(BnasError, match="no pretrained weights"):
        timm.create_model("bnas_reactnet_a", pretrained=True)
    with pytest.raises(BnasError, match="arch is for backbone 'binary_cct'"):
        timm.create_model("bnas_reactnet_a", arch=mixed("binary_cct"))
    with pytest.raises(BnasError, match="reactnet_a takes no 'drop_rate'; valid: "):
        timm.create_model("bnas_reactnet_a", drop_rate=0.1)


@pytest.mark.parametrize("backbone", BACKBONE_NAMES)
def test_architecture_round_trips_dict_yaml_dict(backbone):
    arch = mixed(backbone)
    data = arch.to_dict()
    assert Architecture.from_dict(yaml.safe_load(yaml.safe_dump(data))).to_dict() == data
    assert Architecture.from_yaml(arch.to_yaml()) == arch
    assert any(isinstance(t, dict) and "bound" in t for b in data["blocks"] for t in b.values())


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"backbone": "vit"},
         "unknown backbone 'vit'; valid: binary_cct, react_resnet18, reactnet_a"),
        ({"backbone": "binary_cct", "args": {"preset": "tiny"}, "blocks": [{"qkvv": "dynamic"},
          "static"]}, "unknown site 'qkvv'; valid for binary_cct: qkv, proj, fc1, fc2"),
        ({"backbone": "react_resnet18", "args": {"preset": "tiny"}, "blocks": "dynamics"},
         "unknown threshold 'dynamics'; valid: static, dynamic"),
        ({"backbone": "reactnet_a", "blocks": {"kind": "dynamic", "rd_ratio": -4}},
         "blocks.rd_ratio: -4 is not a positive integer"),  # where written, not per site
    ],
)
def test_bad_architectures_fail_in_one_line(data, expected):
    with pytest.raises(BnasError) as error:
        Architecture.from_dict(data)
    assert expected in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"stem": "resnet"}, "args.stem: unknown value 'resnet'; valid: auto, imagenet, cifar"),
        ({"width": 0}, "args.width: 0 is not a positive number"),
        ({"num_classes": 2.5}, "args.num_classes: expected an integer, got 2.5"),
    ],
)
def test_bad_backbone_arguments_fail_in_one_line(args, expected):
    with pytest.raises(BnasError, match=expected):
        build_model(Architecture.uniform("reactnet_a", preset="tiny", **args))


@pytest.mark.parametrize("backbone", BACKBONE_NAMES)
def test_exports_to_onnx_and_runs_in_onnxruntime(backbone):
    import onnxruntime

    torch.manual_seed(0)
    model = build_model(mixed(backbone, in_chans=1, img_size=8)).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (torch.zeros(1, 1, 8, 8),), buffer, opset_version=17, dynamo=False,
            input_names=["x"], dynamic_axes={"x": {0: "batch"}},
        )
    session = onnxruntime.InferenceSession(buffer.getvalue())
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        expected = model(x).numpy()
    # a value within float error of a threshold may flip sign: allow small logit differences
    np.testing.assert_allclose(session.run(None, {"x": x.numpy()})[0], expected, atol=0.05)



def test_cct_stochastic_depth_rises_linearly():
    model = build_model(arch_of("binary_cct", "static", preset="small", drop_path_rate=0.3))
    rates = [getattr(block.drop_path, "drop_prob", 0.0) for block in model.blocks]
    assert rates == pytest.approx([0.0, 0.1, 0.2, 0.3])


# -- timm: lazy registration and timm's model conventions ---------------------------------

BNAS_FIRST = """
import sys, torch
import bnas.models
from bnas import Architecture
arch = Architecture.uniform("binary_cct", "dynamic", preset="tiny", num_classes=10, img_size=16,
                            drop_path_rate=0.2)
build = bnas.models.build_model(arch)
build(torch.randn(2, 3, 16, 16)).sum().backward()  # training mode: DropPath drops
print("after a model:", sorted({"timm", "torchvision"} & set(sys.modules)))
import timm
"""
TIMM_FIRST = """
import sys, torch
import timm
import bnas.models
"""
CREATE_THROUGH_TIMM = """
print(timm.list_models("bnas_*"))
model = timm.create_model("bnas_reactnet_a", preset="tiny", num_classes=3)
print(model(torch.zeros(1, 3, 32, 32)).shape)
print("hooks left:", [type(f).__name__ for f in sys.meta_path if "Timm" in type(f).__name__])
"""


@pytest.mark.parametrize("order", [BNAS_FIRST, TIMM_FIRST], ids=["bnas_first", "timm_first"])
def test_timm_finds_the_bnas_models_whichever_is_imported_first(order):
    """Importing bnas.models (and building, training a model) imports neither timm nor
    torchvision; timm, imported before or after, still lists and creates the bnas models."""
    result = subprocess.run(
        [sys.executable, "-c", order + CREATE_THROUGH_TIMM], capture_output=True, text=True,
        env=os.environ | {"PYTHONPATH": str(Path(__file__).parents[1])}, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    if order is BNAS_FIRST:
        assert lines.pop(0) == "after a model: []"
    assert lines == [
        "['bnas_binary_cct', 'bnas_react_resnet18', 'bnas_reactnet_a']",
        "torch.Size([1, 3])",
        "hooks left: []",
    ]


def test_unknown_timm_arguments_are_type_errors_in_one_line():
    with pytest.raises(TypeError, match="bnas_binary_cct: binary_cct takes no 'not_a_model_arg'"):
        timm.create_model("bnas_binary_cct", not_a_model_arg=1)
    with pytest.raises(BnasError, match="reactnet_a takes no 'dynamic_img_size'"):
        timm.create_model("bnas_reactnet_a", dynamic_img_size=True)  # a ViT keyword only


EXPECTED_LEVELS = {  # tiny presets at 32 px (the small-image stems): (channels, reduction)
    "reactnet_a": [(32, 1), (64, 2), (128, 4)],
    "react_resnet18": [(16, 1), (32, 2), (64, 4)],
    "binary_cct": [(64, 2), (64, 2)],
}


@pytest.mark.parametrize("backbone", BACKBONE_NAMES)
def test_features_only_gives_every_feature_level_as_feature_info_says(backbone):
    features = timm.create_model(
        f"bnas_{backbone}", arch=mixed(backbone), features_only=True
    )
    info = features.feature_info
    assert list(zip(info.channels(), info.reduction())) == EXPECTED_LEVELS[backbone]
    outputs = features(torch.randn(2, 3, 32, 32))
    assert [o.shape for o in outputs] == [(2, c, 32 // r, 32 // r) for c, r in
                                          EXPECTED_LEVELS[backbone]]
    last = timm.create_model(f"bnas_{backbone}", arch=mixed(backbone), features_only=True,
                             out_indices=(-1,))
    assert last.feature_info.channels() == info.channels()[-1:]
    assert len(last.model.blocks) == len(mixed(backbone).blocks)  # the last level is the last block
    first = timm.create_model(f"bnas_{backbone}", arch=mixed(backbone), features_only=True,
                              out_indices=(0,))
    assert len(first.model.blocks) == int(info.module_name()[0].split(".")[1]) + 1  # pruned


@pytest.mark.parametrize("backbone", BACKBONE_NAMES)
def test_intermediates_are_the_features_of_the_blocks(backbone):
    torch.manual_seed(0)
    model = build_model(mixed(backbone)).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        final, intermediates = model.forward_intermediates(x, norm=True, output_fmt="NCHW")
        features = model.forward_features(x)
        last = model.forward_intermediates(x, indices=1, norm=True, stop_early=True,
                                           output_fmt=model.output_fmt, intermediates_only=True)
    torch.testing.assert_close(final, features)
    torch.testing.assert_close(last[0], features)  # the last level is the last block, normed
    assert len(intermediates) == len(model.feature_info)
    with pytest.raises(BnasError, match="feature levels \\[7\\] out of range"):
        model.forward_intermediates(x, indices=[7])


@pytest.mark.parametrize("backbone", BACKBONE_NAMES)
def test_headless_and_unpooled_as_timm_makes_them(backbone):
    pooled = timm.create_model(f"bnas_{backbone}", arch=mixed(backbone), num_classes=0)
    x = torch.randn(2, 3, 32, 32)
    assert pooled.num_classes == 0 and pooled(x).shape == (2, pooled.num_features)
    unpooled = timm.create_model(f"bnas_{backbone}", arch=mixed(backbone), num_classes=0,
                                 global_pool="")
    channels_last = unpooled.output_fmt == "NHWC"
    grid = unpooled.pretrained_cfg["pool_size"]
    features = unpooled.num_features
    features_map = unpooled(x)
    assert features_map.shape == ((2, *grid, features) if channels_last else (2, features, *grid))
    features_map.sum().backward()  # no weights left unused (DDP would refuse them)
    assert all(p.grad is not None for p in unpooled.parameters())
    unpooled.reset_classifier(5, unpooled.global_pools[0])
    assert unpooled(x).shape == (2, 5) and unpooled.head.training
    with pytest.raises(BnasError, match="global_pool must be one of"):
        unpooled.reset_classifier(5, "max")


@pytest.mark.parametrize("backbone", BACKBONE_NAMES)
def test_torch_fx_traces_the_models_in_evaluation_and_training(backbone):
    """DySign's generators, the binarizers' surrogate gradients and the CCT's position
    embedding are fx leaves: a traced graph computes what the module does, gradients too."""
    torch.manual_seed(0)
    model = build_model(mixed(backbone))
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(2, 3, 32, 32)
    model.eval(), traced.eval()
    with torch.no_grad():
        torch.testing.assert_close(traced(x), model(x))
    model.train(), traced.train()
    grads = []
    for module in (model, traced):
        model.zero_grad()
        module(x).logsumexp(dim=1).sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for eager, fx in zip(*grads):
        torch.testing.assert_close(fx, eager)
    fx_features = timm.create_model(f"bnas_{backbone}", arch=mixed(backbone),
                                    features_only=True, feature_cls="fx")  # the blocks' outputs
    channels = [o.shape[-1 if o.dim() == 3 else 1] for o in fx_features(x)]  # CCT: N×L×D tokens
    assert channels == [c for c, _ in EXPECTED_LEVELS[backbone]]


def test_cct_takes_other_image_sizes_with_dynamic_img_size():
    torch.manual_seed(0)
    model = build_model(arch_of("binary_cct", "dynamic", img_size=32)).eval()
    with pytest.raises(BnasError, match="built for 32x32 .* got 48x40; set model.dynamic_img_s"):
        model(torch.zeros(1, 3, 48, 40))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        built_size = model(x)
        model.dynamic_img_size = True
        torch.testing.assert_close(model(x), built_size)  # its own size: the embedding as learnt
        assert model.forward_features(torch.randn(2, 3, 48, 40)).shape == (2, 24, 20, 64)
    through_timm = timm.create_model("bnas_binary_cct", preset="tiny", img_size=32,
                                     dynamic_img_size=True, features_only=True)
    assert [o.shape for o in through_timm(torch.randn(1, 3, 64, 24))] == [(1, 64, 32, 12)] * 2


def test_cct_resamples_its_position_embedding_as_timm_does():
    from timm.layers import resample_abs_pos_embed

    from bnas.models.binary_cct import resample_position_embedding

    pos_embed = torch.randn(1, 16 * 16, 8)
    for grid in [(24, 20), (9, 12), (16, 16)]:
        expected = resample_abs_pos_embed(pos_embed, list(grid), (16, 16), num_prefix_tokens=0)
        torch.testing.assert_close(resample_position_embedding(pos_embed, grid), expected)
