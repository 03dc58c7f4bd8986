"""Search spaces and their registry.

>>> import nagen.spaces as spaces
>>> spaces.names()                      # doctest: +SKIP
['mbv3', 'nb101', 'nb201']
>>> nb201 = spaces.get("nb201")
>>> spaces.register_space(spaces.from_spec({...}))   # a user's space, in one line  # doctest: +SKIP

Every module in this package that defines a space registers it with ``@register("name")``;
the package imports its modules on first lookup, so a new built-in space is one new file.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable
from typing import Any

from nagen.errors import InvalidSpecError, UnknownSpaceError
from nagen.registry import Registry
from nagen.spaces.base import SearchSpace

__all__ = ["SearchSpace", "get", "names", "register", "register_space", "from_spec", "registry", "reference", "cache_key", "is_space", "same_space", "same_name_note"]


def _discover() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_") and mod.name != "base":
            importlib.import_module(f"{__name__}.{mod.name}")


#: name -> zero-argument factory returning a ``SearchSpace``
registry: Registry[Callable[[], SearchSpace]] = Registry("search space", UnknownSpaceError, _discover)
_instances: dict[str, tuple[Callable[[], SearchSpace], SearchSpace]] = {}  # name -> (its factory, the instance)


def register(name: str, *, overwrite: bool = False) -> Callable[[type[SearchSpace]], type[SearchSpace]]:
    """Class decorator: register a ``SearchSpace`` subclass (constructible without arguments);
    ``overwrite=True`` replaces an existing entry (a notebook cell defining it, run again)."""

    def deco(cls: type[SearchSpace]) -> type[SearchSpace]:
        registry.add(name, cls, overwrite=overwrite)
        return cls

    return deco


def register_space(space: SearchSpace, *, overwrite: bool = False) -> SearchSpace:
    """Register an existing space instance under ``space.name`` (e.g. one made by ``from_spec``)."""
    if not isinstance(space, SearchSpace):
        raise InvalidSpecError(f"register_space() takes a SearchSpace instance, got {type(space).__name__}")
    factory = lambda: space  # noqa: E731
    registry.add(space.name, factory, overwrite=overwrite)
    _instances[space.name] = (factory, space)
    return space


def get(name: str | SearchSpace) -> SearchSpace:
    """The registered space called ``name`` (a ``SearchSpace`` passes through unchanged), or the
    custom space of a JSON spec file when ``name`` is a path ending in ``.json`` (see :func:`from_spec`;
    so ``--space my_space.json`` works wherever a space name does).

    Raises:
        UnknownSpaceError: no such space; the message lists the registered names.
    """
    if isinstance(name, SearchSpace):
        return name
    if isinstance(name, str) and name.lower().endswith(".json") and name not in registry.names():
        return _from_file(name)
    factory = registry.resolve(name)
    made = _instances.get(name)
    # the instance is reused only while its factory is still the registered one: a name
    # registered again (overwrite=True, or remove then add) gives the new space, not a stale one
    if made is None or made[0] is not factory:
        made = _instances[name] = (factory, factory())
    return made[1]


def _registered(space: SearchSpace) -> bool:
    """Whether ``get(space.name)`` stands for ``space``: the instance registered under that name,
    an equal spec-defined space, or another instance of the registered class (built-in spaces
    take no arguments, so their instances are interchangeable). A user's class that merely
    reuses a registered name ("nb201") is not that space."""
    try:
        registered = get(space.name)
    except UnknownSpaceError:
        return False
    if registered is space:
        return True
    if hasattr(space, "spec"):
        return registered == space  # equal specs: the same space
    return type(registered) is type(space)


def is_space(space: Any, name: str) -> bool:
    """Whether ``space`` is the registered space ``name`` itself, not merely a space called that:
    code that uses data shipped for a space (NB201's tables, its trained generator, MobileNetV3's
    masks) must not apply it to a user's space of the same name."""
    return getattr(space, "name", None) == name and isinstance(space, SearchSpace) and _registered(space)


def same_space(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are one space: the same object, two spec spaces with equal specs,
    or two instances of one class-based space. A name alone is not enough: a user's spec named
    "nb201" is not NB201, and NB201's table cannot label it (every lookup would fail)."""
    if a is b:
        return True
    if type(a) is not type(b) or getattr(a, "name", None) != getattr(b, "name", None):
        return False
    from nagen.spaces.custom import WIRING_KEYS, CustomSpace

    if isinstance(a, CustomSpace):
        # what a table row means: ops and wiring, not the description or the network's build options
        sa, sb = a.spec, b.spec
        return all(sa.get(k) == sb.get(k) for k in ("ops", "num_nodes", *WIRING_KEYS))
    return True  # a class and its name fix a class-based space


def same_name_note(a: Any, b: Any) -> str:
    """What to add to a "table of space A, not B" message when A and B share a name (so the
    message does not read as a contradiction); "" otherwise."""
    same = getattr(a, "name", None) == getattr(b, "name", None)
    return " (another space of the same name: its ops or wiring differ)" if same else ""


def reference(space: SearchSpace) -> str | SearchSpace:
    """How to name ``space`` to another process (a labelling worker, a stored study): its name
    when the registry resolves that name to it, else the space itself (a user's unregistered
    space pickles as its spec, so a worker rebuilds it without the registration)."""
    return space.name if _registered(space) else space


def cache_key(space: SearchSpace) -> str:
    """A key for per-space caches in this process: name + a digest of the spec of a spec-defined
    space (two specs may share a name, a spec file may change, and a name may be registered again
    with ``overwrite=True`` when a notebook cell runs twice); name + class of a registered
    class-based space (its instances are interchangeable); else name + the instance."""
    if hasattr(space, "spec"):
        import hashlib
        import json

        return f"{space.name}@" + hashlib.sha1(json.dumps(space.spec, sort_keys=True).encode()).hexdigest()[:12]
    cls = f"{type(space).__module__}.{type(space).__qualname__}"
    if _registered(space):
        # the class object too: a class redefined under the same name is another space
        return f"{space.name}@{cls}:{id(type(space)):x}"
    # an unregistered class-based space: its instances may differ (constructor arguments)
    return f"{space.name}@{cls}#{id(space)}"


_files: dict[tuple[str, float], SearchSpace] = {}


def _from_file(path: str) -> SearchSpace:
    """The space of a JSON spec file, one instance per file version (identity checks between a
    table's space and the searched one then hold within a process)."""
    p = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(p):
        raise UnknownSpaceError(
            f"no space spec file {path!r}; a space is a registered name ({', '.join(registry.names())}) or a JSON spec file"
        )
    key = (p, os.path.getmtime(p))
    if key not in _files:
        _files[key] = from_spec(p)
    return _files[key]


def names() -> list[str]:
    """Names of all registered spaces, sorted."""
    return registry.names()


def from_spec(spec: dict[str, Any] | str) -> SearchSpace:
    """A user-defined DAG space from a plain spec (a dict or a JSON file path); see ``nagen.spaces.custom``."""
    from nagen.spaces.custom import CustomSpace

    return CustomSpace.from_spec(spec)
