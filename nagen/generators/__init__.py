"""Architecture generators: learn a space's distribution and sample new architectures.

>>> import nagen.generators as G
>>> G.names()                                   # doctest: +SKIP
['diffusion', 'opgfn', 'random']
>>> gen = G.get("diffusion", "nb201").fit()     # doctest: +SKIP

Each module in this package registers its generator with ``@register("name")``; the package
imports its modules on first lookup, so a new generator is one new file.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from nagen.errors import UnknownGeneratorError, check_options
from nagen.generators.base import Generator
from nagen.registry import Registry

__all__ = ["Generator", "get", "names", "register", "registry"]


def _discover() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_") and mod.name not in ("base", "guidance"):
            importlib.import_module(f"{__name__}.{mod.name}")


#: name -> generator class (called as ``cls(space, **kwargs)``)
registry: Registry[Callable[..., Generator]] = Registry("generator", UnknownGeneratorError, _discover)


def register(name: str, *, overwrite: bool = False) -> Callable[[type[Generator]], type[Generator]]:
    """Class decorator registering a ``Generator`` subclass under ``name`` (``overwrite=True``
    replaces an existing entry, e.g. when a notebook cell defining it runs again)."""

    def deco(cls: type[Generator]) -> type[Generator]:
        registry.add(name, cls, overwrite=overwrite)
        return cls

    return deco


def get(name: str, space: Any, **kwargs: Any) -> Generator:
    """A new generator ``name`` for ``space`` (keyword arguments go to its constructor).

    Raises:
        UnknownGeneratorError: ``name`` is not registered (the message lists the names).
        UnknownOptionError: a keyword the generator's constructor does not take (the message lists them).
    """
    cls = registry.resolve(name)
    check_options(cls, kwargs, f"generator {name!r}")
    return cls(space, **kwargs)


def names() -> list[str]:
    """Registered generator names, sorted."""
    return registry.names()
