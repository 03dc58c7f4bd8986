"""Network building blocks shared by the spaces' builders (plain ``torch.nn``)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from nagen.errors import check_int
from nagen.graph import ArchGraph

__all__ = ["ReLUConvBN", "ResNetBasicBlock", "Zero", "NodeOpCell", "OpFactory", "NB201_OPS", "GENERIC_OPS"]

#: ``(C_in, C_out, stride) -> module`` for one node op
OpFactory = Callable[[int, int, int], nn.Module]


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv2d (no bias) -> BatchNorm, NAS-Bench-201's ``ReLUConvBN``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out),
        )


class ConvBNReLU(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm -> ReLU, NAS-Bench-101's ``conv-bn-relu``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=False),
        )


class Zero(nn.Module):
    """The ``none`` op: outputs zeros of the right shape (no parameters, no FLOPs)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.c_out, self.stride = c_out, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        return x.new_zeros(b, self.c_out, (h + self.stride - 1) // self.stride, (w + self.stride - 1) // self.stride)


class Pool(nn.Module):
    """3x3 pooling (padding 1), preceded by a 1x1 ReLUConvBN when channels change."""

    def __init__(self, c_in: int, c_out: int, stride: int, mode: str) -> None:
        super().__init__()
        self.pre = None if c_in == c_out else ReLUConvBN(c_in, c_out, 1, 1, 0)
        self.pool = (
            nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
            if mode == "avg"
            else nn.MaxPool2d(3, stride=stride, padding=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x if self.pre is None else self.pre(x))


class FactorizedReduce(nn.Module):
    """Identity for a stride or channel change: two offset 1x1 convs concatenated, then BN."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        if stride == 2:
            half = c_out // 2
            self.convs = nn.ModuleList(
                [nn.Conv2d(c_in, half, 1, stride=2, bias=False), nn.Conv2d(c_in, c_out - half, 1, stride=2, bias=False)]
            )
            self.relu = nn.ReLU(inplace=False)
        else:
            self.convs = nn.ModuleList([nn.Conv2d(c_in, c_out, 1, bias=False)])
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 2:
            x = self.relu(x)
            y = torch.cat([self.convs[0](x), self.convs[1](nn.functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1)))], dim=1)
        else:
            y = self.convs[0](x)
        return self.bn(y)


def _skip(c_in: int, c_out: int, stride: int) -> nn.Module:
    return nn.Identity() if stride == 1 and c_in == c_out else FactorizedReduce(c_in, c_out, stride)


#: NAS-Bench-201's five candidate ops, as in ``xautodl.models.cell_operations.OPS``
NB201_OPS: dict[str, OpFactory] = {
    "none": Zero,
    "skip_connect": _skip,
    "nor_conv_1x1": lambda ci, co, s: ReLUConvBN(ci, co, 1, s, 0),
    "nor_conv_3x3": lambda ci, co, s: ReLUConvBN(ci, co, 3, s, 1),
    "avg_pool_3x3": lambda ci, co, s: Pool(ci, co, s, "avg"),
}

#: ops a user-defined space may name without writing code
GENERIC_OPS: dict[str, OpFactory] = {
    **NB201_OPS,
    "zero": Zero,
    "identity": _skip,
    "skip": _skip,
    "conv1x1": lambda ci, co, s: ReLUConvBN(ci, co, 1, s, 0),
    "conv3x3": lambda ci, co, s: ReLUConvBN(ci, co, 3, s, 1),
    "conv5x5": lambda ci, co, s: ReLUConvBN(ci, co, 5, s, 2),
    "conv1x1-bn-relu": lambda ci, co, s: ConvBNReLU(ci, co, 1, s),
    "conv3x3-bn-relu": lambda ci, co, s: ConvBNReLU(ci, co, 3, s),
    "avgpool3x3": lambda ci, co, s: Pool(ci, co, s, "avg"),
    "maxpool3x3": lambda ci, co, s: Pool(ci, co, s, "max"),
    "max_pool_3x3": lambda ci, co, s: Pool(ci, co, s, "max"),
}


class NodeOpCell(nn.Module):
    """A cell that runs an ops-on-nodes DAG: each node applies its op to the sum of its inputs.

    The input node passes the cell input through; the output node is the sum of its
    predecessors. Every node's op runs, even one whose result is later discarded, so that
    parameters and FLOPs are those of the full cell (as NAS-Bench-201 counts them).

    Args:
        arch: the cell DAG.
        c: channels (kept constant inside the cell).
        factories: op name -> ``(C_in, C_out, stride) -> module``.
    """

    def __init__(self, arch: ArchGraph, c: int, factories: dict[str, OpFactory]) -> None:
        super().__init__()
        self.ops_names = arch.ops
        self.preds = [arch.predecessors(j) for j in range(arch.num_nodes)]
        self.layers = nn.ModuleList(
            [nn.Identity() if k in (0, arch.num_nodes - 1) else factories[op](c, c, 1) for k, op in enumerate(arch.ops)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: list[torch.Tensor | None] = [x]
        for j in range(1, len(self.layers)):
            inputs = [values[i] for i in self.preds[j] if values[i] is not None]
            if not inputs:  # no signal reaches this node: it is zero
                values.append(None)
                continue
            s = inputs[0] if len(inputs) == 1 else torch.stack(inputs).sum(0)
            values.append(self.layers[j](s))
        out = values[-1]
        return torch.zeros_like(x) if out is None else out


class ResNetBasicBlock(nn.Module):
    """NAS-Bench-201's residual reduction block (stride 2: 3x3 convs + avgpool/1x1 shortcut)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        if stride == 2:
            self.downsample: nn.Module | None = nn.Sequential(
                nn.AvgPool2d(kernel_size=2, stride=2, padding=0), nn.Conv2d(c_in, c_out, 1, bias=False)
            )
        elif c_in != c_out:
            self.downsample = ReLUConvBN(c_in, c_out, 1, 1, 0)
        else:
            self.downsample = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return residual + self.conv_b(self.conv_a(x))


class CellNetwork(nn.Module):
    """NAS-Bench-201's macro skeleton: stem, three stages of ``n_cells`` cells separated by
    residual reduction blocks (channels C, 2C, 4C), then BN-ReLU, global pooling and a classifier.

    Input height and width must be multiples of 4: a reduction block's strided conv and its
    2x2 average-pool shortcut disagree on odd sizes (``SearchSpace.cost`` checks this).

    Args:
        cell: ``channels -> cell module`` builder.
        c: stem channels ``C``.
        n_cells: cells per stage ``N``.
        num_classes: classifier outputs.
        in_channels: input image channels.
    """

    def __init__(
        self, cell: Callable[[int], nn.Module], c: int, n_cells: int, num_classes: int, in_channels: int = 3
    ) -> None:
        super().__init__()
        # checked here, once for every space built on this skeleton: torch would only fail at forward
        for key, value in (("C", c), ("N", n_cells), ("num_classes", num_classes), ("in_channels", in_channels)):
            check_int(value, f"build option {key}", 1)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        layers: list[nn.Module] = []
        c_prev = c
        for stage, width in enumerate((c, 2 * c, 4 * c)):
            if stage > 0:
                layers.append(ResNetBasicBlock(c_prev, width, 2))
            layers.extend(cell(width) for _ in range(n_cells))
            c_prev = width
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lastact(self.cells(self.stem(x)))
        return self.classifier(self.global_pooling(x).flatten(1))
