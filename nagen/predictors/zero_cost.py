"""Zero-cost proxies: training-free scores of a network at initialisation, and a predictor on them.

Each proxy is a plain function of a built ``torch.nn.Module`` (and, for the data-dependent ones,
one small batch ``x: batch x C x H x W``, ``y: batch`` integer labels). None of them mutates the
network it is given: each works on a deep copy.

=============  ==============  =========  ================================================
proxy          needs data      better     reference
=============  ==============  =========  ================================================
``synflow``    no              higher     Tanaka et al., NeurIPS 2020 (SynFlow)
``params``     no              higher     parameter count (Abdelfattah et al., ICLR 2021)
``flops``      no              higher     multiply-adds (Abdelfattah et al., ICLR 2021)
``grad_norm``  yes             higher     Abdelfattah et al., ICLR 2021
``snip``       yes             higher     Lee et al., ICLR 2019 (SNIP); Abdelfattah et al.
``jacov``      yes             higher     Mellor et al. 2020 v1 (``jacob_cov`` of Abdelfattah et al.)
``naswot``     yes             higher     Mellor et al., ICML 2021 (NASWOT)
``ntk_cond``   yes             lower      Chen et al., ICLR 2021 (TE-NAS)
=============  ==============  =========  ================================================

Every proxy runs the network in training mode (batch norm on batch statistics) but with its
dropout layers in eval mode, so a score does not depend on dropout noise.

"better" is the direction that goes with higher trained accuracy in the papers;
:data:`DIRECTION` holds it as ``+1``/``-1`` and :class:`ZeroCostPredictor` multiplies by it.

:class:`ZeroCostPredictor` (registered as ``"zero_cost"``) ranks architectures by one proxy or
by a linear combination of standardised proxies whose weights are found by Bayesian
optimisation of Kendall's tau on the labelled architectures, as RoBoT does (He et al.,
"Robustifying and Boosting Training-Free Neural Architecture Search", ICLR 2024). For NB201 the
data-free ``synflow`` of all 15,625 cells ships as ``nagen/data/nb201_zero_cost.csv.gz`` (built
by ``scripts/make_nb201_zero_cost.py``), so ranking the whole space costs no network builds.
"""

from __future__ import annotations

import copy
import gzip
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import torch
from torch import nn

from nagen.errors import (
    InvalidArgumentError,
    InvalidTableError,
    InvalidTrainingDataError,
    NagenError,
    UnknownProxyError,
    check_int,
    choices_hint,
)
from nagen.graph import ArchGraph
from nagen.predictors import register
from nagen.predictors.base import Prediction, Predictor
from nagen.profile import count_flops, count_params
from nagen.spaces.base import SearchSpace

__all__ = [
    "DATA_FREE",
    "DATA_DEPENDENT",
    "DIRECTION",
    "NB201_TABLE",
    "NB201_TABLE_SEED",
    "UnknownProxyError",
    "ZeroCostPredictor",
    "compute_proxies",
    "flops",
    "grad_norm",
    "jacov",
    "naswot",
    "ntk_cond",
    "params",
    "snip",
    "synflow",
]

#: proxies computed from the network alone
DATA_FREE: tuple[str, ...] = ("synflow", "params", "flops")
#: proxies that need a batch ``(x, y)`` of the user's data
DATA_DEPENDENT: tuple[str, ...] = ("grad_norm", "snip", "jacov", "naswot", "ntk_cond")
#: +1 when a larger value goes with higher trained accuracy, -1 when a smaller one does
DIRECTION: dict[str, int] = {
    "synflow": 1,
    "params": 1,
    "flops": 1,
    "grad_norm": 1,
    "snip": 1,
    "jacov": 1,
    "naswot": 1,
    "ntk_cond": -1,
}
#: package-data file with the NB201 data-free proxies (columns ``index``, ``synflow``)
NB201_TABLE = "nb201_zero_cost.csv.gz"
#: torch seed the NB201 table's networks were initialised with
NB201_TABLE_SEED = 0
_NB201_DEFAULTS = {"C": 16, "N": 5, "in_channels": 3}

# log of the smallest normal float64: the value a proxy takes when its log argument is exactly 0
_LOG_FLOOR = math.log(np.finfo(np.float64).tiny)


# ---------------------------------------------------------------------- helpers
def _weight_layers(net: nn.Module) -> list[nn.Module]:
    """Conv and linear layers: the "prunable" layers the reference implementation scores."""
    return [m for m in net.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))]


def _without_batchnorm(net: nn.Module) -> nn.Module:
    """``net`` (modified in place, pass a copy) with every batch-norm layer replaced by identity."""
    for module in list(net.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(module, name, nn.Identity())
    return net


def _train_mode(net: nn.Module) -> nn.Module:
    """``net`` in training mode (batch norm on batch statistics, as the proxies' references use)
    with its dropout layers in eval mode: dropout would make a score at initialisation depend on
    the global RNG and carries no information about the architecture."""
    net.train()
    for m in net.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.eval()
    return net


def _check_batch(x: Any, y: Any | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    if not isinstance(x, torch.Tensor):
        raise InvalidTrainingDataError(f"x must be a torch tensor (batch x channels x ...), got {type(x).__name__}")
    if x.dim() < 2 or x.shape[0] < 2:
        raise InvalidTrainingDataError(f"x must be a batch of at least 2 samples, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise InvalidTrainingDataError("x must be finite (found NaN or inf)")
    if y is None:
        return x.float(), None
    if not isinstance(y, torch.Tensor) or y.shape != (x.shape[0],) or y.is_floating_point():
        raise InvalidTrainingDataError(
            f"y must be an integer tensor of {x.shape[0]} class labels, got "
            f"{type(y).__name__} {tuple(getattr(y, 'shape', ()))}"
        )
    return x.float(), y.long()


# ---------------------------------------------------------------------- proxies
# Each public proxy works on a deep copy; its ``_name`` body mutates the network it gets and is
# what compute_proxies calls on networks it built itself.
def synflow(net: nn.Module, input_shape: Sequence[int]) -> float:
    """Log synaptic flow (Tanaka et al., "Pruning neural networks without any data by
    iteratively conserving synaptic flow", NeurIPS 2020), data-free.

    With every parameter replaced by its absolute value, batch norm removed and the network
    in float64, ``R = 1^T f(1)`` is the output summed on an all-ones input, and

        S = sum over conv/linear weights theta of |theta * dR/dtheta|.

    This is ``synflow`` of Abdelfattah et al. ("Zero-Cost Proxies for Lightweight NAS", ICLR
    2021), whose reference implementation also builds the network without batch norm. ``S`` of
    an NB201 CIFAR-10 network spans ~1e6..1e50, so the function returns ``log S``; a network with no
    path from input to output has ``S = 0`` and gets ``log`` of the smallest normal float64
    (about -708.4), which stays finite and ranks below every connected network.

    Args:
        net: the network at initialisation (not modified).
        input_shape: one sample's shape without the batch dimension, e.g. ``(3, 32, 32)``.
    """
    return _synflow(copy.deepcopy(net), input_shape)


def _synflow(net: nn.Module, input_shape: Sequence[int]) -> float:
    net = _train_mode(_without_batchnorm(net).double())
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    x = torch.ones((1, *(int(s) for s in input_shape)), dtype=torch.float64)
    with torch.enable_grad():
        net(x).sum().backward()
    with torch.no_grad():
        total = sum(
            float((m.weight * m.weight.grad).abs().sum()) for m in _weight_layers(net) if m.weight.grad is not None
        )
    return math.log(total) if total > 0 else _LOG_FLOOR


def grad_norm(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Sum over conv/linear layers of the L2 norm of the loss gradient (Abdelfattah et al., ICLR 2021).

        grad_norm = sum_l || dL/dW_l ||_2,   L = cross-entropy of ``net(x)`` and ``y``,

    with batch norm in training mode (batch statistics), as in the reference implementation.

    Shapes:
        x: ``batch x C x H x W``; y: ``batch`` integer labels.
    """
    return _grad_norm(copy.deepcopy(net), *_check_batch(x, y))


def _grad_norm(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    _train_mode(net).zero_grad(set_to_none=True)
    with torch.enable_grad():
        nn.functional.cross_entropy(net(x), y).backward()
    return float(sum(float(m.weight.grad.norm()) for m in _weight_layers(net) if m.weight.grad is not None))


def snip(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Connection sensitivity (Lee et al., "SNIP", ICLR 2019) summed over conv/linear weights:

        snip = sum_theta | theta * dL/dtheta |,   L = cross-entropy of ``net(x)`` and ``y``,

    the network-level score of Abdelfattah et al. (ICLR 2021); batch norm in training mode.

    Shapes:
        x: ``batch x C x H x W``; y: ``batch`` integer labels.
    """
    return _snip(copy.deepcopy(net), *_check_batch(x, y))


def _snip(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    _train_mode(net).zero_grad(set_to_none=True)
    with torch.enable_grad():
        nn.functional.cross_entropy(net(x), y).backward()
    with torch.no_grad():
        return float(
            sum(float((m.weight * m.weight.grad).abs().sum()) for m in _weight_layers(net) if m.weight.grad is not None)
        )


def jacov(net: nn.Module, x: torch.Tensor) -> float:
    """Jacobian covariance score, ``jacob_cov`` of Abdelfattah et al. (ICLR 2021), from Mellor et
    al., "Neural Architecture Search without Training" (arXiv v1, 2020).

    With ``J`` the ``batch x (C*H*W)`` matrix of input gradients of the summed outputs, ``Sigma``
    the correlation matrix of its rows and ``lambda_i`` its eigenvalues (``k = 1e-5``):

        jacov = - sum_i [ log(lambda_i + k) + 1 / (lambda_i + k) ].

    Higher means less correlated local linear maps across inputs. When a row of ``J`` is
    constant (e.g. zero: no path from input to output) the correlation is undefined; the score
    is then that of a rank-one ``Sigma`` (all inputs perfectly correlated), the lowest value the
    formula reaches, so it stays finite and ranks such networks last. (For the NASWOT log-det
    of the ReLU-code kernel, the later version of the same paper, see :func:`naswot`.)

    Shapes:
        x: ``batch x C x H x W`` (``batch >= 2``).
    """
    return _jacov(copy.deepcopy(net), _check_batch(x)[0])


def _jacov(net: nn.Module, x: torch.Tensor) -> float:
    n, k = x.shape[0], 1e-5
    _train_mode(net)
    xr = x.clone().requires_grad_(True)
    with torch.enable_grad():
        out = net(xr)
        out.backward(torch.ones_like(out))
    jac = np.zeros((n, xr[0].numel())) if xr.grad is None else xr.grad.reshape(n, -1).double().numpy()
    if np.any(jac.std(axis=1) == 0):
        eig = np.array([float(n)] + [0.0] * (n - 1))
    else:
        eig = np.clip(np.linalg.eigvalsh(np.corrcoef(jac)), 0.0, None)  # clip tiny negative round-off
    return float(-np.sum(np.log(eig + k) + 1.0 / (eig + k)))


def naswot(net: nn.Module, x: torch.Tensor) -> float:
    """NASWOT score (Mellor et al., "Neural Architecture Search without Training", ICML 2021).

    Each input gets the binary code ``c`` of which ReLU units (every ``nn.ReLU`` module) are
    active; with ``N_A`` the number of units and ``d_H`` the Hamming distance,

        K_H[i, j] = N_A - d_H(c_i, c_j),   naswot = log |det K_H|.

    ``K_H`` has integer entries and is positive semi-definite, so its determinant is a
    non-negative integer; a singular kernel (two inputs with equal codes, or no ReLU at all) is
    floored at determinant 1/2, keeping the score finite and below every non-singular kernel.

    Shapes:
        x: ``batch x C x H x W`` (``batch >= 2``).
    """
    return _naswot(copy.deepcopy(net), _check_batch(x)[0])


def _naswot(net: nn.Module, x: torch.Tensor) -> float:
    n = x.shape[0]
    _train_mode(net)
    kernel = torch.zeros(n, n, dtype=torch.float64)

    def hook(module: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        c = (inp[0].detach().reshape(n, -1) > 0).double()
        # agreements: units active in both plus units inactive in both = N_A - Hamming distance
        kernel.add_(c @ c.T + (1 - c) @ (1 - c).T)

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    sign, logdet = np.linalg.slogdet(kernel.numpy())
    floor = math.log(0.5)
    return float(logdet) if sign > 0 and np.isfinite(logdet) and logdet > floor else floor


def ntk_cond(net: nn.Module, x: torch.Tensor) -> float:
    """Log condition number of the empirical neural tangent kernel (Chen, Gong & Wang,
    "Neural Architecture Search on ImageNet in Four GPU Hours", TE-NAS, ICLR 2021).

    With ``g_i`` the gradient of sample ``i``'s summed logits with respect to every ``*weight``
    parameter (as TE-NAS does; batch norm in training mode),

        Theta[i, j] = <g_i, g_j>,   ntk_cond = log(lambda_max(Theta) / lambda_min(Theta)).

    *Lower* is better (a well-conditioned NTK trains faster). ``lambda_min`` is clamped to
    ``lambda_max * eps64`` so the value is at most ``log(1/eps64) ~ 36.04``, which is also the
    value of an all-zero kernel (no path from input to output).

    Shapes:
        x: ``batch x C x H x W`` (``batch >= 2``).
    """
    return _ntk_cond(copy.deepcopy(net), _check_batch(x)[0])


def _ntk_cond(net: nn.Module, x: torch.Tensor) -> float:
    _train_mode(net)
    weights = [p for name, p in net.named_parameters() if name.endswith("weight") and p.requires_grad]
    rows = []
    with torch.enable_grad():
        logits = net(x)
        for i in range(x.shape[0]):
            grads = torch.autograd.grad(logits[i].sum(), weights, retain_graph=True, allow_unused=True)
            flat = [(torch.zeros_like(w) if g is None else g).reshape(-1) for g, w in zip(grads, weights)]
            rows.append(torch.cat(flat))
    g = torch.stack(rows).double()
    eig = torch.linalg.eigvalsh(g @ g.T).numpy()
    eps = float(np.finfo(np.float64).eps)
    lmax = float(eig.max())
    if lmax <= 0:
        return -math.log(eps)
    return float(math.log(lmax / max(float(eig.min()), lmax * eps)))


def params(net: nn.Module) -> float:
    """Number of parameter elements (``SearchSpace.cost``'s ``params``), a data-free baseline
    that Abdelfattah et al. (ICLR 2021) found competitive with most proxies."""
    return float(count_params(net))


def flops(net: nn.Module, input_shape: Sequence[int]) -> float:
    """Multiply-adds of one forward pass on ``1 x input_shape`` (``SearchSpace.cost``'s ``flops``;
    convention in ``nagen.profile``), a data-free baseline (Abdelfattah et al., ICLR 2021)."""
    return float(count_flops(net, input_shape))


# ---------------------------------------------------------------------- one architecture
def _check_proxies(proxies: Sequence[str]) -> tuple[str, ...]:
    if isinstance(proxies, str):
        proxies = (proxies,)
    try:
        names = tuple(proxies)
    except TypeError:
        raise UnknownProxyError(
            f"proxies must be a proxy name or a sequence of them among choices {choices_hint(DIRECTION)}, got {proxies!r}"
        ) from None
    if not names:
        raise UnknownProxyError(f"give at least one proxy among choices {choices_hint(DIRECTION)}")
    for p in names:
        if p not in DIRECTION:
            raise UnknownProxyError(f"could not resolve zero-cost proxy {p!r} among choices {choices_hint(DIRECTION)}")
    if len(set(names)) != len(names):
        raise UnknownProxyError(f"proxies must be distinct, got {list(names)}")
    return names


def _check_data(
    data: Any, proxies: Sequence[str], num_classes: int
) -> tuple[torch.Tensor, torch.Tensor] | None:
    need = [p for p in proxies if p in DATA_DEPENDENT]
    if data is None:
        if need:
            raise InvalidTrainingDataError(
                f"proxies {need} need a batch of your data: pass data=(x, y) with x a "
                f"batch x channels x height x width float tensor and y its integer class labels, "
                f"or use only the data-free proxies {list(DATA_FREE)}"
            )
        return None
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise InvalidTrainingDataError(f"data must be a pair (x, y) of tensors, got {type(data).__name__}")
    x, y = (torch.as_tensor(v) if isinstance(v, np.ndarray) else v for v in data)
    x, y = _check_batch(x, y)
    assert y is not None
    if int(y.min()) < 0 or int(y.max()) >= num_classes:
        raise InvalidTrainingDataError(
            f"labels y must lie in 0..{num_classes - 1} (num_classes={num_classes}), "
            f"got range {int(y.min())}..{int(y.max())}; pass num_classes= the number of classes of your data"
        )
    return x, y


def _input_shape(space: SearchSpace, input_shape: Sequence[int] | None, options: Mapping[str, Any]) -> tuple[int, ...]:
    shape = _given_input_shape(space, input_shape, options)
    check = getattr(space, "_cost_shape", None)
    if check is not None and len(shape) == 3:
        # the network's own rule (NB201: sides multiples of 4; channels = in_channels), as space.cost
        # checks it: a 30 x 30 batch ran into a bare torch size mismatch inside synflow
        check(shape, options.get("in_channels"))
    return shape


def _given_input_shape(space: SearchSpace, input_shape: Sequence[int] | None, options: Mapping[str, Any]) -> tuple[int, ...]:
    if input_shape is not None:
        if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, (Sequence, np.ndarray, torch.Size)):
            raise InvalidArgumentError(f"input_shape must be one sample's shape, e.g. (3, 32, 32), got {input_shape!r}")
        try:
            return tuple(check_int(v, "input_shape", 1) for v in input_shape)
        except InvalidArgumentError:
            raise InvalidArgumentError(
                f"input_shape must be one sample's shape of positive integers, e.g. (3, 32, 32), got {tuple(input_shape)!r}"
            ) from None
    shape = tuple(space.default_input_shape)
    # keep the default resolution, change channels (as SearchSpace.cost does); None is the
    # builder's own default (a valid CustomSpace option), so it leaves the default shape
    if options.get("in_channels") is not None:
        shape = (check_int(options["in_channels"], "build option in_channels", 1), *shape[1:])
    return shape


def compute_proxies(
    space: SearchSpace | str,
    arch: ArchGraph | str,
    data: tuple[torch.Tensor, torch.Tensor] | None = None,
    seed: int = 0,
    proxies: Sequence[str] | None = None,
    *,
    num_classes: int | None = None,
    input_shape: Sequence[int] | None = None,
    **build_options: Any,
) -> dict[str, float]:
    """Zero-cost proxies of ``arch``'s network, built by ``space.build`` at initialisation.

    The network is initialised, and each proxy run, under ``torch.manual_seed(seed)`` inside a
    forked RNG state (the caller's global torch RNG is neither used nor changed), and dropout
    layers are in eval mode during every proxy, so equal arguments give equal values.

    Args:
        space: the space (or its registered name).
        arch: the architecture (or its string).
        data: ``(x, y)``, a small batch of the user's data (``x: batch x C x H x W``, ``y: batch``
            integer labels); required by the :data:`DATA_DEPENDENT` proxies.
        seed: torch seed of the network initialisation.
        proxies: names to compute; default every :data:`DATA_FREE` proxy, plus every
            :data:`DATA_DEPENDENT` one when ``data`` is given.
        num_classes: classifier outputs (default the space's).
        input_shape: one sample's shape for ``synflow`` and ``flops``; default ``x.shape[1:]``
            when ``data`` is given, else the space's default input shape.
        **build_options: passed to ``space.build`` (e.g. ``C=4, N=1, in_channels=1`` for NB201).

    Returns:
        proxy name -> float, in the order of ``proxies``.

    Raises:
        UnknownProxyError: an unknown proxy name.
        InvalidTrainingDataError: a data-dependent proxy without ``data``, or a malformed batch.
        InvalidArgumentError: an ``input_shape`` (or batch) the network cannot run, e.g. NB201
            sides that are not multiples of 4, or channels other than ``in_channels``.
    """
    import nagen.spaces

    space = nagen.spaces.get(space)
    if proxies is None:
        proxies = DATA_FREE + (DATA_DEPENDENT if data is not None else ())
    names = _check_proxies(proxies)
    nc = space.default_num_classes if num_classes is None else check_int(num_classes, "num_classes", 1)
    batch = _check_data(data, names, nc)
    if batch is not None and input_shape is None:
        input_shape = tuple(batch[0].shape[1:])
    shape = _input_shape(space, input_shape, build_options)
    arch = space.validate(arch)
    seed = check_int(seed, "seed", 0)

    def build() -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return space.build(arch, nc, **build_options)

    net = build()
    # params and flops leave the network as it was; every other proxy changes it (abs weights,
    # gradients, batch-norm statistics), so each gets its own network: the shared one first, then
    # fresh builds with the same seed (identical weights, and cheaper than a deep copy)
    out = {p: params(net) if p == "params" else flops(net, shape) for p in names if p in ("params", "flops")}
    x, y = batch if batch is not None else (None, None)
    mutating: dict[str, Callable[[nn.Module], float]] = {
        "synflow": lambda m: _synflow(m, shape),
        "grad_norm": lambda m: _grad_norm(m, x, y),
        "snip": lambda m: _snip(m, x, y),
        "jacov": lambda m: _jacov(m, x),
        "naswot": lambda m: _naswot(m, x),
        "ntk_cond": lambda m: _ntk_cond(m, x),
    }
    first = True
    for p in names:
        if p in mutating:
            m = net if first else build()
            first = False
            # dropout is off (_train_mode), but a space's module may still draw random numbers in
            # its forward pass: seed each proxy so its value depends on ``seed`` alone
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                out[p] = mutating[p](m)
    return {p: out[p] for p in names}


# ---------------------------------------------------------------------- shipped NB201 table
@cache
def _nb201_table() -> dict[str, np.ndarray] | None:
    """Data-free proxies of every NB201 cell (NB201 index order), or None when the file is absent."""
    ref = resources.files("nagen.data").joinpath(NB201_TABLE)
    if not ref.is_file():
        return None
    lines = gzip.decompress(ref.read_bytes()).decode().splitlines()
    header = lines[0].split(",")
    if header[0] != "index" or "synflow" not in header:
        raise InvalidTableError(f"{NB201_TABLE}: expected columns 'index', 'synflow', ...; got {header}")
    values = np.array([ln.split(",") for ln in lines[1:]], dtype=np.float64)
    if values.shape[0] != 15625 or not np.array_equal(values[:, 0], np.arange(15625)):
        raise InvalidTableError(f"{NB201_TABLE}: expected rows for NB201 indices 0..15624 in order")
    return {name: values[:, k] for k, name in enumerate(header) if name != "index"}


def _table_proxy_values(space: SearchSpace, archs: Sequence[ArchGraph], proxy: str) -> np.ndarray | None:
    table = _nb201_table()
    if table is None or proxy not in table:
        return None
    import nagen.benchmarks

    bench = nagen.benchmarks.load("nb201")
    return table[proxy][[bench.row(a) for a in archs]]


# ---------------------------------------------------------------------- score transforms
class _Standardiser:
    """A strictly increasing map of one proxy's values to a roughly standard scale, fitted on
    training values: ``zscore`` (affine) or ``rank`` (empirical CDF, linear between the
    training values and with the average slope outside their range, then standardised)."""

    def __init__(self, v: np.ndarray, kind: str) -> None:
        self.kind = kind
        self.lo, self.hi = float(v.min()), float(v.max())
        if kind == "rank":
            xs, counts = np.unique(v, return_counts=True)
            cum = np.cumsum(counts)
            self.xs = xs
            self.us = (cum - (counts - 1) / 2.0 - 0.5) / len(v)  # mid-ranks in (0, 1); ties share one
            u = self._ecdf(v)
        else:
            u = v
        self.mu, self.sd = float(u.mean()), float(u.std()) or 1.0

    def _ecdf(self, v: np.ndarray) -> np.ndarray:
        if len(self.xs) == 1:
            return np.zeros_like(v, dtype=np.float64)
        u = np.interp(v, self.xs, self.us)
        # past the training range keep order with the ECDF's average slope, so new extremes do not tie
        slope = (self.us[-1] - self.us[0]) / (self.hi - self.lo)
        u = np.where(v > self.hi, self.us[-1] + (v - self.hi) * slope, u)
        return np.where(v < self.lo, self.us[0] + (v - self.lo) * slope, u)

    def __call__(self, v: np.ndarray) -> np.ndarray:
        u = self._ecdf(v) if self.kind == "rank" else v
        return (u - self.mu) / self.sd


def _kendall(s: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b, 0 when undefined (a constant score or constant values)."""
    from scipy.stats import kendalltau

    if np.ptp(s) == 0 or np.ptp(y) == 0:  # scipy warns on a constant input
        return 0.0
    tau = kendalltau(s, y).statistic
    return float(tau) if np.isfinite(tau) else 0.0


def _ranks(y: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(y)


def _bo_weights(Z: np.ndarray, y: np.ndarray, iters: int, seed: int) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """Weights ``w`` in ``[-1, 1]^p`` maximising Kendall's tau of ``Z @ w`` with ``y``, by BO.

    The initial design holds each proxy alone (``w = e_j``), their equal-weight sum and ``p``
    scrambled-Sobol points, so the incumbent is never worse than the best single proxy. Each
    step fits a ``SingleTaskGP`` to (w, tau) and maximises ``LogExpectedImprovement`` with
    ``optimize_acqf`` (RoBoT, He et al., ICLR 2024, optimises its weights the same way).

    Returns:
        the best ``w`` (``p``), and every evaluated ``W: m x p`` with its ``tau: m``.
    """
    from botorch.acquisition.analytic import LogExpectedImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Normalize, Standardize
    from botorch.optim import optimize_acqf
    from botorch.utils.sampling import draw_sobol_samples
    from gpytorch.mlls import ExactMarginalLogLikelihood

    p = Z.shape[1]
    bounds = torch.stack([-torch.ones(p, dtype=torch.float64), torch.ones(p, dtype=torch.float64)])

    def tau(w: torch.Tensor) -> float:
        return _kendall(Z @ w.numpy(), y)

    init = [torch.eye(p, dtype=torch.float64), torch.full((1, p), 1.0 / p, dtype=torch.float64)]
    init.append(draw_sobol_samples(bounds, n=p, q=1, seed=seed).squeeze(1))
    W = torch.cat(init)
    T = torch.tensor([tau(w) for w in W], dtype=torch.float64)
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        torch.manual_seed(seed)
        # tau is a step function of w: near-duplicate points and flat regions are expected
        warnings.filterwarnings("ignore", message=".*(not p.d.|jitter|Optimization|optimization).*")
        hypers: dict[str, torch.Tensor] = {}
        for _ in range(iters):
            if float(T.std()) == 0:  # a flat objective gives the GP nothing to learn; sample instead
                cand = draw_sobol_samples(bounds, n=1, q=1, seed=seed + len(T)).squeeze(1)
            else:
                gp = SingleTaskGP(
                    W, T[:, None], input_transform=Normalize(d=p, bounds=bounds), outcome_transform=Standardize(m=1)
                )
                # warm-start from the last step's hyperparameters: one more point barely moves them
                gp.load_state_dict(hypers, strict=False)
                fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
                hypers = {k: v for k, v in gp.state_dict().items() if "transform" not in k}
                acqf = LogExpectedImprovement(gp, best_f=T.max())
                cand, _ = optimize_acqf(acqf, bounds=bounds, q=1, num_restarts=2, raw_samples=64)
            W = torch.cat([W, cand.detach()])
            T = torch.cat([T, torch.tensor([tau(cand[0].detach())], dtype=torch.float64)])
    best = int(torch.argmax(T))  # first maximum: prefers the simple initial weights on ties
    return W[best].numpy().copy(), W, T


# ---------------------------------------------------------------------- predictor
@register("zero_cost")
class ZeroCostPredictor(Predictor):
    """Ranks architectures by zero-cost proxies, alone or combined by Bayesian optimisation.

    Features are the proxies of the network ``space.build(arch, num_classes, **build_options)``
    initialised with torch seed ``seed`` (see :func:`compute_proxies`). For NB201 with the
    default network (C=16, N=5, 3 input channels, 10 classes, 3x32x32 inputs) and
    ``seed == NB201_TABLE_SEED`` the ``synflow`` values come from the shipped table; every
    other value is computed on first use and cached per architecture.

    ``fit(archs, values)``:

    * each proxy is multiplied by its :data:`DIRECTION` and mapped by a strictly increasing
      standardiser fitted on the training archs (``transform="zscore"``, ``"rank"``, or
      ``"auto"``: per proxy the one whose values have the larger Pearson correlation with the
      ranks of ``values``; the standardised proxies ``Z`` are ``n x p``);
    * ``combine="bo"``: the score is ``Z @ w`` with ``w`` in ``[-1, 1]^p`` chosen by BoTorch
      (``SingleTaskGP`` + ``LogExpectedImprovement`` + ``optimize_acqf``, ``bo_iters`` steps)
      to maximise Kendall's tau with ``values`` on the training set (RoBoT, He et al., ICLR 2024);
    * ``combine="single"``: the score is the first proxy alone (times its direction). The
      ranking then needs no labels; ``fit`` still validates its inputs and uses the labels only
      for the output scale.

    In both cases ``fit`` finally sets the output scale: ``predict`` returns
    ``a + b * score`` with ``a, b`` the least-squares fit to ``values`` and ``b`` forced
    positive, a monotone affine map, so predictions are in the training units and rank
    architectures exactly as the score does. Not probabilistic, not differentiable.

    Args:
        space: the space (or its registered name).
        proxies: proxy names; default :data:`DATA_FREE`, plus :data:`DATA_DEPENDENT` when
            ``data`` is given. With ``combine="single"`` only the first is used for scoring.
        data: ``(x, y)``, a small batch of the user's data, for data-dependent proxies.
        seed: torch seed of every network initialisation, and seed of the BO.
        combine: ``"bo"`` or ``"single"``.
        transform: ``"auto"``, ``"zscore"`` or ``"rank"``.
        bo_iters: BO steps after the ``2p + 1`` initial weight vectors.
        num_classes, input_shape, build_options: the network the proxies are computed on
            (see :func:`compute_proxies`).

    Attributes (after ``fit``):
        weights_: ``p`` combination weights on the standardised, direction-signed proxies.
        train_tau_: Kendall's tau of the combined score with the training values.
        proxy_tau_: proxy -> Kendall's tau of ``DIRECTION * proxy`` with the training values.
        bo_history_: ``(W: m x p, tau: m)`` every weight vector BO evaluated (``combine="bo"``).
    """

    probabilistic = False
    differentiable = False
    # its seed re-initialises the networks its proxies are measured on: seeded copies would each
    # compute every candidate's proxies anew (minutes per study round on NB201, against a table
    # lookup at the default seed), and proxy noise is not uncertainty about the objective
    seeded_copies_differ = False

    def __init__(
        self,
        space: SearchSpace | str,
        *,
        proxies: Sequence[str] | None = None,
        data: tuple[torch.Tensor, torch.Tensor] | None = None,
        seed: int = 0,
        combine: str = "bo",
        transform: str = "auto",
        bo_iters: int = 20,
        num_classes: int | None = None,
        input_shape: Sequence[int] | None = None,
        build_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(space, seed=seed)
        if proxies is None:
            proxies = DATA_FREE + (DATA_DEPENDENT if data is not None else ())
        self.proxies = _check_proxies(proxies)
        if combine not in ("bo", "single"):
            raise InvalidArgumentError(f"combine must be 'bo' or 'single', got {combine!r}")
        if transform not in ("auto", "zscore", "rank"):
            raise InvalidArgumentError(f"transform must be 'auto', 'zscore' or 'rank', got {transform!r}")
        self.combine, self.transform, self.bo_iters = combine, transform, check_int(bo_iters, "bo_iters", 0)
        self.num_classes = self.space.default_num_classes if num_classes is None else check_int(num_classes, "num_classes", 1)
        if build_options is not None and not isinstance(build_options, Mapping):
            raise InvalidArgumentError(
                f"build_options must be a mapping of space.build options (e.g. {{'C': 4}}), got {type(build_options).__name__}"
            )
        self.build_options = dict(build_options or {})
        self.data = _check_data(data, self.proxies, self.num_classes)
        if self.data is not None and input_shape is None:
            input_shape = tuple(self.data[0].shape[1:])
        self.input_shape = _input_shape(self.space, input_shape, self.build_options)
        self._cache: dict[ArchGraph, dict[str, float]] = {}
        self.weights_: np.ndarray | None = None
        self.train_tau_: float = float("nan")
        self.proxy_tau_: dict[str, float] = {}
        self.bo_history_: tuple[torch.Tensor, torch.Tensor] | None = None

    # ------------------------------------------------------------------ features
    def _uses_nb201_table(self) -> bool:
        """Whether the shipped table describes exactly the networks this predictor builds."""
        import nagen.spaces

        return (
            nagen.spaces.is_space(self.space, "nb201")
            and self.seed == NB201_TABLE_SEED
            and self.num_classes == 10
            and self.input_shape == (3, 32, 32)
            and all(self.build_options.get(k, v) == v for k, v in _NB201_DEFAULTS.items())
            and set(self.build_options) <= set(_NB201_DEFAULTS)
        )

    def features(self, archs: Sequence[ArchGraph | str]) -> np.ndarray:
        """Raw proxy values (not direction-signed, not standardised): ``n x p``, columns in
        :attr:`proxies` order. Needs no ``fit``; usable as extra inputs of another model."""
        archs = self._validate_archs(archs)
        out = np.empty((len(archs), len(self.proxies)), dtype=np.float64)
        todo = list(self.proxies)
        if self._uses_nb201_table():
            for p in list(todo):
                vals = _table_proxy_values(self.space, archs, p)
                if vals is not None:
                    out[:, self.proxies.index(p)] = vals
                    todo.remove(p)
            if {"params", "flops"} & set(todo):
                # NB201's cost() is a sum of cached per-edge terms: no network build
                ids = np.array([self.space.op_ids(a) for a in archs], dtype=np.int64).reshape(-1, 6)
                cost = self.space.cost_table(ids, self.num_classes, self.input_shape)
                for k, p in enumerate(("params", "flops")):
                    if p in todo:
                        out[:, self.proxies.index(p)] = cost[:, k]
                        todo.remove(p)
        if todo:
            for i, a in enumerate(archs):
                cached = self._cache.setdefault(a, {})
                missing = [p for p in todo if p not in cached]
                if missing:
                    cached.update(
                        compute_proxies(
                            self.space,
                            a,
                            self.data,
                            self.seed,
                            missing,
                            num_classes=self.num_classes,
                            input_shape=self.input_shape,
                            **self.build_options,
                        )
                    )
                for p in todo:
                    out[i, self.proxies.index(p)] = cached[p]
        return out

    # ------------------------------------------------------------------ protocol
    def _signed(self, F: np.ndarray) -> np.ndarray:
        return F * np.array([DIRECTION[p] for p in self.proxies], dtype=np.float64)

    def _standardised(self, archs: Sequence[ArchGraph]) -> np.ndarray:
        G = self._signed(self.features(archs))
        return np.column_stack([t(G[:, j]) for j, t in enumerate(self._transforms)])

    def _fit(self, archs: list[ArchGraph], y: np.ndarray) -> None:
        G = self._signed(self.features(archs))
        ry = _ranks(y)
        # tied labels (e.g. two cells of equal accuracy) have no order to correlate with: their
        # correlation is undefined (numpy warns and gives NaN), so every candidate scores 0
        untied = np.ptp(ry) > 0
        self._transforms = []
        for j in range(G.shape[1]):
            kinds = ("zscore", "rank") if self.transform == "auto" else (self.transform,)
            cands = [_Standardiser(G[:, j], k) for k in kinds]
            const = np.ptp(G[:, j]) == 0
            scores = [abs(np.nan_to_num(np.corrcoef(c(G[:, j]), ry)[0, 1])) if untied and not const else 0.0 for c in cands]
            self._transforms.append(cands[int(np.argmax(scores))])
        Z = np.column_stack([t(G[:, j]) for j, t in enumerate(self._transforms)])
        self.proxy_tau_ = {p: _kendall(G[:, j], y) for j, p in enumerate(self.proxies)}
        p = len(self.proxies)
        if self.combine == "single" or p == 1:
            w = np.zeros(p)
            w[0] = 1.0
            self.bo_history_ = None
        else:
            w, W, T = _bo_weights(Z, y, self.bo_iters, self.seed)
            self.bo_history_ = (W, T)
        self.weights_ = w
        s = Z @ w
        self.train_tau_ = _kendall(s, y)
        var = float(s.var())
        b = float(np.cov(s, y, bias=True)[0, 1] / var) if var > 0 else 0.0
        if not b > 0:
            # a score that does not increase with the labels still ranks; keep its order with a tiny slope
            b = 1e-9 * self.y_std / (math.sqrt(var) or 1.0)
        self._a, self._b = float(y.mean() - b * s.mean()), b

    def _predict(self, archs: list[ArchGraph]) -> Prediction:
        s = self._standardised(archs) @ self.weights_
        return Prediction(self._a + self._b * s, None)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(space={self.space.name!r}, proxies={list(self.proxies)}, "
            f"combine={self.combine!r}, fitted={self._fitted})"
        )
