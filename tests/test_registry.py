"""The space registry: lookup, listing, one-line registration, clear errors."""

from __future__ import annotations

import pytest

import nagen
import nagen.spaces
from nagen.errors import DuplicateRegistrationError, UnknownSpaceError
from nagen.registry import Registry


def test_builtin_spaces_listed() -> None:
    assert {"nb201", "nb101", "mbv3"} <= set(nagen.spaces.names())
    assert nagen.spaces.get("nb201") is nagen.spaces.get("nb201")
    sp = nagen.spaces.get("nb201")
    assert nagen.spaces.get(sp) is sp


def test_unknown_space_lists_choices() -> None:
    with pytest.raises(UnknownSpaceError, match=r"could not resolve search space 'nb9' among choices \{.*'nb201'"):
        nagen.spaces.get("nb9")
    with pytest.raises(KeyError):  # also a KeyError for generic callers
        nagen.spaces.get("nb9")


def test_registry_refuses_duplicates() -> None:
    r: Registry[int] = Registry("thing")
    r.add("a", 1)
    with pytest.raises(DuplicateRegistrationError, match="already registered"):
        r.add("a", 2)
    r.add("a", 3, overwrite=True)
    assert r.resolve("a") == 3 and r.names() == ["a"] and "a" in r
    r.remove("a")
    assert "a" not in r
    with pytest.raises(DuplicateRegistrationError, match="non-empty string"):
        r.add("", 1)


def test_builtin_names_are_refused_even_before_first_lookup() -> None:
    """Registering before discovery must not hide (or later clash with) a built-in entry."""
    calls = []
    r: Registry[int] = Registry("thing", discover=lambda: (calls.append(1), r.add("builtin", 1)))
    with pytest.raises(DuplicateRegistrationError, match="'builtin' is already registered"):
        r.add("builtin", 2)
    assert calls == [1] and r.resolve("builtin") == 1 and r.names() == ["builtin"]
    r.add("builtin", 3, overwrite=True)  # an explicit overwrite replaces it and discovery does not undo that
    assert r.resolve("builtin") == 3


def test_every_module_imports_first() -> None:
    """Importing any module before anything else of nagen works (a registration at import once
    triggered discovery of its half-imported siblings)."""
    import subprocess
    import sys

    code = """
import importlib, pkgutil, sys
import nagen
names = [m.name for m in pkgutil.walk_packages(nagen.__path__, "nagen.") if m.name != "nagen.__main__"]
bad = []
for name in names:
    for k in [k for k in sys.modules if k == "nagen" or k.startswith("nagen.")]:
        del sys.modules[k]
    try:
        importlib.import_module(name)
    except Exception as e:
        bad.append(f"{name}: {type(e).__name__}: {e}")
print(len(names)); print("\\n".join(bad))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert int(lines[0]) > 20 and lines[1:] == [], lines[1:]


def test_import_nagen_is_light() -> None:
    """``import nagen`` must not pull in torch, botorch, ray or torchgfn (checked in a fresh process)."""
    import subprocess
    import sys

    code = "import sys, nagen; print(sorted(m for m in ('torch', 'botorch', 'ray', 'gfn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
    assert nagen.ArchGraph is not None


def test_unknown_names_suggest_the_closest_and_odd_names_are_refused() -> None:
    with pytest.raises(UnknownSpaceError, match=r"among choices \{.*\}; did you mean 'nb201'\?"):
        nagen.spaces.get("NB201")
    with pytest.raises(UnknownSpaceError, match=r"did you mean 'nb201' or 'nb101'\?"):
        nagen.spaces.get("nb210")
    with pytest.raises(UnknownSpaceError) as e:
        nagen.spaces.get("zzzzzz")
    assert "did you mean" not in str(e.value)
    r: Registry[int] = Registry("thing")
    for bad in ("   ", "a\n", " a"):  # could never be looked up as typed
        with pytest.raises(DuplicateRegistrationError, match="without leading or trailing whitespace"):
            r.add(bad, 1)
    r.add("a b/c", 1)  # inner blanks and punctuation are fine
    assert r.resolve("a b/c") == 1
    assert ["a"] not in r  # unhashable: not registered, not a TypeError


def test_every_registered_name_resolves_to_a_class_of_its_protocol() -> None:
    """A helper placed between ``@register`` and its class once registered the helper as 'diffusion'."""
    import inspect

    import nagen.generators as G
    import nagen.predictors as P
    from nagen.generators.base import Generator
    from nagen.predictors.base import Predictor

    for registry, base in ((G, Generator), (P, Predictor)):
        for name in registry.registry.names():
            obj = registry.registry.resolve(name)
            assert inspect.isclass(obj) and issubclass(obj, base), (name, obj)
    assert isinstance(G.get("diffusion", "nb201"), Generator)
