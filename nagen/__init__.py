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
__all__ = ["ArchGraph", "NagenError", "generate", "search", "pareto", "Study", "load_study", "TransferTask", "spaces", "benchmarks", "predictors", "generators", "errors", "profile", "__version__"]

_LAZY = {
    "spaces", "benchmarks", "errors", "profile", "cli", "predictors", "generators", "api", "noise", "plot",
    "multiobjective", "study", "storage", "labellers", "executors", "transfer", "levels_bo", "constraints",
}
# public functions and classes; their modules are named differently so that importing a module
# never shadows the function of the same name on the package (``nagen.search`` stays callable)
_API = {
    "generate": "nagen.api",
    "search": "nagen.search_api",
    "pareto": "nagen.multiobjective",
    "Study": "nagen.study",
    "load_study": "nagen.study",
    "TransferTask": "nagen.transfer",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"nagen.{name}")
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'nagen' has no attribute {name!r}")
