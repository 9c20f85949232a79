"""bnas.profile: BOPs / FLOPs / OPs / size, hand-counted on small models and checked against
the ReActNet paper's figures for ReActNet-A; ``bnas profile`` end to end; the composed cost
model against the whole-network measurement; the cost keys and budgets of bnas.costs."""

import json
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from bnas.architecture import Architecture
from bnas.backbones import REACTNET_A_LAYOUTS
from bnas.cli import main
from bnas.errors import BnasError
from bnas.nn import BinaryConv2d, BinaryLinear, DyRPReLU, DySign, RPReLU, RSign
from bnas.profile import (
    Cost,
    format_table,
    measure_architecture,
    profile_architecture,
    profile_model,
)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))  # bench/cost_model.py draws the random candidates
TINY_MIXED = REPO / "architectures" / "reactnet_a_tiny_mixed.yaml"
IMAGENET_STATIC = REPO / "architectures" / "reactnet_a_imagenet_static.yaml"
MIB = 2**20
TO_DICT_KEYS = {"bops", "flops", "ops", "params_binary", "params_real", "size_mib",
                "generator_flops", "generator_params", "generator_size_mib"}


def hand_counted_net() -> nn.Sequential:
    """Every layer's MACs and parameters are counted by hand in the test below."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 3),                           # 6×6 → 4×4
        RSign(4),
        BinaryConv2d(4, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        DySign(8, rd_ratio=2, min_hidden=1),          # generator 8 → 4 → 8
        BinaryConv2d(8, 8, 1, bias=True),
        RPReLU(8),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    )


def test_hand_counted_cnn_binary_real_and_generator_macs_and_sizes_are_exact():
    cost = profile_model(hand_counted_net(), (1, 6, 6))
    # MACs = output elements × (in_channels / groups × kernel area), per sample.
    stem = 4 * 16 * (1 * 9)                   # 576, real
    conv3x3 = 8 * 16 * (4 * 9)                # 4608, binary
    generator = 8 * 4 + 4 * 8                 # 64: fc1 8→4, fc2 4→8 on the pooled vector
    conv1x1 = 8 * 16 * 8                      # 1024, binary
    head = 8 * 10                             # 80, real
    assert cost.bops == conv3x3 + conv1x1 == 5632
    assert cost.generator_flops == generator
    assert cost.flops == stem + generator + head == 720  # flops include the generators
    assert cost.ops == 720 + 5632 / 64
    # Binary: the two binary conv weights. Real: all the rest, the 1×1 conv's bias included.
    assert cost.params_binary == 4 * 8 * 9 + 8 * 8 == 352
    generator_params = (8 * 4 + 4) + (4 * 8 + 8)
    assert cost.generator_params == generator_params == 76
    assert cost.params_real == (36 + 4) + 4 + 16 + (8 + generator_params) + 8 + 24 + 90 == 266
    assert cost.size_mib == (352 * 1 + 266 * 32) / 8 / MIB
    assert cost.generator_size_mib == 76 * 32 / 8 / MIB
    kinds = {layer.name: (layer.kind, layer.macs, layer.params) for layer in cost.layers}
    assert kinds["0"] == ("real", 576, 40)
    assert kinds["2"] == ("binary", 4608, 288)
    assert kinds["4.generator.fc1"] == ("generator", 32, 36)
    assert kinds["5"] == ("binary", 1024, 72)
    assert kinds["3"] == ("real", 0, 16)  # BN: parameters, no MACs (elementwise)


class TinyAttention(nn.Module):
    """Binary q/k/v and output projections around real-valued score products."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.sign = DySign(dim, rd_ratio=4, min_hidden=2)
        self.qkv = BinaryLinear(dim, 3 * dim, bias=False)
        self.proj = BinaryLinear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.sign(self.norm(x))).chunk(3, dim=-1)
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj(attn @ v)


def test_attention_products_are_real_flops_and_binary_linears_are_bops():
    tokens, dim = 5, 8
    cost = profile_model(TinyAttention(dim), (tokens, dim))
    assert cost.bops == tokens * dim * 3 * dim + tokens * dim * dim
    products = 2 * tokens * tokens * dim        # q·kᵀ and attn·v
    generator = dim * 2 + 2 * dim                # token-mean → 8 → 2 → 8
    assert cost.flops == products + generator
    assert cost.generator_flops == generator
    [own] = [layer for layer in cost.layers if layer.name == "(root)"]
    assert (own.kind, own.macs) == ("real", products)


def test_dynamic_rprelu_generator_counts_as_generator():
    net = nn.Sequential(BinaryConv2d(16, 16, 1, bias=False), DyRPReLU(16, rd_ratio=4, min_hidden=1))
    cost = profile_model(net, (16, 3, 3))
    assert cost.generator_flops == 16 * 4 + 4 * 32  # γ and ζ: 16 → 4 → 2·16
    assert cost.generator_params == (16 * 4 + 4) + (4 * 32 + 32)
    assert cost.bops == 16 * 16 * 9


def test_profiling_leaves_the_model_untouched_and_allocates_nothing():
    net = hand_counted_net().train()
    before = {name: tensor.clone() for name, tensor in net.state_dict().items()}
    profile_model(net, (1, 6, 6))
    assert all(module.training for module in net.modules())
    assert all(torch.equal(before[name], tensor) for name, tensor in net.state_dict().items())
    with torch.device("meta"):
        meta_net = hand_counted_net()
    assert profile_model(meta_net, (1, 6, 6)) == profile_model(net, (1, 6, 6))


def test_bad_input_shape_is_a_one_line_error():
    with pytest.raises(BnasError, match="cannot run Sequential on an input of shape"):
        profile_model(hand_counted_net(), (1, 1, 6, 6))  # the batch is not part of the shape
    with pytest.raises(BnasError, match="positive"):
        profile_model(hand_counted_net(), (1, 0, 6))


def test_to_dict_is_plain_json_numbers_and_table_shows_layers_and_totals():
    cost = profile_model(hand_counted_net(), (1, 6, 6))
    data = json.loads(json.dumps(cost.to_dict()))
    assert set(data) == TO_DICT_KEYS
    assert data["bops"] == 5632 and data["ops"] == cost.ops
    table = format_table(cost)
    for text in ("4.generator.fc2", "binary", "4,608", "OPs = FLOPs + BOPs/64", "not counted"):
        assert text in table
    assert Cost(**{**data, "layers": cost.layers}) == cost


# -- architectures built by bnas.models, on the meta device ----------------------------------


def test_reactnet_a_imagenet_matches_the_reactnet_paper():
    """ReActNet paper, Table (ImageNet): BOPs 4.82e9, FLOPs 0.12e8, OPs 0.87e8."""
    cost = profile_architecture(Architecture.load(IMAGENET_STATIC))
    assert cost.bops == pytest.approx(4.82e9, rel=0.05)
    assert cost.flops == pytest.approx(1.2e7, rel=0.05)
    assert cost.ops == pytest.approx(0.87e8, rel=0.05)
    # The real-valued MACs are the stem (3×3 conv, stride 2 → 112×112×32) and the classifier.
    assert cost.flops == 112 * 112 * 32 * 27 + 1024 * 1000
    assert cost.generator_flops == cost.generator_params == 0
    real_layers = [layer.name for layer in cost.layers if layer.kind == "real" and layer.macs]
    assert real_layers == ["stem.0", "head"]


def reactnet_a_site_channels(preset: str) -> list[int]:
    """Input channels of every sign site of ReActNet-A (both sites of a block see C_in)."""
    layout = REACTNET_A_LAYOUTS[preset]
    ins = [layout["stem_channels"]] + [out for out, _ in layout["blocks"][:-1]]
    return [channels for channels in ins for _site in ("conv3x3", "conv1x1")]


def test_dysign_r16_everywhere_adds_only_generators_and_their_size():
    static = profile_architecture(Architecture.uniform("reactnet_a", "static", preset="full"))
    dynamic = profile_architecture(
        Architecture.uniform("reactnet_a", {"kind": "dynamic", "rd_ratio": 16}, preset="full")
    )
    channels = reactnet_a_site_channels("full")
    hidden = {c: max(c // 16, 8) for c in channels}  # min_hidden = 8
    assert dynamic.generator_params == sum(2 * c * hidden[c] + hidden[c] + c for c in channels)
    assert dynamic.generator_flops == sum(2 * c * hidden[c] for c in channels)
    assert dynamic.bops == static.bops and dynamic.params_binary == static.params_binary
    assert dynamic.flops == static.flops + dynamic.generator_flops
    assert dynamic.params_real == static.params_real + dynamic.generator_params
    # 2·ΣC²/r ≈ 0.7 M real parameters ≈ 2.7 MiB (docs/architecture.md, cost model).
    assert dynamic.generator_params == pytest.approx(0.7e6, rel=0.03)
    assert dynamic.generator_size_mib == pytest.approx(2.7, rel=0.03)


def test_tiny_mixed_architecture_counts_its_five_dynamic_sites():
    arch = Architecture.load(TINY_MIXED)
    cost = profile_architecture(arch)
    generators = {layer.name.split(".generator")[0] for layer in cost.layers
                  if layer.kind == "generator"}
    assert generators == {"blocks.1.conv1x1.sign", "blocks.2.conv3x3.sign",
                          "blocks.2.conv1x1.sign", "blocks.3.conv3x3.sign",
                          "blocks.3.conv1x1.sign"}
    assert cost.generator_flops > 0 and cost.bops > 0
    assert profile_architecture(arch, img_size=16).bops == 4 * cost.bops  # 4× the pixels


# -- the command line ------------------------------------------------------------------------


def bnas(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bnas", "profile", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_cli_json_prints_one_object_with_the_totals():
    done = bnas(str(TINY_MIXED), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data) == TO_DICT_KEYS
    assert data == profile_architecture(Architecture.load(TINY_MIXED)).to_dict()


def test_cli_quick_form_prints_the_table(capsys):
    args = ["--backbone", "reactnet_a", "--preset", "tiny", "--threshold", "dynamic",
            "--rd-ratio", "4", "--img-size", "32", "--num-classes", "10"]
    assert main(["profile", *args]) == 0
    out = capsys.readouterr().out
    assert "reactnet_a[D4 D4 D4 D4]" in out and "input 3×32×32" in out
    assert "blocks.3.conv1x1.sign.generator.fc2" in out and "OPs = FLOPs + BOPs/64" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no/such/arch.yaml"], "no/such/arch.yaml: no such architecture file"),
        (["--backbone", "resnet50"], "unknown backbone 'resnet50'; valid:"),
    ],
)
def test_cli_bad_input_is_exit_2_with_one_line_on_stderr(args, message):
    done = bnas(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("bnas: error: ")
    assert message in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{bad}", "--backbone", "reactnet_a"], "not both"),
        (["{bad}"], "bad.yaml:2 not valid YAML"),
        (["{bad}", "--preset", "tiny"], "--preset applies only with --backbone"),
        (["--backbone", "reactnet_a", "--preset", "huge"], "unknown value 'huge'; valid: tiny"),
        (["--backbone", "reactnet_a", "--threshold", "dyn"], "--threshold: unknown threshold"),
        (["--backbone", "reactnet_a", "--rd-ratio", "8"], "--rd-ratio applies only with"),
        (["--backbone", "reactnet_a", "--img-size", "0"], "--img-size must be a positive"),
        ([], "give an architecture"),
    ],
)
def test_cli_errors_name_the_problem(args, message, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("backbone: reactnet_a\nblocks: [static\n")
    assert main(["profile", *(arg.replace("{bad}", str(bad)) for arg in args)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and message in err


@pytest.mark.parametrize("backbone", ["reactnet_a", "react_resnet18", "binary_cct"])
def test_every_backbone_profiles_on_the_meta_device(backbone):
    static = profile_architecture(
        Architecture.uniform(backbone, "static", preset="tiny", num_classes=10), img_size=32
    )
    dynamic = profile_architecture(
        Architecture.uniform(backbone, "dynamic", preset="tiny", num_classes=10), img_size=32
    )
    assert static.bops == dynamic.bops > 0 and static.flops > 0
    assert static.generator_params == 0 < dynamic.generator_params
    assert dynamic.flops == static.flops + dynamic.generator_flops


# -- the cost record and budgets (bnas.costs) and the composed cost model ---------------------


def test_cost_keys_budgets_and_excess_are_declared_once_and_agree():
    from bnas.costs import CONSTRAINTS, COST_KEYS, excess
    from bnas.space.sections import Constraints

    cost = profile_model(hand_counted_net(), (1, 6, 6))
    # latency_ms is known only with a latency table: left out until then
    assert cost.latency_ms is None and set(COST_KEYS) == TO_DICT_KEYS | {"latency_ms"}
    assert tuple(cost.to_dict()) == tuple(key for key in COST_KEYS if key != "latency_ms")
    timed = replace(cost, latency_ms=0.25)
    assert tuple(timed.to_dict()) == COST_KEYS
    assert set(Constraints.model_fields) == set(CONSTRAINTS)  # the YAML keys of a space
    assert cost.params == 352 + 266
    limits = {name: getattr(timed, attribute) for name, attribute in CONSTRAINTS.items()}
    assert excess(timed, limits) == dict.fromkeys(CONSTRAINTS, 0.0)  # exactly on budget: met
    over = excess(timed, {"max_ops": cost.ops / 2, "max_params": 2 * cost.params,
                          "max_latency_ms": 0.2})
    assert over == {"max_ops": pytest.approx(1.0), "max_params": pytest.approx(-0.5),
                    "max_latency_ms": pytest.approx(0.25)}
    with pytest.raises(BnasError, match="max_latency_ms: the cost has no latency_ms"):
        excess(cost, {"max_latency_ms": 1.0})


def test_cost_record_needs_no_torch():
    code = ("import sys, bnas.costs, bnas.profile; "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "assert bnas.profile.Cost is bnas.costs.Cost")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("backbone", ["reactnet_a", "react_resnet18", "binary_cct"])
def test_composed_cost_equals_the_whole_network_measured_on_random_candidates(backbone):
    """static network + each dynamic site's generator = FlopCounterMode over the whole
    network: every key and every per-layer row, on 50 random candidates (the bench's: tiny
    presets with varied arguments, random generator settings and RPReLU kind)."""
    from cost_model import random_candidate

    rng = random.Random(f"composed-{backbone}")
    candidates: dict[str, Architecture] = {}
    while len(candidates) < 50:
        arch = random_candidate(backbone, rng)
        candidates[arch.arch_id] = arch
    assert sum(arch.num_dynamic_sites() for arch in candidates.values()) > 100
    for arch in candidates.values():
        measured = measure_architecture(arch)
        composed = profile_architecture(arch)
        assert composed.to_dict() == measured.to_dict(), arch.summary()
        assert composed.layers == measured.layers, arch.summary()
    # An explicit img_size reaches the backbone in both (CCT sizes its positions with it).
    assert profile_architecture(arch, img_size=24) == measure_architecture(arch, img_size=24)


def test_costing_a_candidate_leaves_the_random_state_alone():
    """A training run costs its network after seeding: measuring a new part must not draw."""
    arch = Architecture.uniform("reactnet_a", {"kind": "dynamic", "rd_ratio": 3, "act": "prelu"},
                                preset="tiny", num_classes=10, img_size=8, width=0.75)
    before = torch.get_rng_state()
    profile_architecture(arch)
    assert torch.equal(torch.get_rng_state(), before)


def test_composed_cost_keeps_the_measured_errors():
    cct = Architecture.uniform("binary_cct", "dynamic", preset="tiny", img_size=32)
    for profile in (profile_architecture, measure_architecture):
        with pytest.raises(BnasError, match="img_size must be a positive integer"):
            profile(cct, img_size=0)
        with pytest.raises(BnasError, match="args.width: -1.0 is not a positive number"):
            profile(Architecture.uniform("reactnet_a", preset="tiny", width=-1.0))


def test_a_search_space_costs_its_candidates_from_parts_measured_up_front():
    """After warm_cost_model (the search runs it while Ray starts), neither sampling nor a
    trial's training measures anything: they compose parts measured once."""
    import optuna

    from bnas.profile import CostParts, add_cost_parts, cost_parts
    from bnas.search.sampler import cost_cover, warm_cost_model
    from bnas.space import parse_space
    from bnas.train import TrainConfig, train

    text = (REPO / "search_spaces" / "demo_digits.yaml").read_text()
    text = text.replace("rd_ratio: [2, 4]", "rd_ratio: [2, 4]\n    act: [relu, prelu]")
    space = parse_space(text.replace("space:\n", "space:\n  rprelu: [static, dynamic]\n"),
                        "demo.yaml")
    assert len(cost_cover(space)) == 2 * 4  # per RPReLU kind, a block's distinct thresholds
    measured = cost_parts()
    shipped = CostParts(dict(measured.static_networks), dict(measured.dynamic_sites))
    measured.static_networks.clear()
    measured.dynamic_sites.clear()
    try:
        warm_cost_model(space)
        counts = (len(measured.static_networks), len(measured.dynamic_sites))
        assert counts[0] == 2 and counts[1] > 4
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        dynamic_sites = 0
        for _ in range(40):
            trial = study.ask()
            space.define_by_run(trial)
            arch = space.architecture(trial.params)
            dynamic_sites += arch.num_dynamic_sites()
            profile_architecture(arch)
        assert dynamic_sites > 40
        settings = {**space.train_settings(trial.params), "epochs": 1, "threads": 1}
        settings["data"] = {**settings["data"], "subset": 2}
        result = train(arch, TrainConfig.from_dict(settings), progress=False)
        assert result.cost == profile_architecture(arch).to_dict()
        assert (len(measured.static_networks), len(measured.dynamic_sites)) == counts
    finally:
        add_cost_parts(shipped)


def test_training_memory_counts_parameters_and_what_autograd_saves():
    """The estimate from meta tensors (forwards of 2 and 3 samples, extrapolated) equals what
    autograd really saves for a batch of 3, and scales with the batch; a network that pools
    its input to 1x1 is estimated too (a batch of 1 has one value per channel there, which
    BatchNorm refuses in training: bnas validate of a small ReActNet-A on digits raised)."""
    import torch

    from bnas.models import build_model
    from bnas.profile import training_memory

    arch = Architecture.uniform("reactnet_a", {"kind": "dynamic", "rd_ratio": 4}, preset="tiny",
                                num_classes=10, in_chans=1, img_size=8)
    estimate = training_memory(arch, batch_size=3)
    model = build_model(arch).train()
    assert estimate.parameters == sum(p.numel() for p in model.parameters())
    assert estimate.parameter_bytes == 16 * estimate.parameters  # weight, grad, Adam m and v
    parameters, seen, saved = {id(p) for p in model.parameters()}, set(), [0]

    def pack(tensor):
        if id(tensor) not in parameters | seen:
            seen.add(id(tensor))
            saved[0] += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(torch.randn(3, 1, 8, 8))
    assert estimate.total_bytes - estimate.parameter_bytes == saved[0]
    larger = training_memory(arch, batch_size=30)
    assert larger.total_bytes - estimate.total_bytes == 27 * estimate.activations_per_sample > 0
    pooled = Architecture.uniform("reactnet_a", "static", preset="small", num_classes=10,
                                  in_chans=1, img_size=8)
    assert training_memory(pooled, batch_size=64).activations_per_sample > 0
