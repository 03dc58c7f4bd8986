"""Any registered predictor as a BO surrogate: an ensemble of independently seeded copies.

A ``Study`` picks candidates with BoTorch's noisy expected improvement, which needs a posterior.
A GP has one; a GNN or a user's own regressor gives a point prediction. As in BANANAS (White et
al., AAAI 2021), ``members`` copies of the predictor trained with different seeds stand for the
posterior: its samples are the members' predictions. On the BoTorch side this is an
``EnsembleModel`` whose ``EnsemblePosterior`` is sampled with an ``IndexSampler``, which draws
whole members, so a candidate's and the incumbent's values in one MC sample come from the same
member, as the noisy improvement needs.

>>> sur = EnsemblePredictor("nb201", predictor="gnn", members=5, options={"epochs": 100}).fit(archs, values)  # doctest: +SKIP
>>> Study("nb201", "cifar10_test", labeller, surrogate="gnn")                                    # doctest: +SKIP

The BoTorch model's input is one float per architecture, its row in a process-wide index of
canonical hashes (:meth:`EnsemblePredictor.features`). Why not an encoding: the model's outputs
are whatever the members' ``predict`` returns, not a torch function of some encoding, and every
objective's surrogate must read the same inputs (a study builds the acquisition's candidates
from its first surrogate's features).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from nagen.errors import InvalidArgumentError, check_int
from nagen.graph import ArchGraph
from nagen.predictors import register
from nagen.predictors.base import Prediction, Predictor

__all__ = ["EnsemblePredictor", "arch_index"]

#: architecture -> row, and row -> architecture; shared by every ensemble of the process (see
#: the module docstring). A few hundred bytes per architecture ever asked about.
_INDEX: dict[ArchGraph, int] = {}
_ARCHS: list[ArchGraph] = []


def arch_index(archs: Sequence[ArchGraph]) -> torch.Tensor:
    """``n x 1`` float64 rows of ``archs`` in the process-wide architecture index (new ones are added).

    Keyed by the graph itself, not its canonical hash: equivalent cells written differently get
    rows of their own, because a predictor need not give them one value (a GNN does not).
    """
    rows = []
    for a in archs:
        if a not in _INDEX:
            _INDEX[a] = len(_ARCHS)
            _ARCHS.append(a)
        rows.append(_INDEX[a])
    return torch.tensor(rows, dtype=torch.float64).reshape(-1, 1)


def _accepts_seed(cls: Any) -> bool:
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False
    return "seed" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


@register("ensemble")
class EnsemblePredictor(Predictor):
    """``members`` independently seeded copies of a registered predictor; their spread is the uncertainty.

    Args:
        space: the search space.
        predictor: name of a registered predictor (not ``"ensemble"``).
        members: number of copies (default 5, as BANANAS). A predictor without a ``seed``
            argument would train identical copies, and one whose ``seeded_copies_differ`` is
            False (``zero_cost``) would not gain from them: it gets one member with its own
            default seed (a point model, for which the noisy improvement is the plain
            improvement of its predictions).
        options: keyword arguments of that predictor's constructor (checked now).
        seed: member ``i`` is built with ``seed = 1000 * seed + i``.

    ``predict`` returns the members' mean and std; ``score`` (when every member is
    differentiable) their mean. ``model`` is the BoTorch ``EnsembleModel`` of the last fit,
    on :meth:`features` inputs.
    """

    probabilistic = True

    def __init__(
        self,
        space: Any,
        *,
        predictor: str = "gnn",
        members: int = 5,
        options: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(space, seed=seed)
        import nagen.predictors as P

        if predictor == "ensemble":
            raise InvalidArgumentError("an ensemble's members must be another predictor, not 'ensemble'")
        if options is not None and not isinstance(options, Mapping):
            raise InvalidArgumentError(f"options must be a dict of {predictor!r}'s constructor arguments, got {options!r}")
        self.options = dict(options or {})
        if "seed" in self.options:
            raise InvalidArgumentError("options may not set 'seed': the ensemble seeds its members (seed=1000*seed+i)")
        cls = P.registry.resolve(predictor)
        if not getattr(cls, "fits_from_labels", True):
            raise InvalidArgumentError(f"predictor {predictor!r} cannot be fitted from labels alone (meta-trained first), so not copied into an ensemble")
        from nagen.predictors.gp import GPPredictor

        if isinstance(cls, type) and issubclass(cls, GPPredictor):
            # a GP's fit is deterministic given its data, so seeded copies agree exactly: the
            # ensemble's spread would be zero and its own posterior thrown away
            raise InvalidArgumentError(
                f"predictor {predictor!r} is a GP with a posterior of its own; use it directly "
                f"(Study(surrogate={predictor!r}) does) instead of an ensemble of identical copies"
            )
        P.check_options(cls, self.options, f"predictor {predictor!r}")
        # the members are built at fit time, so a bad value (lr=nan, epochs=-1) would only fail
        # after a study had paid its initial labels: one member is built now to run its checks
        with torch.random.fork_rng(devices=[]):
            P.get(predictor, space, **self.options, **({"seed": 0} if _accepts_seed(cls) else {}))
        self.predictor = predictor
        members = check_int(members, "members", 1)
        self.members = members if _accepts_seed(cls) and getattr(cls, "seeded_copies_differ", True) else 1
        self.differentiable = bool(getattr(cls, "differentiable", False))  # type: ignore[misc]
        self.nets: list[Predictor] = []
        self.model: Any = None
        self._cache: dict[int, torch.Tensor] = {}  # index row -> members' predictions (cleared by fit)

    def __getstate__(self) -> dict[str, Any]:
        # the BoTorch model is a class made inside a function (not picklable) and the cache is
        # keyed by this process's index rows: both are rebuilt, from the fitted members
        state = dict(self.__dict__)
        state["model"], state["_cache"] = None, {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.nets:
            self.model = _EnsembleModel(self)

    def _member(self, i: int) -> Predictor:
        import nagen.predictors as P

        seed = {"seed": 1000 * self.seed + i} if self.members > 1 or i else {}
        return P.get(self.predictor, self.space, **self.options, **seed)

    def _fit(self, archs: list[ArchGraph], y: np.ndarray) -> None:
        self.nets = [self._member(i).fit(archs, y) for i in range(self.members)]
        self._cache = {}
        self.model = _EnsembleModel(self)

    def member_predictions(self, archs: Sequence[ArchGraph]) -> np.ndarray:
        """``members x n`` each member's predicted mean (training units)."""
        return np.stack([np.asarray(m.predict(list(archs)).mean, dtype=np.float64) for m in self.nets])

    def _predict(self, archs: list[ArchGraph]) -> Prediction:
        z = self.member_predictions(archs)
        return Prediction(z.mean(0), z.std(0) if self.members > 1 else np.zeros(len(archs)))

    def _score(self, X: torch.Tensor, A: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
        return torch.stack([m.score(X, A, t) for m in self.nets]).mean(0)

    def features(self, archs: Sequence[ArchGraph | str]) -> torch.Tensor:
        """``n x 1`` BoTorch inputs of ``archs``: their rows in the process-wide index (:func:`arch_index`)."""
        return arch_index(self._validate_archs(archs))

    def _lookup(self, rows: torch.Tensor) -> torch.Tensor:
        """``rows.shape + (members,)`` member predictions of index rows, each computed once per fit
        (an acquisition evaluates the same candidates many times)."""
        flat = rows.reshape(-1).long().tolist()
        bad = [r for r in flat if not 0 <= r < len(_ARCHS)]
        if bad:
            raise InvalidArgumentError(f"ensemble inputs must be rows made by features(), got {bad[:5]}")
        todo = list(dict.fromkeys(r for r in flat if r not in self._cache))
        if todo:
            z = torch.as_tensor(self.member_predictions([_ARCHS[r] for r in todo]), dtype=torch.float64)
            self._cache.update((r, z[:, j]) for j, r in enumerate(todo))
        out = torch.stack([self._cache[r] for r in flat]) if flat else torch.zeros(0, self.members, dtype=torch.float64)
        return out.reshape(*rows.shape, self.members)


def _EnsembleModel(owner: EnsemblePredictor) -> Any:
    """The BoTorch ``EnsembleModel`` of a fitted :class:`EnsemblePredictor` (one output)."""
    from botorch.models.ensemble import EnsembleModel

    class _Model(EnsembleModel):
        """Inputs ``batch x n x 1`` index rows -> ``batch x members x n x 1`` member predictions."""

        def __init__(self) -> None:
            super().__init__()
            self._num_outputs = 1
            self._owner = [owner]  # a list: not a registered submodule (the predictor is no nn.Module)

        def forward(self, X: torch.Tensor) -> torch.Tensor:
            vals = self._owner[0]._lookup(X[..., 0])  # batch x n x members
            return vals.movedim(-1, -2).unsqueeze(-1)

    return _Model()
