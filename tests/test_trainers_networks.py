"""Proxy networks: the LayerAct ResNet layout, stage names, per-stage placement, torchvision models."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from actsearch.activations import ActivationSpec, PlacementPlan, PlacementRule
from actsearch.errors import ConfigError
from actsearch.trainers import NETWORKS, build_network, network_stages
from actsearch.trainers.networks.resnet import BasicBlock, OptionAShortcut


def _count(model):
    return sum(p.numel() for p in model.parameters())


def test_resnet_parameter_counts_match_the_paper():
    # He et al. 2016, table 6: 0.27M, 0.46M, 0.66M parameters.
    counts = {depth: _count(build_network(f"resnet{depth}", None, 10, 3)) for depth in (20, 32, 44)}
    assert counts[20] == 269_722
    assert 0.45e6 < counts[32] < 0.47e6 and 0.65e6 < counts[44] < 0.67e6


def test_resnet20_has_three_stages_of_three_post_activation_blocks():
    model = build_network("resnet20", None, 10, 3)
    names = {name for name, module in model.named_modules() if isinstance(module, nn.ReLU)}
    assert "stem.act" in names and "stage1.0.act1" in names and "stage3.2.act2" in names
    assert len(names) == 1 + 3 * 3 * 2
    assert network_stages("resnet20") == ["stem", "stage1", "stage2", "stage3"]
    block = model.stage2[0]
    assert isinstance(block, BasicBlock) and isinstance(block.shortcut, OptionAShortcut)
    assert all(isinstance(b.shortcut, nn.Identity) for b in (model.stage1[0], model.stage2[1]))


def test_activation_comes_after_the_residual_add():
    block = BasicBlock(4, 4, 1).eval()
    block.act2 = nn.Identity()
    x = torch.randn(2, 4, 5, 5)
    with torch.no_grad():
        without_act = block(x)
    assert (without_act < 0).any()  # the block output is the raw sum ...
    block.act2 = nn.ReLU()
    with torch.no_grad():
        assert torch.equal(block(x), without_act.clamp_min(0))  # ... and act2 is applied to it


def test_option_a_shortcut_subsamples_and_zero_pads_channels():
    shortcut = OptionAShortcut(16, 32, stride=2)
    x = torch.randn(2, 16, 8, 8)
    out = shortcut(x)
    assert out.shape == (2, 32, 4, 4)
    assert torch.equal(out[:, 8:24], x[:, :, ::2, ::2])
    assert not out[:, :8].any() and not out[:, 24:].any()
    assert not list(shortcut.parameters())


def test_width_multiplier_scales_channels():
    model = build_network("resnet20", None, 10, 3, width=2.0)
    assert model.stem.conv.out_channels == 32 and model.fc.in_features == 128
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_per_stage_plan_puts_different_families_in_different_stages():
    plan = PlacementPlan(default=ActivationSpec.parse("relu"), rules=(
        PlacementRule("stage2", ActivationSpec.parse("la_silu")),
        PlacementRule("stage3", ActivationSpec.parse("gelu")),
    ))
    model = build_network("resnet20", plan, 10, 3)
    relu, la_silu, gelu = (type(ActivationSpec.parse(f).build()) for f in ("relu", "la_silu", "gelu"))
    assert type(model.stem.act) is relu and type(model.stage1[2].act2) is relu
    assert all(type(m) is la_silu for b in model.stage2 for m in (b.act1, b.act2))
    assert all(type(m) is gelu for b in model.stage3 for m in (b.act1, b.act2))
    call_sites = [model.stage2[0].act1, model.stage2[0].act2]
    assert call_sites[0] is not call_sites[1]


def test_smallcnn_has_the_same_stage_names_and_handles_tiny_images():
    model = build_network("smallcnn", "silu", 10, 1)
    names = [name for name, module in model.named_modules() if type(module) is type(ActivationSpec.parse("silu")
                                                                                          .build())]
    assert names == ["stem.act", "stage1.0.act", "stage2.0.act", "stage3.0.act"]
    assert network_stages("smallcnn") == ["stem", "stage1", "stage2", "stage3"]
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    assert _count(model) < _count(build_network("resnet20", None, 10, 1))


def test_torchvision_models_are_adapted_to_channels_and_classes():
    model = build_network("tv:resnet18", "la_silu", num_classes=7, in_channels=1)
    assert model.conv1.in_channels == 1 and model.fc.out_features == 7
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 7)
    assert network_stages("tv:resnet18") == ["relu", "layer1", "layer2", "layer3", "layer4"]
    with pytest.raises(ConfigError, match="width"):
        build_network("tv:resnet18", None, 10, 3, width=2.0)


def test_unknown_network_lists_the_allowed_names():
    assert {"resnet20", "resnet32", "resnet44", "smallcnn"} <= set(NETWORKS)
    with pytest.raises(ConfigError, match="unknown network 'resnet2'.*allowed: resnet20.*tv:"):
        network_stages("resnet2")
