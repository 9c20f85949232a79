"""Architecture: plain data that validates itself against the backbone catalog."""

import json

import pytest
import yaml

from bnas.architecture import Architecture, Threshold
from bnas.errors import BnasError


def mixed() -> Architecture:
    return Architecture.from_dict(
        {
            "backbone": "reactnet_a",
            "args": {"preset": "tiny", "num_classes": 10},
            "blocks": [
                "static",
                {"conv1x1": {"kind": "dynamic", "rd_ratio": 8, "pool": "mean_std"}},
                "dynamic",
                {"conv3x3": {"kind": "dynamic", "rd_ratio": 4, "bound": "tanh"}},
            ],
        }
    )


def test_shorthands_expand_to_every_site_of_every_block():
    arch = mixed()
    assert arch.sites == ("conv3x3", "conv1x1")
    assert all(set(block) == set(arch.sites) for block in arch.blocks)
    assert arch.blocks[0]["conv1x1"] == Threshold()
    assert arch.blocks[1]["conv1x1"].rd_ratio == 8
    assert arch.num_dynamic_sites() == 4


def test_summary_marks_static_dynamic_and_mixed_blocks():
    assert mixed().summary() == "reactnet_a[S S/D8 D16 D4/S]"


def test_round_trip_through_dict_yaml_and_json_is_lossless():
    arch = mixed()
    data = arch.to_dict()
    assert yaml.safe_load(yaml.safe_dump(data)) == data
    assert Architecture.from_yaml(arch.to_yaml()) == arch
    assert Architecture.from_dict(json.loads(arch.to_json())) == arch
    assert Architecture.from_dict(data).to_dict() == data


def test_id_is_stable_and_distinguishes_architectures(tmp_path):
    arch = mixed()
    assert len(arch.arch_id) == 10
    assert Architecture.load(arch.save(tmp_path / "a.yaml")).arch_id == arch.arch_id
    static = Architecture.uniform("reactnet_a", "static", preset="tiny", num_classes=10)
    assert static.arch_id != arch.arch_id
    assert len({arch, static, mixed()}) == 2


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        # a typo'd "kind" used to leave a silently static threshold
        (["static", {"conv1x1": {"type": "dynamic", "rd_ratio": 4}}, "static", "static"],
         "arch.yaml: blocks[1].conv1x1.type: unknown key 'type'; valid: kind, rd_ratio, "
         "min_hidden, pool, act, bound"),
        (["static", {"kind": "static", "rd_ratio": 0, "pool": "nonsense"}, "static", "static"],
         "arch.yaml: blocks[1]: rd_ratio, pool set on a static threshold: generator settings "
         "need kind: dynamic"),
        ({"kind": "static", "bound": "tanh"},
         "arch.yaml: blocks: bound set on a static threshold"),
        (["static", {"conv3x3": {"rd_ratio": 8}}, "static", "static"],
         "arch.yaml: blocks[1].conv3x3: rd_ratio set on a static threshold"),
        (["static", {"kind": "dynamic", "rd_ratio": 4, "poool": "mean"}, "static", "static"],
         "arch.yaml: blocks[1].poool: unknown key 'poool'; valid: kind, rd_ratio"),
    ],
)
def test_thresholds_are_strict(blocks, expected):
    with pytest.raises(BnasError) as error:
        Architecture.from_dict({"backbone": "reactnet_a", "args": {"preset": "tiny"},
                                "blocks": blocks}, source="arch.yaml")
    assert str(error.value).startswith(expected)


def test_a_static_threshold_is_its_kind_alone():
    assert Threshold.model_validate({"kind": "static"}) == Threshold() == Threshold.model_validate(
        "static")
    assert Threshold().to_data() == "static"


def test_with_args_keeps_thresholds():
    arch = mixed().with_args(num_classes=100)
    assert arch.args["num_classes"] == 100
    assert arch.blocks == mixed().blocks


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"backbone": "resnet50", "blocks": "static"}, "valid: binary_cct, react_resnet18"),
        ({"backbone": "reactnet_a", "args": {"preset": "tiny"},
          "blocks": ["static", {"conv5": "dynamic"}, "static", "static"]},
         "unknown site 'conv5'; valid for reactnet_a: conv3x3, conv1x1"),
        ({"backbone": "reactnet_a", "args": {"preset": "tiny"},
          "blocks": {"kind": "dynamic", "rd_ratio": 0}},
         "rd_ratio: 0 is not a positive integer"),
        ({"backbone": "reactnet_a", "args": {"preset": "tiny"}, "blocks": "dynamc"},
         "unknown threshold 'dynamc'; valid: static, dynamic"),
        ({"backbone": "reactnet_a", "args": {"preset": "tiny"}, "blocks": ["static"] * 3},
         "has 4 blocks, got 3"),
        ({"backbone": "reactnet_a", "args": {"preset": "huge"}},
         "args.preset: unknown value 'huge'; valid: tiny, small, full"),
        ({"backbone": "reactnet_a", "args": {"widht": 2}},
         "args.widht: reactnet_a takes no 'widht'; valid: preset, width"),
        ({"backbone": "reactnet_a", "binarizer": "tanh"},
         "binarizer: unknown value 'tanh'; valid: approx_sign, ste"),
    ],
)
def test_bad_architectures_give_one_line_naming_the_valid_choices(data, expected):
    with pytest.raises(BnasError) as error:
        Architecture.from_dict(data, source="arch.yaml")
    message = str(error.value)
    assert expected in message
    assert message.startswith("arch.yaml: ")
    assert "\n" not in message


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "arch.yaml"
    path.write_text("backbone: reactnet_a\nblocks: [static,\n")
    with pytest.raises(BnasError, match=r"arch.yaml:\d+ not valid YAML"):
        Architecture.load(path)
