"""Tests of the Once-for-All MobileNetV3 space (``nagen.spaces.mbv3``).

Reference numbers (224 x 224, 1000 classes, ``nagen.profile`` convention = conv + linear
multiply-adds plus bias adds; "OFA MACs" = the same without bias adds, which is what OFA's own
``ofa.utils.flops_counter.profile`` counts):

=========================================  ==========  ===========  ===========
sub-network                                params      FLOPs        OFA MACs
=========================================  ==========  ===========  ===========
smallest (d=2, k=3, e=3 everywhere)         3,410,792  121,281,672  121,278,672
largest  (d=4, k=7, e=6 everywhere)         7,664,760  566,180,312  566,170,656
MobileNetV3-Large built from our blocks     5,481,752  216,595,840  216,589,760
=========================================  ==========  ===========  ===========

The first two are cross-checked against an independent closed-form count below. The last is
checked against published figures: torchvision's ``mobilenet_v3_large`` has 5,483,032 params,
whose only structural difference from OFA's ``MobileNetV3Large`` is a bias on the 960->1280
feature-mix layer (1,280 params); the MobileNetV3 paper / Keras table give 217M MACs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nagen.spaces as spaces
from nagen.errors import InvalidArchitectureError, NotEnumerableError, UnknownOpError
from nagen.graph import ArchGraph
from nagen.profile import count_cost
from nagen.spaces.base import SearchSpace
from nagen.spaces.mbv3 import (
    CHAIN_EDGES,
    MBV3_OPS,
    MBV3Space,
    MobileNetV3,
    make_divisible,
    mid_channels,
)

SPACE = spaces.get("mbv3")
SMALLEST = dict(ks=[3] * 20, e=[3] * 20, d=[2] * 5)
LARGEST = dict(ks=[7] * 20, e=[6] * 20, d=[4] * 5)


def depths(arch: ArchGraph) -> list[int]:
    return SPACE.to_config(arch)["d"]


# ---------------------------------------------------------------------- basics
def test_registered_and_shape_of_space():
    assert isinstance(SPACE, MBV3Space)
    assert "mbv3" in spaces.names()
    assert SPACE.max_nodes == 22 and SPACE.fixed_topology
    assert len(SPACE.ops) == 10 and SPACE.ops[-1] == "skip"
    assert SPACE.ops[:9] == tuple(f"mb_k{k}_e{e}" for k in (3, 5, 7) for e in (3, 4, 6))
    assert SPACE.vocab == ("input", *MBV3_OPS, "output")
    assert SPACE.default_input_shape == (3, 224, 224) and SPACE.default_num_classes == 1000


def test_size_formula_and_not_enumerable():
    assert SPACE.size == (9**2 + 9**3 + 9**4) ** 5 == 7371**5
    assert SPACE.size > 1e19  # OFA: "more than 10^19 sub-networks"
    with pytest.raises(NotEnumerableError):
        SPACE.enumerate()


# ---------------------------------------------------------------------- sampling
def test_sampling_valid_and_deterministic():
    a = SPACE.sample(300, rng=0)
    assert a == SPACE.sample(300, rng=0)
    assert a != SPACE.sample(300, rng=1)
    assert all(SPACE.is_valid(x) for x in a)
    assert all(x.edges == CHAIN_EDGES and x.num_nodes == 22 for x in a)
    # uniform depth per stage and uniform op per used slot: every value shows up
    assert {d for x in a for d in depths(x)} == {2, 3, 4}
    assert {op for x in a for op in x.ops[1:-1]} == set(MBV3_OPS)
    gen = np.random.default_rng(5)
    assert SPACE.sample(3, gen) != SPACE.sample(3, gen)  # a generator advances


def test_sampled_depths_are_roughly_uniform():
    d = np.array([depths(x) for x in SPACE.sample(3000, rng=2)]).ravel()
    freq = np.bincount(d, minlength=5)[2:] / d.size
    assert np.all(np.abs(freq - 1 / 3) < 0.03)


# ---------------------------------------------------------------------- configs
def test_config_round_trip():
    for arch in SPACE.sample(100, rng=3):
        cfg = SPACE.to_config(arch)
        assert len(cfg["ks"]) == len(cfg["e"]) == 20 and len(cfg["d"]) == 5
        assert SPACE.from_config(**cfg) == arch
        assert SPACE.from_config(cfg["ks"], cfg["e"], cfg["d"]) == arch


def test_to_config_fills_unused_slots_with_3_3_and_from_config_ignores_them():
    arch = SPACE.from_config(**SMALLEST)
    cfg = SPACE.to_config(arch)
    assert cfg == {"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5}
    # OFA's sample_active_subnet draws values for unused slots too; they must not matter
    ks = [7] * 20
    ks[2], ks[3] = 0, None  # junk in unused slots of stage 0
    arch2 = SPACE.from_config(ks, [6] * 20, [2, 4, 4, 4, 4])
    assert arch2.ops[1:5] == ("mb_k7_e6", "mb_k7_e6", "skip", "skip")
    assert SPACE.to_config(arch2)["ks"][:4] == [7, 7, 3, 3]


def test_from_config_matches_ofa_slot_layout():
    ks = [3, 5, 7, 3] + [5] * 16
    es = [6, 4, 3, 3] + [4] * 16
    arch = SPACE.from_config(ks, es, [3, 2, 2, 2, 4])
    assert arch.ops[1:5] == ("mb_k3_e6", "mb_k5_e4", "mb_k7_e3", "skip")
    assert arch.ops[5:9] == ("mb_k5_e4", "mb_k5_e4", "skip", "skip")
    assert arch.ops[17:21] == ("mb_k5_e4",) * 4


@pytest.mark.parametrize(
    "ks, es, ds, err, match",
    [
        ([3] * 19, [3] * 20, [2] * 5, InvalidArchitectureError, "20 kernel sizes"),
        ([3] * 20, [3] * 20, [2] * 4, InvalidArchitectureError, "5 depths"),
        ([3] * 20, [3] * 20, [2, 2, 5, 2, 2], InvalidArchitectureError, "stage 2: depth 5"),
        ([3] * 20, [3] * 20, [1, 2, 2, 2, 2], InvalidArchitectureError, "stage 0: depth 1"),
        ([9] + [3] * 19, [3] * 20, [2] * 5, UnknownOpError, "slot 0"),
        ([3] * 20, [3] * 5 + [5] + [3] * 14, [2] * 5, UnknownOpError, "slot 5"),
    ],
)
def test_from_config_rejects_bad_configs(ks, es, ds, err, match):
    with pytest.raises(err, match=match):
        SPACE.from_config(ks, es, ds)


# ---------------------------------------------------------------------- strings
def test_string_round_trip():
    for arch in SPACE.sample(100, rng=4):
        s = SPACE.format(arch)
        assert SPACE.parse(s) == arch
        assert SPACE.parse(arch.to_string()) == arch  # generic ArchGraph strings too
        assert SPACE.validate(s) == arch  # strings are accepted wherever archs are


def test_native_string_form():
    assert SPACE.format(SPACE.from_config(**SMALLEST)) == "|".join(["k3e3,k3e3"] * 5)
    assert SPACE.format(SPACE.from_config(**LARGEST)) == "|".join([",".join(["k7e6"] * 4)] * 5)
    text = "k3e4,k5e6|k7e3,k3e3,k5e4|k3e6,k3e6|k5e3,k7e4,k3e3,k3e3|k7e6,k7e6,k5e4"
    arch = SPACE.parse(text)
    assert depths(arch) == [2, 3, 2, 4, 3]
    assert arch.ops[1:5] == ("mb_k3_e4", "mb_k5_e6", "skip", "skip")
    assert SPACE.format(arch) == text
    assert SPACE.parse(" k3e4 , k5e6|k7e3,k3e3,k5e4|k3e6,k3e6|k5e3,k7e4,k3e3,k3e3|k7e6,k7e6,k5e4 ") == arch


@pytest.mark.parametrize(
    "text, err, match",
    [
        ("k3e3,k3e3|k3e3,k3e3", InvalidArchitectureError, "5 stages"),
        ("k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3", InvalidArchitectureError, "stage 0 .* 1 block"),
        ("k3e3,k3e3|k3e3,k3e3|k3e3,k3e3,k3e3,k3e3,k3e3|k3e3,k3e3|k3e3,k3e3", InvalidArchitectureError, "stage 2"),
        ("k3e3,k3e3||k3e3,k3e3|k3e3,k3e3|k3e3,k3e3", InvalidArchitectureError, "stage 1 .* 0 block"),
        ("k3e3,k3x3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3", InvalidArchitectureError, "malformed block 'k3x3'"),
        ("k3e3,k3e3|k3e3,k9e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3", UnknownOpError, "'k9e3'"),
        ("k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e5|k3e3,k3e3", UnknownOpError, "'k3e5'"),
        ("input;mb_k3_e3<0;output<1", InvalidArchitectureError, "chain of 22 nodes"),
    ],
)
def test_parse_errors(text, err, match):
    with pytest.raises(err, match=match):
        SPACE.parse(text)


def test_parse_rejects_non_strings():
    with pytest.raises(InvalidArchitectureError):
        SPACE.parse(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- tensors
def test_encode_decode_round_trip():
    archs = SPACE.sample(32, rng=6)
    X, A = SPACE.encode(archs)
    assert X.shape == (32, 22, 12) and A.shape == (32, 22, 22)
    assert torch.all(A.sum((1, 2)) == 21)
    assert SPACE.decode(X, A) == archs
    # soft / noisy one-hots decode by argmax
    noisy = X * 0.8 + 0.01 * torch.rand_like(X)
    assert SPACE.decode(noisy, A) == archs


def test_decode_reports_invalid_samples():
    arch = SPACE.from_config(**SMALLEST)
    X, A = SPACE.encode([arch])
    X[0, 4] = 0
    X[0, 4, SPACE.vocab.index("mb_k5_e4")] = 1  # stage 0: slot 3 used after a skipped slot 2
    (res,) = SPACE.try_decode(X, A)
    assert isinstance(res, InvalidArchitectureError) and "sample 0" in str(res) and "stage 0" in str(res)


# ---------------------------------------------------------------------- validity
def _with(arch: ArchGraph, node: int, op: str) -> ArchGraph:
    return arch.with_op(node, op)


@pytest.mark.parametrize("stage", range(5))
@pytest.mark.parametrize("block", [0, 1])
def test_skip_in_first_two_slots_is_invalid(stage, block):
    node = 1 + 4 * stage + block
    bad = _with(SPACE.from_config(**LARGEST), node, "skip")
    with pytest.raises(InvalidArchitectureError, match=rf"stage {stage}: block {block} \(node {node}\) is 'skip'.*first 2 slots"):
        SPACE.validate(bad)


def test_skip_followed_by_block_is_invalid():
    largest = SPACE.from_config(**LARGEST)
    bad = _with(largest, 3, "skip")  # stage 0, block 2 skipped but block 3 used
    with pytest.raises(InvalidArchitectureError, match=r"stage 0: block 2 \(node 3\) is 'skip' but block 3 \(node 4\)"):
        SPACE.validate(bad)
    smallest = SPACE.from_config(**SMALLEST)
    bad = _with(smallest, 20, "mb_k3_e3")  # stage 4: depth 2 then a block in slot 3
    with pytest.raises(InvalidArchitectureError, match=r"stage 4: block 2 \(node 19\) is 'skip' but block 3"):
        SPACE.validate(bad)
    assert SPACE.is_valid(_with(smallest, 19, "mb_k7_e6"))  # depth 3 is fine


def test_unknown_op_and_wrong_topology():
    arch = SPACE.from_config(**SMALLEST)
    with pytest.raises(UnknownOpError, match="mb_k9_e6"):
        SPACE.validate(_with(arch, 1, "mb_k9_e6"))
    with pytest.raises(UnknownOpError):
        SPACE.validate(_with(arch, 1, "conv3x3"))
    with pytest.raises(InvalidArchitectureError, match="chain edges"):
        SPACE.validate(arch.with_edge(0, 2))
    with pytest.raises(InvalidArchitectureError, match="chain edges"):
        SPACE.validate(arch.with_edge(5, 6, present=False))
    with pytest.raises(InvalidArchitectureError, match="at most 22 nodes"):
        SPACE.validate(ArchGraph(["input", *["mb_k3_e3"] * 21, "output"], [(i, i + 1) for i in range(22)]))
    with pytest.raises(InvalidArchitectureError, match="chain of 22 nodes"):
        SPACE.validate(ArchGraph(["input", "mb_k3_e3", "output"], [(0, 1), (1, 2)]))


# ---------------------------------------------------------------------- neighbours
def test_neighbours_one_edit_and_include_depth_changes():
    arch = SPACE.parse("k3e4,k5e6|k7e3,k3e3,k5e4|k3e6,k3e6,k5e4,k7e3|k5e3,k7e4|k7e6,k7e6,k5e4,k3e3")
    d = depths(arch)
    nbs = SPACE.neighbours(arch)
    assert len(nbs) == len(set(nbs))
    for nb in nbs:
        assert SPACE.is_valid(nb) and nb.edges == arch.edges
        assert sum(a != b for a, b in zip(arch.ops, nb.ops)) == 1
    # every used slot can take 8 other block ops; each stage can grow (9 ways) below depth 4
    # and shrink (1 way) above depth 2
    expected = 8 * sum(d) + sum(9 * (x < 4) + (x > 2) for x in d)
    assert len(nbs) == expected
    nd = [depths(nb) for nb in nbs]
    for s in range(5):
        if d[s] < 4:
            assert any(x[s] == d[s] + 1 for x in nd)
        if d[s] > 2:
            assert any(x[s] == d[s] - 1 for x in nd)


# ---------------------------------------------------------------------- networks
def test_build_forward_small_input():
    arch = SPACE.sample(1, rng=7)[0]
    net = SPACE.build(arch, num_classes=10)
    net.eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    assert isinstance(net, MobileNetV3)
    assert len(net.blocks) == 1 + sum(depths(arch))
    net1 = SPACE.build(arch, num_classes=5, in_channels=1, dropout=0.0)
    with torch.no_grad():
        assert net1.eval()(torch.randn(1, 1, 64, 64)).shape == (1, 5)


def test_built_network_structure_follows_ofa():
    arch = SPACE.from_config(**LARGEST)
    net = SPACE.build(arch)
    blocks = net.blocks
    # channel plan: the fixed first block, then 4 blocks of 24, 40, 80, 112, 160 channels
    assert [b.conv.out_channels for b in blocks] == [16] + [24] * 4 + [40] * 4 + [80] * 4 + [112] * 4 + [160] * 4
    strides = [b.conv.depth_conv.conv.stride[0] for b in blocks]
    assert strides == [1, 2, 1, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1]
    # residual exactly when stride 1 and in == out (the first block of stage 3 changes 80 -> 112)
    residual = [b.shortcut is not None for b in blocks]
    assert residual == [True, False, True, True, True, False, True, True, True, False, True, True, True,
                        False, True, True, True, False, True, True, True]
    # SE only in stages 1, 3, 4 (40, 112, 160 channels); h-swish from stage 2 on
    se = [hasattr(b.conv.depth_conv, "se") for b in blocks]
    assert se == [False] * 5 + [True] * 4 + [False] * 4 + [True] * 8
    acts = [type(b.conv.depth_conv.act).__name__ for b in blocks]
    assert acts == ["ReLU"] * 9 + ["Hardswish"] * 12
    assert blocks[0].conv.inverted_bottleneck is None  # expand ratio 1
    # mid channels: make_divisible(round(in * e), 8) computed from the block's *input* width
    assert [b.conv.mid_channels for b in blocks[1:6]] == [96, 144, 144, 144, 144]
    # state-dict keys as in OFA's MobileNetV3 sub-networks
    keys = set(net.state_dict())
    for k in [
        "first_conv.conv.weight", "first_conv.bn.running_var",
        "blocks.0.conv.depth_conv.conv.weight", "blocks.0.conv.point_linear.bn.weight",
        "blocks.1.conv.inverted_bottleneck.conv.weight",
        "blocks.5.conv.depth_conv.se.fc.reduce.weight", "blocks.5.conv.depth_conv.se.fc.expand.bias",
        "final_expand_layer.conv.weight", "final_expand_layer.bn.bias",
        "feature_mix_layer.conv.weight", "classifier.linear.weight", "classifier.linear.bias",
    ]:
        assert k in keys, k
    assert "feature_mix_layer.conv.bias" not in keys and "feature_mix_layer.bn.weight" not in keys


def test_make_divisible_like_ofa():
    assert make_divisible(18, 8) == 24  # 16 would lose more than 10%
    assert make_divisible(30, 8) == 32 and make_divisible(84, 8) == 88 and make_divisible(3, 8) == 8
    for c in (16, 24, 40, 80, 112):
        for e in (3, 4, 6):
            assert mid_channels(c, e) == c * e  # every mid width of the space is a multiple of 8


# ---------------------------------------------------------------------- exact cost
def _closed_form(cfg: dict[str, list[int]], num_classes: int = 1000, res: int = 224) -> tuple[int, int]:
    """Params and FLOPs (``nagen.profile`` convention) by hand, independent of the builder."""

    def mdiv(v: float) -> int:
        n = max(8, int(v + 4) // 8 * 8)
        return n + 8 if n < 0.9 * v else n

    def conv_out(h: int, s: int) -> int:
        return (h - 1) // s + 1

    params = flops = 0
    h = conv_out(res, 2)
    params += 3 * 16 * 9 + 2 * 16  # stem conv + BN
    flops += 3 * 16 * 9 * h * h
    params += 16 * 9 + 2 * 16 + 16 * 16 + 2 * 16  # first block: dw + BN, pw + BN
    flops += (16 * 9 + 16 * 16) * h * h
    c = 16
    for stage, (w, s0, se) in enumerate(zip([24, 40, 80, 112, 160], [2, 2, 2, 1, 2], [0, 1, 0, 1, 1])):
        for j in range(cfg["d"][stage]):
            k, e = cfg["ks"][4 * stage + j], cfg["e"][4 * stage + j]
            s = s0 if j == 0 else 1
            m = c * e
            ho = conv_out(h, s)
            params += c * m + 2 * m + m * k * k + 2 * m + m * w + 2 * w
            flops += c * m * h * h + k * k * m * ho * ho + m * w * ho * ho
            if se:
                r = mdiv(m // 4)
                params += m * r + r + r * m + m
                flops += m * r + r + r * m + m  # on a 1x1 map; bias adds included
            c, h = w, ho
    params += 160 * 960 + 2 * 960 + 960 * 1280 + 1280 * num_classes + num_classes
    flops += 160 * 960 * h * h + 960 * 1280 + 1280 * num_classes + num_classes
    return params, flops


def test_exact_cost_smallest_and_largest():
    smallest = SPACE.from_config(**SMALLEST)
    largest = SPACE.from_config(**LARGEST)
    assert SPACE.cost(smallest) == {"params": 3_410_792, "flops": 121_281_672}
    assert SPACE.cost(largest) == {"params": 7_664_760, "flops": 566_180_312}
    assert _closed_form(SMALLEST) == (3_410_792, 121_281_672)
    assert _closed_form(LARGEST) == (7_664_760, 566_180_312)
    for arch in (smallest, largest):  # the full build agrees with the fast path
        assert SearchSpace.cost(SPACE, arch) == SPACE.cost(arch)


def test_fast_cost_equals_full_build_on_random_archs():
    for arch in SPACE.sample(2, rng=8):
        fast = SPACE.cost(arch)
        assert fast == SearchSpace.cost(SPACE, arch)
        assert (fast["params"], fast["flops"]) == _closed_form(SPACE.to_config(arch))
    arch = SPACE.sample(1, rng=9)[0]
    for nc, shape in [(10, (3, 160, 160)), (100, (3, 97, 131))]:
        assert SPACE.cost(arch, nc, shape) == SearchSpace.cost(SPACE, arch, nc, shape)
    assert SPACE.cost(arch, dropout=0.5) == SPACE.cost(arch)
    one = SPACE.cost(arch, in_channels=1)  # falls back to a full build on 1 x 224 x 224
    assert one["params"] == SPACE.cost(arch)["params"] - 2 * 16 * 9


def test_cost_is_monotone_in_kernel_expand_and_depth():
    base = SPACE.cost(SPACE.from_config(**SMALLEST))
    for key, val in [("ks", 5), ("e", 4), ("d", 3)]:
        cfg = {k: list(v) for k, v in SMALLEST.items()}
        cfg[key][0] = val
        c = SPACE.cost(SPACE.from_config(**cfg))
        assert c["params"] > base["params"] and c["flops"] > base["flops"]


def test_single_block_hand_count():
    # stage 1, block 0: 24 -> 40 channels, stride 2, k5, e4 (mid 96), ReLU, SE (hidden 24)
    arch = SPACE.parse("k3e3,k3e3|k5e4,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3")
    block = SPACE.build(arch).blocks[3]
    assert block.conv.mid_channels == 96 and block.conv.depth_conv.se.fc.reduce.out_channels == 24
    params = (24 * 96 + 2 * 96) + (96 * 25 + 2 * 96) + (96 * 24 + 24 + 24 * 96 + 96) + (96 * 40 + 2 * 40)
    flops = 24 * 96 * 56 * 56 + 25 * 96 * 28 * 28 + (96 * 24 + 24 + 24 * 96 + 96) + 96 * 40 * 28 * 28
    assert count_cost(block, (24, 56, 56)) == {"params": params, "flops": flops}
    # the difference of two whole-network costs is exactly that block's difference
    other = SPACE.parse("k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3")
    small_block = SPACE.build(other).blocks[3]
    diff = {k: SPACE.cost(arch)[k] - SPACE.cost(other)[k] for k in ("params", "flops")}
    small = count_cost(small_block, (24, 56, 56))
    assert diff == {"params": params - small["params"], "flops": flops - small["flops"]}


def _ofa_macs(net: torch.nn.Module, shape: tuple[int, ...]) -> int:
    """OFA's ``flops_counter.profile`` convention: conv and linear multiply-adds, no bias adds."""
    total = [0]

    def conv(m, _, y):
        total[0] += m.in_channels * y.numel() * m.kernel_size[0] * m.kernel_size[1] // m.groups

    def linear(m, _, __):
        total[0] += m.in_features * m.out_features

    hooks = []
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            hooks.append(m.register_forward_hook(conv))
        elif isinstance(m, torch.nn.Linear):
            hooks.append(m.register_forward_hook(linear))
    with torch.no_grad():
        net.eval()(torch.zeros(1, *shape))
    for h in hooks:
        h.remove()
    return total[0]


def test_ofa_convention_macs_of_smallest_and_largest():
    assert _ofa_macs(SPACE.build(SPACE.from_config(**SMALLEST)), (3, 224, 224)) == 121_278_672
    assert _ofa_macs(SPACE.build(SPACE.from_config(**LARGEST)), (3, 224, 224)) == 566_170_656


def test_blocks_reproduce_published_mobilenet_v3_large():
    # OFA's MobileNetV3Large config: (in, out, k, stride, expand, act, se, mid)
    r, h = "relu", "h_swish"
    cfg = [
        (16, 16, 3, 1, 1, r, False, 16),
        (16, 24, 3, 2, 4, r, False, 64), (24, 24, 3, 1, 3, r, False, 72),
        (24, 40, 5, 2, 3, r, True, 72), (40, 40, 5, 1, 3, r, True, 120), (40, 40, 5, 1, 3, r, True, 120),
        (40, 80, 3, 2, 6, h, False, 240), (80, 80, 3, 1, 2.5, h, False, 200),
        (80, 80, 3, 1, 2.3, h, False, 184), (80, 80, 3, 1, 2.3, h, False, 184),
        (80, 112, 3, 1, 6, h, True, 480), (112, 112, 3, 1, 6, h, True, 672),
        (112, 160, 5, 2, 6, h, True, 672), (160, 160, 5, 1, 6, h, True, 960), (160, 160, 5, 1, 6, h, True, 960),
    ]
    net = MobileNetV3(cfg, 1000)
    cost = count_cost(net, (3, 224, 224))
    # torchvision mobilenet_v3_large: 5,483,032 params, with a biased 960->1280 layer (+1,280)
    assert cost["params"] == 5_483_032 - 1_280
    # MobileNetV3 paper / Keras applications table: 217M MACs (paper text: 219M)
    macs = _ofa_macs(net, (3, 224, 224))
    assert round(macs / 1e6) == 217
    assert cost["flops"] == 216_595_840
