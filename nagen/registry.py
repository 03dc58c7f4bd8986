"""A small name -> object registry shared by spaces, predictors and generators.

Modelled on BoTorch's decorator registries (duplicates are refused) and PyG's resolver (an
unknown name lists the valid choices).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from nagen.errors import DuplicateRegistrationError, NagenError, choices_hint, did_you_mean

T = TypeVar("T")


def _registering_builtin() -> bool:
    """True when the innermost module being executed up the stack is one of nagen's own
    (a built-in registering itself at import), not a user's module or script."""
    f = sys._getframe(2)
    while f is not None:
        if f.f_code.co_name == "<module>":
            return str(f.f_globals.get("__name__", "")).startswith("nagen.")
        f = f.f_back
    return False

__all__ = ["Registry"]


class Registry(Generic[T]):
    """Maps names to objects (classes, factories or instances).

    Args:
        kind: what the registry holds, used in messages (``"search space"``).
        error: the exception raised for an unknown name (a ``NagenError`` subclass).
        discover: optional callable run once before the first lookup, e.g. to import every
            module of a package so that their ``@register`` decorators run.
    """

    def __init__(
        self, kind: str, error: type[NagenError] = NagenError, discover: Callable[[], None] | None = None
    ) -> None:
        self.kind = kind
        self._error = error
        self._items: dict[str, T] = {}
        self._discover = discover
        self._discovered = discover is None

    def _ensure(self) -> None:
        if not self._discovered:
            self._discovered = True  # set first: discovery imports modules that register
            assert self._discover is not None
            self._discover()

    def add(self, name: str, obj: T, *, overwrite: bool = False) -> T:
        """Register ``obj`` under ``name``; refuses an existing name unless ``overwrite``."""
        if not isinstance(name, str) or not name or name != name.strip():
            # a name with surrounding blanks could never be looked up as typed
            raise DuplicateRegistrationError(
                f"a {self.kind} name must be a non-empty string without leading or trailing whitespace, got {name!r}"
            )
        # a user's entry: discover the built-ins first, so it cannot take a built-in name unnoticed
        # (nor break discovery later); a built-in module registering while it is imported must not
        # trigger discovery, which would import its siblings against the half-imported module
        if not self._discovered and not _registering_builtin():
            self._ensure()
        if name in self._items and not overwrite:
            raise DuplicateRegistrationError(
                f"a {self.kind} named {name!r} is already registered; pick another name or pass overwrite=True"
            )
        self._items[name] = obj
        return obj

    def register(self, name: str, *, overwrite: bool = False) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(obj: T) -> T:
            return self.add(name, obj, overwrite=overwrite)

        return deco

    def remove(self, name: str) -> None:
        """Unregister ``name`` (unknown names raise)."""
        self.resolve(name)
        del self._items[name]

    def resolve(self, name: str) -> T:
        """The object registered as ``name``; unknown names raise with the valid choices."""
        self._ensure()
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise self._error(
                f"could not resolve {self.kind} {name!r} among choices {choices_hint(self._items)}{self._did_you_mean(name)}"
            ) from None

    def _did_you_mean(self, name: object) -> str:
        """``"; did you mean 'x'?"`` for the registered names closest to ``name``, else ``""``."""
        return did_you_mean(name, self._items)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._ensure()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._ensure()
        try:
            return name in self._items
        except TypeError:  # an unhashable "name" is simply not registered
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
