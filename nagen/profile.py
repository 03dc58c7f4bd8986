"""Exact parameter and FLOP counts of a built network.

FLOPs follow the convention of NAS-Bench-201's counter (``xautodl.utils.flop_benchmark``), so
counts on NB201 networks equal the benchmark's published figures:

* convolution: ``k_h * k_w * C_in / groups * C_out`` per output position (one multiply-add
  counted once), plus ``C_out`` per position when the layer has a bias;
* linear: ``in * out`` (+ ``out`` with a bias);
* pooling, normalisation, activations, additions: free (NB201's published FLOPs leave
  pooling out; checked against its official records for cells 0, 11 and 284).

Counts are per single input sample (batch of 1). Parameters are all elements of
``module.parameters()`` (BatchNorm affine weights included, as NB201 counts them).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["count_params", "count_flops", "count_cost"]


def count_params(module: nn.Module) -> int:
    """Number of parameter elements in ``module`` (shared parameters counted once)."""
    return sum(p.numel() for p in module.parameters())


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def count_flops(module: nn.Module, input_shape: Sequence[int]) -> int:
    """FLOPs (multiply-adds, see module docstring) of one forward pass on ``1 x input_shape``.

    Args:
        module: the network; it is run once in eval mode under ``torch.no_grad``.
        input_shape: shape of one sample without the batch dimension, e.g. ``(3, 32, 32)``.
    """
    total = [0]

    def conv_hook(m: nn.Conv2d, inp, out) -> None:
        kh, kw = _pair(m.kernel_size)
        positions = out.shape[2] * out.shape[3]
        total[0] += kh * kw * (m.in_channels // m.groups) * m.out_channels * positions
        if m.bias is not None:
            total[0] += m.out_channels * positions

    def linear_hook(m: nn.Linear, inp, out) -> None:
        total[0] += m.in_features * m.out_features + (m.out_features if m.bias is not None else 0)

    handles = []
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad():
            module(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    return int(total[0])


def count_cost(module: nn.Module, input_shape: Sequence[int]) -> dict[str, int]:
    """``{"params": ..., "flops": ...}`` of ``module`` for one ``input_shape`` sample."""
    return {"params": count_params(module), "flops": count_flops(module, input_shape)}
