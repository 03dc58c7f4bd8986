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

from nagen.errors import InvalidSpecError, UnknownPredictorError
from nagen.predictors.base import Prediction, Predictor, check_state
from nagen.registry import Registry

__all__ = ["Predictor", "Prediction", "check_state", "get", "names", "register", "registry"]


def _discover() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_") and mod.name != "base":
            importlib.import_module(f"{__name__}.{mod.name}")


#: name -> predictor class (called as ``cls(space, **kwargs)``)
registry: Registry[Callable[..., Predictor]] = Registry("predictor", UnknownPredictorError, _discover)


def register(name: str) -> Callable[[type[Predictor]], type[Predictor]]:
    """Class decorator registering a ``Predictor`` subclass under ``name``."""

    def deco(cls: type[Predictor]) -> type[Predictor]:
        registry.add(name, cls)
        return cls

    return deco


def get(name: str, space: Any, **kwargs: Any) -> Predictor:
    """A new, unfitted predictor ``name`` for ``space`` (keyword arguments go to its constructor).

    Raises:
        UnknownPredictorError: no predictor of that name (the message lists them).
        InvalidSpecError: a keyword its constructor does not take (the message lists those it does).
    """
    import inspect

    cls = registry.resolve(name)
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):  # no introspectable signature: let the call decide
        params = None
    if params is not None and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            allowed = sorted(k for k, p in params.items() if k != "space" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
            raise InvalidSpecError(f"predictor {name!r} takes no option(s) {unknown}; its options are {allowed}")
    return cls(space, **kwargs)


def names() -> list[str]:
    """Registered predictor names, sorted."""
    return registry.names()
