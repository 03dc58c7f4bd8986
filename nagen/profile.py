"""Exact parameter and FLOP counts of a built network.

FLOPs follow the convention of NAS-Bench-201's counter (``xautodl.utils.flop_benchmark``), so
counts on NB201 networks equal the benchmark's published figures:

* convolution: ``k_h * k_w * C_in / groups * C_out`` per output position (one multiply-add
  counted once), plus ``C_out`` per position when the layer has a bias; 1-D and 3-D
  convolutions alike; a transposed convolution: ``prod(kernel) * C_in * C_out / groups`` per
  *input* position (each input value is scattered through the whole kernel);
* linear: ``in * out`` (+ ``out`` with a bias) per position (``in`` features of a
  ``1 x ... x in`` input: e.g. each token of a sequence);
* pooling, normalisation, activations, additions: free (NB201's published FLOPs leave
  pooling out; checked against its official records for cells 0, 11 and 284).

Counts are per single input sample (batch of 1). Parameters are all elements of
``module.parameters()`` (BatchNorm affine weights included, as NB201 counts them).
"""

from __future__ import annotations

from collections.abc import Sequence

import math
import numbers

import torch
from torch import nn

from nagen.errors import InvalidArgumentError, NagenError

__all__ = ["count_params", "count_flops", "count_cost"]


def _check_module(module: object) -> None:
    """Raise ``InvalidArgumentError`` unless ``module`` is a torch module."""
    if not isinstance(module, nn.Module):
        raise InvalidArgumentError(f"expected a torch.nn.Module, got {type(module).__name__}")


def count_params(module: nn.Module) -> int:
    """Number of parameter elements in ``module`` (shared parameters counted once)."""
    _check_module(module)
    if any(isinstance(p, nn.parameter.UninitializedParameter) for p in module.parameters()):
        raise InvalidArgumentError(
            f"{type(module).__name__} has uninitialised (lazy) parameters: run it once, or count_cost, before counting"
        )
    return sum(p.numel() for p in module.parameters())


def _check_shape(input_shape: object) -> tuple[int, ...]:
    """``input_shape`` as a tuple of positive ints, else ``InvalidArgumentError``."""
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, (Sequence, torch.Size)) and not hasattr(input_shape, "__len__"):
        raise InvalidArgumentError(f"input_shape is the shape of one sample, e.g. (3, 32, 32), got {input_shape!r}")
    dims = list(input_shape)  # type: ignore[call-overload]
    if not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0 for d in dims):
        raise InvalidArgumentError(f"input_shape must hold positive integers (no batch dimension), got {input_shape!r}")
    return tuple(int(d) for d in dims)


def count_flops(module: nn.Module, input_shape: Sequence[int]) -> int:
    """FLOPs (multiply-adds, see module docstring) of one forward pass on ``1 x input_shape``.

    Args:
        module: the network; it is run once in eval mode under ``torch.no_grad``, on zeros of
            its parameters' dtype.
        input_shape: shape of one sample without the batch dimension, e.g. ``(3, 32, 32)``.

    Raises:
        InvalidArgumentError: ``module`` is not a module, ``input_shape`` is not positive
            integers, or the module cannot run on a ``1 x input_shape`` input.
    """
    _check_module(module)
    shape = _check_shape(input_shape)
    total = [0]

    def conv_hook(m: nn.modules.conv._ConvNd, inp, out) -> None:
        positions = math.prod(out.shape[2:])
        total[0] += math.prod(m.kernel_size) * (m.in_channels // m.groups) * m.out_channels * positions
        if m.bias is not None:
            total[0] += m.out_channels * positions

    def conv_transpose_hook(m: nn.modules.conv._ConvTransposeNd, inp, out) -> None:
        total[0] += math.prod(m.kernel_size) * m.in_channels * (m.out_channels // m.groups) * math.prod(inp[0].shape[2:])
        if m.bias is not None:
            total[0] += m.out_channels * math.prod(out.shape[2:])

    def linear_hook(m: nn.Linear, inp, out) -> None:
        positions = out.numel() // max(m.out_features, 1)  # 1 for a 1 x in input; each token of a 1 x L x in one
        total[0] += (m.in_features * m.out_features + (m.out_features if m.bias is not None else 0)) * positions

    handles = []
    for m in module.modules():
        if isinstance(m, nn.modules.conv._ConvTransposeNd):
            handles.append(m.register_forward_hook(conv_transpose_hook))
        elif isinstance(m, nn.modules.conv._ConvNd):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    floats = [t.dtype for t in (*module.parameters(), *module.buffers()) if t.is_floating_point()]
    dtype = floats[0] if floats else torch.get_default_dtype()  # a float64 network needs a float64 input
    was_training = [(m, m.training) for m in module.modules()]
    try:
        module.eval()
        with torch.no_grad():
            try:
                module(torch.zeros(1, *shape, dtype=dtype))
            except NagenError:
                raise
            except (RuntimeError, TypeError, ValueError, IndexError) as e:
                raise InvalidArgumentError(
                    f"cannot run {type(module).__name__} on one input of shape {shape} (batch 1 added): {e}"
                ) from e
    finally:
        for h in handles:
            h.remove()
        for m, mode in was_training:  # each submodule's own mode (some may have been in eval on purpose)
            m.training = mode
    return int(total[0])


def count_cost(module: nn.Module, input_shape: Sequence[int]) -> dict[str, int]:
    """``{"params": ..., "flops": ...}`` of ``module`` for one ``input_shape`` sample."""
    flops = count_flops(module, input_shape)  # first: the forward pass materialises lazy parameters
    return {"params": count_params(module), "flops": flops}
