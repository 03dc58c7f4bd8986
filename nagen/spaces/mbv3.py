"""Once-for-All MobileNetV3 (``ofa_mbv3_d234_e346_k357_w1.0``): 5 stages x 2-4 MBConv blocks.

Cai, Gan, Wang, Zhang & Han, "Once-for-All: Train One Network and Specialize it for Efficient
Deployment", ICLR 2020; reference code ``mit-han-lab/once-for-all``
(``ofa/imagenet_classification/elastic_nn/networks/ofa_mbv3.py``). Every sub-network of the
OFA MobileNetV3 super-network with width multiplier 1.0 is one architecture here:

* stem: 3x3 conv stride 2 to 16 channels + BN + h-swish;
* a fixed first block: MBConv 16->16, 3x3 depthwise, expand ratio 1, ReLU, no SE, residual;
* 5 stages of width ``24, 40, 80, 112, 160``, first-block stride ``2, 2, 2, 1, 2``, activation
  ``relu, relu, h_swish, h_swish, h_swish`` and squeeze-excitation ``no, yes, no, yes, yes``;
  each stage has depth 2, 3 or 4, each block a kernel size 3/5/7 and an expand ratio 3/4/6;
  a block is residual when its stride is 1 and its input width equals its output width;
* head: 1x1 conv 160->960 + BN + h-swish, global average pool, 1x1 "feature mix" conv
  960->1280 (no BN, no bias) + h-swish, dropout, linear classifier.

Graph encoding (as DiffusionNAG encodes OFA): a fixed chain of 22 nodes,
``input -> slot 0 -> ... -> slot 19 -> output``. Slot ``4 * s + j`` is block ``j`` (0-based) of
stage ``s``; its op is ``mb_k{3,5,7}_e{3,4,6}`` or ``skip`` when the stage is shallower than
``j + 1``. A stage of depth ``d`` uses its first ``d`` slots, so slots 0 and 1 of a stage are
never ``skip`` and a ``skip`` is only followed by ``skip`` within its stage. That gives
``(9**2 + 9**3 + 9**4) ** 5 = 7371 ** 5 ~ 2.2e19`` architectures, OFA's "more than 1e19".

The native string lists the active blocks of each stage, stages separated by ``|`` (the
depth is the number of blocks in a group)::

    k3e4,k5e6|k7e3,k3e3,k5e4|k3e6,k3e6|k5e3,k7e4,k3e3,k3e3|k7e6,k7e6,k5e4
"""

from __future__ import annotations

import numbers
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import nn

from nagen.errors import InvalidArchitectureError, InvalidArgumentError, UnknownOpError, check_int, choices_hint
from nagen.graph import INPUT, OUTPUT, ArchGraph
from nagen.spaces import register
from nagen.spaces.base import SearchSpace

__all__ = [
    "MBV3Space",
    "MBV3_OPS",
    "MobileNetV3",
    "MBConvLayer",
    "SEModule",
    "make_divisible",
    "KERNEL_SIZES",
    "EXPAND_RATIOS",
    "DEPTHS",
    "STAGE_WIDTHS",
]

#: kernel sizes, expand ratios and stage depths of the OFA space (OFA's ks/e/d lists)
KERNEL_SIZES = (3, 5, 7)
EXPAND_RATIOS = (3, 4, 6)
DEPTHS = (2, 3, 4)
NUM_STAGES = 5
SLOTS_PER_STAGE = 4
NUM_SLOTS = NUM_STAGES * SLOTS_PER_STAGE
#: OFA's ``base_stage_width`` at width multiplier 1.0
STEM_WIDTH = 16
STAGE_WIDTHS = (24, 40, 80, 112, 160)
STAGE_STRIDES = (2, 2, 2, 1, 2)
STAGE_ACTS = ("relu", "relu", "h_swish", "h_swish", "h_swish")
STAGE_SE = (False, True, False, True, True)
FINAL_EXPAND_WIDTH = 960
LAST_CHANNEL = 1280
#: OFA's ``MyNetwork.CHANNEL_DIVISIBLE``
CHANNEL_DIVISIBLE = 8
SE_REDUCTION = 4

SKIP = "skip"
#: the 9 block ops (kernel-major, then expand ratio) followed by ``skip``
MBV3_OPS: tuple[str, ...] = tuple(f"mb_k{k}_e{e}" for k in KERNEL_SIZES for e in EXPAND_RATIOS) + (SKIP,)
_OP_KE: dict[str, tuple[int, int]] = {f"mb_k{k}_e{e}": (k, e) for k in KERNEL_SIZES for e in EXPAND_RATIOS}
#: the fixed chain input -> 20 slots -> output
CHAIN_EDGES: tuple[tuple[int, int], ...] = tuple((i, i + 1) for i in range(NUM_SLOTS + 1))
#: the filler ``to_config`` reports for the kernel size / expand ratio of an unused slot
UNUSED_KS, UNUSED_E = 3, 3

_TOKEN = re.compile(r"^k(\d+)e(\d+)$", re.ASCII)  # ASCII: \d would also take e.g. Arabic-Indic digits


def make_divisible(v: float, divisor: int = CHANNEL_DIVISIBLE, min_val: int | None = None) -> int:
    """OFA's (and TF-slim MobileNet's) channel rounding: nearest multiple of ``divisor``, at
    least ``min_val`` (default ``divisor``) and never more than 10% below ``v``."""
    if min_val is None:
        min_val = divisor
    new_v = max(min_val, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:  # rounding down must not lose more than 10%
        new_v += divisor
    return int(new_v)


def mid_channels(in_channels: int, expand_ratio: int) -> int:
    """Hidden width of an OFA MBConv block: ``make_divisible(round(in * expand), 8)``
    (``DynamicMBConvLayer.active_middle_channel``)."""
    return make_divisible(round(in_channels * expand_ratio), CHANNEL_DIVISIBLE)


def _slot_stage(slot: int) -> tuple[int, int]:
    return divmod(slot, SLOTS_PER_STAGE)


def _slot_io(slot: int) -> tuple[int, int, int]:
    """(input width, output width, stride) of block slot ``slot`` (0..19).

    They depend on the slot only: the first block of a stage reads the previous stage's width
    and carries the stage's stride; unused slots sit at a stage's end, so skipping them never
    changes another block's input.
    """
    stage, j = _slot_stage(slot)
    c_in = (STEM_WIDTH if stage == 0 else STAGE_WIDTHS[stage - 1]) if j == 0 else STAGE_WIDTHS[stage]
    return c_in, STAGE_WIDTHS[stage], STAGE_STRIDES[stage] if j == 0 else 1


# ---------------------------------------------------------------------- network modules
# Module and attribute names follow OFA's ``ofa.utils.layers`` (first_conv, blocks.i.conv.
# inverted_bottleneck / depth_conv / point_linear, feature_mix_layer, classifier.linear, ...),
# so a state dict of an OFA sub-network (``get_active_subnet``) has the same keys.
def _activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "h_swish":  # x * relu6(x + 3) / 6, OFA's Hswish
        return nn.Hardswish()
    raise InvalidArgumentError(f"unknown activation {name!r}; expected 'relu' or 'h_swish'")


class SEModule(nn.Module):
    """OFA's squeeze-excitation: global mean -> 1x1 conv (bias) -> ReLU -> 1x1 conv (bias) ->
    h-sigmoid, multiplied into the input. Hidden width ``make_divisible(channels // 4, 8)``.

    Shapes: ``B x C x H x W -> B x C x H x W``.
    """

    def __init__(self, channels: int, reduction: int = SE_REDUCTION) -> None:
        super().__init__()
        self.channels = channels
        num_mid = make_divisible(channels // reduction, CHANNEL_DIVISIBLE)
        self.fc = nn.Sequential(
            OrderedDict(
                [
                    ("reduce", nn.Conv2d(channels, num_mid, 1, 1, 0, bias=True)),
                    ("relu", nn.ReLU(inplace=True)),
                    ("expand", nn.Conv2d(num_mid, channels, 1, 1, 0, bias=True)),
                    ("h_sigmoid", nn.Hardsigmoid()),  # relu6(x + 3) / 6, OFA's Hsigmoid
                ]
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean((2, 3), keepdim=True))


class MBConvLayer(nn.Module):
    """Inverted-residual body (OFA's ``MBConvLayer``): 1x1 expand conv + BN + act (absent when
    ``expand_ratio == 1``), ``k x k`` depthwise conv (stride, "same" padding) + BN + act
    (+ SE), 1x1 projection conv + BN. All convs are bias-free.

    Args:
        kernel_size: the depthwise conv's ``k``, odd (the space uses :data:`KERNEL_SIZES`), so
            padding ``k // 2`` keeps the size at stride 1.
        use_se: add a :class:`SEModule` after the depthwise conv's activation.
        mid: hidden width; defaults to ``round(in_channels * expand_ratio)`` like OFA (the
            space passes :func:`mid_channels`).

    Shapes: ``B x in_channels x H x W -> B x out_channels x ceil(H/stride) x ceil(W/stride)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        expand_ratio: float,
        act: str,
        use_se: bool,
        mid: int | None = None,
    ) -> None:
        super().__init__()
        mid = round(in_channels * expand_ratio) if mid is None else mid
        self.in_channels, self.out_channels, self.mid_channels = in_channels, out_channels, mid
        self.inverted_bottleneck: nn.Sequential | None = None
        if expand_ratio != 1:
            self.inverted_bottleneck = nn.Sequential(
                OrderedDict(
                    [
                        ("conv", nn.Conv2d(in_channels, mid, 1, 1, 0, bias=False)),
                        ("bn", nn.BatchNorm2d(mid)),
                        ("act", _activation(act)),
                    ]
                )
            )
        depth = [
            ("conv", nn.Conv2d(mid, mid, kernel_size, stride, kernel_size // 2, groups=mid, bias=False)),
            ("bn", nn.BatchNorm2d(mid)),
            ("act", _activation(act)),
        ]
        if use_se:
            depth.append(("se", SEModule(mid)))
        self.depth_conv = nn.Sequential(OrderedDict(depth))
        self.point_linear = nn.Sequential(
            OrderedDict([("conv", nn.Conv2d(mid, out_channels, 1, 1, 0, bias=False)), ("bn", nn.BatchNorm2d(out_channels))])
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inverted_bottleneck is not None:
            x = self.inverted_bottleneck(x)
        return self.point_linear(self.depth_conv(x))


class ResidualBlock(nn.Module):
    """``conv(x) + x`` when ``residual`` (stride 1, equal widths), else ``conv(x)``."""

    def __init__(self, conv: MBConvLayer, residual: bool) -> None:
        super().__init__()
        self.conv = conv
        self.shortcut = nn.Identity() if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return out + x if self.shortcut is not None else out


class _ConvBNAct(nn.Sequential):
    """Conv2d (no bias, "same" padding) [+ BN] + activation: OFA's ``ConvLayer``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, act: str, use_bn: bool = True) -> None:
        layers: list[tuple[str, nn.Module]] = [("conv", nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False))]
        if use_bn:
            layers.append(("bn", nn.BatchNorm2d(c_out)))
        layers.append(("act", _activation(act)))
        super().__init__(OrderedDict(layers))


class _Classifier(nn.Sequential):
    """Dropout + Linear: OFA's ``LinearLayer`` (parameters under ``classifier.linear``)."""

    def __init__(self, in_features: int, num_classes: int, dropout: float) -> None:
        layers: list[tuple[str, nn.Module]] = []
        if dropout > 0:
            layers.append(("dropout", nn.Dropout(dropout)))
        layers.append(("linear", nn.Linear(in_features, num_classes)))
        super().__init__(OrderedDict(layers))


class MobileNetV3(nn.Module):
    """OFA's MobileNetV3 macro network around a list of MBConv blocks.

    Args:
        blocks: ``(in, out, kernel, stride, expand_ratio, act, use_se, mid)`` per block, the
            fixed first block included; ``mid=None`` means ``round(in * expand_ratio)``.
        num_classes: classifier outputs.
        in_channels: image channels.
        dropout: dropout rate before the classifier (OFA's super-network uses 0.1).
        stem: stem width; ``final_expand``, ``last_channel``: head widths.

    Shapes: ``B x in_channels x H x W -> B x num_classes``.
    """

    def __init__(
        self,
        blocks: Sequence[tuple[int, int, int, int, float, str, bool, int | None]],
        num_classes: int,
        in_channels: int = 3,
        dropout: float = 0.1,
        stem: int = STEM_WIDTH,
        final_expand: int = FINAL_EXPAND_WIDTH,
        last_channel: int = LAST_CHANNEL,
    ) -> None:
        super().__init__()
        self.first_conv = _ConvBNAct(in_channels, stem, 3, 2, "h_swish")
        mods = []
        for c_in, c_out, k, s, e, act, se, mid in blocks:
            mods.append(ResidualBlock(MBConvLayer(c_in, c_out, k, s, e, act, se, mid), residual=s == 1 and c_in == c_out))
        self.blocks = nn.ModuleList(mods)
        width = blocks[-1][1] if blocks else stem
        self.final_expand_layer = _ConvBNAct(width, final_expand, 1, 1, "h_swish")
        self.feature_mix_layer = _ConvBNAct(final_expand, last_channel, 1, 1, "h_swish", use_bn=False)
        self.classifier = _Classifier(last_channel, num_classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first_conv(x)
        for block in self.blocks:
            x = block(x)
        x = self.final_expand_layer(x)
        x = x.mean((2, 3), keepdim=True)  # global average pooling
        x = self.feature_mix_layer(x)
        return self.classifier(x.flatten(1))


#: the fixed first block (16 -> 16, k3, expand 1, ReLU, no SE)
_FIRST_BLOCK = (STEM_WIDTH, STEM_WIDTH, 3, 1, 1, "relu", False, None)


def _slot_block_spec(slot: int, k: int, e: int) -> tuple[int, int, int, int, float, str, bool, int]:
    c_in, c_out, stride = _slot_io(slot)
    stage = slot // SLOTS_PER_STAGE
    return (c_in, c_out, k, stride, e, STAGE_ACTS[stage], STAGE_SE[stage], mid_channels(c_in, e))


# ---------------------------------------------------------------------- the space
@register("mbv3")
class MBV3Space(SearchSpace):
    """The OFA MobileNetV3 space (w1.0, d in {2,3,4}, e in {3,4,6}, k in {3,5,7}).

    Builder options: ``in_channels`` (3) and ``dropout`` (0.1, OFA's default; no effect on
    cost). ``build`` returns the stand-alone sub-network OFA's ``get_active_subnet`` makes.
    """

    name = "mbv3"
    ops = MBV3_OPS
    max_nodes = NUM_SLOTS + 2
    fixed_topology = True
    default_input_shape = (3, 224, 224)
    default_num_classes = 1000
    description = "Once-for-All MobileNetV3 (w1.0): 5 stages x depth 2-4, kernel 3/5/7, expand 3/4/6 (~2.2e19)"

    @property
    def size(self) -> int:
        """``(9**2 + 9**3 + 9**4) ** 5 = 7371 ** 5``."""
        per_block = len(KERNEL_SIZES) * len(EXPAND_RATIOS)
        return sum(per_block**d for d in DEPTHS) ** NUM_STAGES

    # ------------------------------------------------------------------ OFA configs
    def from_config(self, ks: Sequence[int], e: Sequence[int], d: Sequence[int]) -> ArchGraph:
        """The architecture of an OFA sub-network config (``sample_active_subnet``'s format).

        Args:
            ks: 20 kernel sizes, one per block slot (4 per stage); unused slots are ignored.
            e: 20 expand ratios, likewise.
            d: 5 stage depths in ``{2, 3, 4}``.

        ``space.from_config(**space.to_config(arch)) == arch``.
        """
        for label, seq in (("ks", ks), ("e", e), ("d", d)):
            if isinstance(seq, (str, bytes)) or not isinstance(seq, (Sequence, np.ndarray)):
                raise InvalidArchitectureError(
                    f"OFA MBv3 config entry {label!r} must be a list of integers, got {seq!r}"
                )
        ks, e, d = list(ks), list(e), list(d)
        if len(ks) != NUM_SLOTS or len(e) != NUM_SLOTS or len(d) != NUM_STAGES:
            raise InvalidArchitectureError(
                f"an OFA MBv3 config has {NUM_SLOTS} kernel sizes, {NUM_SLOTS} expand ratios and "
                f"{NUM_STAGES} depths; got {len(ks)}, {len(e)} and {len(d)}"
            )
        ops: list[str] = []
        for stage, depth in enumerate(d):
            if depth not in DEPTHS:
                raise InvalidArchitectureError(f"stage {stage}: depth {depth!r} is not one of {list(DEPTHS)}")
            for j in range(SLOTS_PER_STAGE):
                slot = stage * SLOTS_PER_STAGE + j
                if j >= depth:
                    ops.append(SKIP)
                    continue
                if ks[slot] not in KERNEL_SIZES or e[slot] not in EXPAND_RATIOS:
                    raise UnknownOpError(
                        f"slot {slot} (stage {stage}, block {j}): kernel size {ks[slot]!r} / expand ratio "
                        f"{e[slot]!r} not in {list(KERNEL_SIZES)} / {list(EXPAND_RATIOS)}"
                    )
                ops.append(f"mb_k{int(ks[slot])}_e{int(e[slot])}")
        return _chain(tuple(ops))

    def to_config(self, arch: ArchGraph | str) -> dict[str, list[int]]:
        """``{"ks": [20], "e": [20], "d": [5]}``, the dict OFA's ``sample_active_subnet``
        returns and ``set_active_subnet(**config)`` takes.

        OFA leaves the kernel size and expand ratio of a slot beyond its stage's depth
        undefined (it samples them but never runs the block); here they are always
        ``UNUSED_KS = 3`` and ``UNUSED_E = 3``, so every architecture has one config.
        """
        arch = self.validate(arch)
        ks, es, ds = [], [], []
        for stage in range(NUM_STAGES):
            depth = 0
            for j in range(SLOTS_PER_STAGE):
                op = arch.ops[1 + stage * SLOTS_PER_STAGE + j]
                k, e = _OP_KE.get(op, (UNUSED_KS, UNUSED_E))
                depth += op != SKIP
                ks.append(k)
                es.append(e)
            ds.append(depth)
        return {"ks": ks, "e": es, "d": ds}

    # ------------------------------------------------------------------ strings
    def format(self, arch: ArchGraph) -> str:
        """Active blocks per stage, ``k{K}e{E}`` comma-separated, stages joined by ``|``."""
        arch = self.validate(arch)
        groups = []
        for stage in range(NUM_STAGES):
            slots = arch.ops[1 + stage * SLOTS_PER_STAGE : 1 + (stage + 1) * SLOTS_PER_STAGE]
            groups.append(",".join("k{}e{}".format(*_OP_KE[op]) for op in slots if op != SKIP))
        return "|".join(groups)

    def parse(self, text: str) -> ArchGraph:
        """Parse the native string (see module docstring) or a generic ``ArchGraph`` string.

        Strings containing ``;`` or ``<`` or starting with ``input`` are read as generic
        ``ArchGraph`` strings; anything else must be the native form.
        """
        if not isinstance(text, str):
            raise InvalidArchitectureError(f"expected an architecture string, got {type(text).__name__}")
        t = text.strip()
        if ";" in t or "<" in t or t.startswith(INPUT):
            return super().parse(t)
        groups = t.split("|")
        if len(groups) != NUM_STAGES:
            raise InvalidArchitectureError(
                f"{text!r} is not an MBv3 string: expected {NUM_STAGES} stages separated by '|', "
                f"each 2-4 blocks like 'k3e4,k5e6', got {len(groups)} group(s)"
            )
        ops: list[str] = []
        for stage, group in enumerate(groups):
            tokens = [tok.strip() for tok in group.split(",")] if group.strip() else []
            if not (min(DEPTHS) <= len(tokens) <= max(DEPTHS)):
                raise InvalidArchitectureError(
                    f"stage {stage} of {text!r} has {len(tokens)} block(s); a stage has {min(DEPTHS)}-{max(DEPTHS)}"
                )
            for tok in tokens:
                m = _TOKEN.match(tok)
                if m is None:
                    raise InvalidArchitectureError(
                        f"malformed block {tok!r} in stage {stage} of {text!r}; expected 'k<kernel>e<expand>', e.g. 'k5e4'"
                    )
                op = f"mb_k{int(m.group(1))}_e{int(m.group(2))}"
                if op not in _OP_KE:
                    raise UnknownOpError(
                        f"block {tok!r} in stage {stage} of {text!r}: kernel size must be one of {list(KERNEL_SIZES)} "
                        f"and expand ratio one of {list(EXPAND_RATIOS)}"
                    )
                ops.append(op)
            ops.extend([SKIP] * (SLOTS_PER_STAGE - len(tokens)))
        return _chain(tuple(ops))

    # ------------------------------------------------------------------ protocol
    def _check(self, arch: ArchGraph) -> None:
        if arch.num_nodes != self.max_nodes:
            raise InvalidArchitectureError(
                f"an MBv3 architecture is a chain of {self.max_nodes} nodes (input, {NUM_SLOTS} block slots, "
                f"output); got {arch.num_nodes} nodes"
            )
        if arch.edges != CHAIN_EDGES:
            extra = sorted(set(arch.edges) - set(CHAIN_EDGES))
            missing = sorted(set(CHAIN_EDGES) - set(arch.edges))
            raise InvalidArchitectureError(
                f"an MBv3 architecture has the fixed chain edges (k, k+1), k = 0..{NUM_SLOTS}; "
                f"extra edges {extra[:5]}, missing edges {missing[:5]}"
            )
        for stage in range(NUM_STAGES):
            first = 1 + stage * SLOTS_PER_STAGE  # node of the stage's slot 0
            ops = arch.ops[first : first + SLOTS_PER_STAGE]
            for j in range(min(DEPTHS)):
                if ops[j] == SKIP:
                    raise InvalidArchitectureError(
                        f"stage {stage}: block {j} (node {first + j}) is 'skip', but a stage has at least "
                        f"{min(DEPTHS)} blocks, so its first {min(DEPTHS)} slots cannot be 'skip'"
                    )
            for j in range(min(DEPTHS), SLOTS_PER_STAGE - 1):
                if ops[j] == SKIP and ops[j + 1] != SKIP:
                    raise InvalidArchitectureError(
                        f"stage {stage}: block {j} (node {first + j}) is 'skip' but block {j + 1} "
                        f"(node {first + j + 1}) is {ops[j + 1]!r}; a stage of depth d uses its first d slots, "
                        f"so 'skip' may only be followed by 'skip'"
                    )

    def _sample_one(self, rng: np.random.Generator) -> ArchGraph:
        # OFA's sample_active_subnet: a kernel size and expand ratio for all 20 slots, then a
        # depth per stage, each uniform; slots beyond a stage's depth are dropped.
        ks = rng.choice(KERNEL_SIZES, size=NUM_SLOTS).tolist()
        es = rng.choice(EXPAND_RATIOS, size=NUM_SLOTS).tolist()
        ds = rng.choice(DEPTHS, size=NUM_STAGES).tolist()
        return self.from_config(ks, es, ds)

    def block_specs(self, arch: ArchGraph | str) -> list[tuple[int, int, int, int, float, str, bool, int | None]]:
        """``(in, out, kernel, stride, expand, act, se, mid)`` of every block of ``arch``, the
        fixed first block included (what :class:`MobileNetV3` takes)."""
        arch = self.validate(arch)
        specs: list[tuple[int, int, int, int, float, str, bool, int | None]] = [_FIRST_BLOCK]
        for slot, op in enumerate(arch.ops[1:-1]):
            if op != SKIP:
                specs.append(_slot_block_spec(slot, *_OP_KE[op]))
        return specs

    def _build(self, arch: ArchGraph, num_classes: int, in_channels: int = 3, dropout: float = 0.1) -> nn.Module:
        in_channels, dropout = _options(in_channels, dropout)
        return MobileNetV3(self.block_specs(arch), num_classes, in_channels=in_channels, dropout=dropout)

    # ------------------------------------------------------------------ cost
    def cost(
        self,
        arch: ArchGraph | str,
        num_classes: int | None = None,
        input_shape: Sequence[int] | None = None,
        **options: Any,
    ) -> dict[str, int]:
        """Exact params/FLOPs (see ``nagen.profile``); fast path for the standard network.

        A slot's input width, output width, stride and input resolution are fixed by its
        position (skipped slots sit at stage ends and change nothing downstream), so a
        network's cost is the cost of everything outside the 20 slots plus, per active slot,
        the cost of that slot's block. The block terms are counted once on real built blocks
        at the input shape a full network feeds them, and cached; the tests check the sum
        against full builds. ``dropout`` does not change the cost; ``in_channels`` falls back
        to a full build (on ``in_channels x 224 x 224`` unless ``input_shape`` is given).
        """
        opts = {k: v for k, v in options.items() if k != "dropout"}
        if opts:
            return super().cost(arch, num_classes, input_shape, **options)
        _options(dropout=options.get("dropout", 0.1))  # unused, but a bad value is still a mistake
        arch = self.validate(arch)
        nc = check_int(self.default_num_classes if num_classes is None else num_classes, "num_classes", 1)
        base, table = _cost_terms(nc, self._cost_shape(input_shape))
        total = base.copy()
        for slot, op in enumerate(arch.ops[1:-1]):
            if op != SKIP:
                total += table[slot, MBV3_OPS.index(op)]
        return {"params": int(total[0]), "flops": int(total[1])}


def _options(in_channels: object = 3, dropout: object = 0.1) -> tuple[int, float]:
    """Checked builder options ``(in_channels, dropout)``."""
    channels = check_int(in_channels, "build option in_channels", 1)
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout <= 1:
        raise InvalidArgumentError(f"build option dropout must be a number in [0, 1], got {dropout!r}")
    return channels, float(dropout)


def _chain(ops: tuple[str, ...]) -> ArchGraph:
    return ArchGraph((INPUT, *ops, OUTPUT), CHAIN_EDGES)


@lru_cache(maxsize=8)
def _cost_terms(num_classes: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(cost outside the slots ``[2]``, per (slot, op) block cost ``[20, 10, 2]``), int64."""
    # the blocks' initialisers draw from the global torch RNG; a cost lookup must not move it
    with torch.random.fork_rng(devices=[]):
        return _count_cost_terms(num_classes, shape)


def _count_cost_terms(num_classes: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_cost_terms`, counted on freshly built blocks."""
    from nagen.profile import count_cost

    # The deepest network (every slot used) shows the input shape each slot's block receives.
    ref_specs = [_FIRST_BLOCK] + [_slot_block_spec(s, 3, 3) for s in range(NUM_SLOTS)]
    net = MobileNetV3(ref_specs, num_classes)
    shapes: list[tuple[int, ...]] = []
    hooks = [b.register_forward_hook(lambda m, inp, out: shapes.append(tuple(inp[0].shape[1:]))) for b in net.blocks[1:]]
    try:
        ref = count_cost(net, shape)
    finally:
        for h in hooks:
            h.remove()

    table = np.zeros((NUM_SLOTS, len(MBV3_OPS), 2), dtype=np.int64)  # "skip" column stays 0
    for slot in range(NUM_SLOTS):
        for col, op in enumerate(MBV3_OPS[:-1]):
            c_in, c_out, k, s, e, act, se, mid = _slot_block_spec(slot, *_OP_KE[op])
            block = ResidualBlock(MBConvLayer(c_in, c_out, k, s, e, act, se, mid), residual=s == 1 and c_in == c_out)
            c = count_cost(block, shapes[slot])
            table[slot, col] = (c["params"], c["flops"])
    ref_ops = np.full(NUM_SLOTS, MBV3_OPS.index("mb_k3_e3"))
    base = np.array([ref["params"], ref["flops"]], dtype=np.int64) - table[np.arange(NUM_SLOTS), ref_ops].sum(0)
    return base, table
