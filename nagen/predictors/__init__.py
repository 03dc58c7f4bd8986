"""Predictors and surrogates: ``fit`` / ``predict`` / differentiable ``score``.

>>> import nagen.predictors as P
>>> P.names()                                  # doctest: +SKIP
>>> model = P.get("gnn", "nb201", seed=0).fit(archs, values)   # doctest: +SKIP

Each module in this package registers its models with ``@register("name")``; the package
imports its modules on first lookup, so a new predictor is one new file.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from nagen.errors import UnknownPredictorError
from nagen.predictors.base import Prediction, Predictor, check_options, check_state
from nagen.registry import Registry

__all__ = ["LatencyPredictor", "Predictor", "Prediction", "check_options", "check_state", "get", "names", "register", "registry"]


def __getattr__(name: str) -> Any:
    # ``nagen.predictors.LatencyPredictor`` is the API; imported on first use, like the registry's modules
    if name == "LatencyPredictor":
        from nagen.predictors.latency import LatencyPredictor

        return LatencyPredictor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _discover() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_") and mod.name != "base":
            importlib.import_module(f"{__name__}.{mod.name}")


#: name -> predictor class (called as ``cls(space, **kwargs)``)
registry: Registry[Callable[..., Predictor]] = Registry("predictor", UnknownPredictorError, _discover)


def register(name: str, *, overwrite: bool = False) -> Callable[[type[Predictor]], type[Predictor]]:
    """Class decorator registering a ``Predictor`` subclass under ``name`` (``overwrite=True``
    replaces an existing entry, e.g. when a notebook cell defining it runs again)."""

    def deco(cls: type[Predictor]) -> type[Predictor]:
        registry.add(name, cls, overwrite=overwrite)
        return cls

    return deco


def get(name: str, space: Any, **kwargs: Any) -> Predictor:
    """A new, unfitted predictor ``name`` for ``space`` (keyword arguments go to its constructor).

    Raises:
        UnknownPredictorError: no predictor of that name (the message lists them).
        UnknownOptionError: a keyword its constructor does not take (the message lists those it
            does; also an ``InvalidArgumentError`` and a ``TypeError``, as Python's own call check).
    """
    cls = registry.resolve(name)
    check_options(cls, kwargs, f"predictor {name!r}")
    return cls(space, **kwargs)


def names() -> list[str]:
    """Registered predictor names, sorted."""
    return registry.names()
