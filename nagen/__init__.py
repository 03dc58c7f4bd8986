"""nagen: generative neural-architecture design.

The top-level package stays light: ``import nagen`` loads the core types only; submodules
(``nagen.spaces``, ``nagen.benchmarks``, ...) load on first attribute access.
"""

from __future__ import annotations

import importlib
from typing import Any

from nagen.errors import NagenError
from nagen.graph import ArchGraph

__version__ = "0.1.0"
__all__ = ["ArchGraph", "NagenError", "spaces", "benchmarks", "errors", "profile", "__version__"]

_LAZY = {"spaces", "benchmarks", "errors", "profile", "cli"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"nagen.{name}")
    raise AttributeError(f"module 'nagen' has no attribute {name!r}")
